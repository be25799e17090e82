import * as net from "net";

const reserved = new Set<number>();

/** A free loopback port, never handed out twice by this process. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = net.createServer();
      srv.once("error", reject);
      srv.listen(0, "127.0.0.1", () => {
        const p = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    if (!reserved.has(port)) {
      reserved.add(port);
      return port;
    }
  }
}

/** Resolves when `port` can be bound on 127.0.0.1 now; rejects with a message naming its role otherwise. */
export async function assertPortFree(port: number, role: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", (e: NodeJS.ErrnoException) =>
      reject(new Error(`port ${port} (${role}) is busy (${e.code}): stop what listens there or choose another --base-port`)),
    );
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve()));
  });
  reserved.add(port);
}
