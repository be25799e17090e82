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
