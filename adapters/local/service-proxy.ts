/**
 * A local stand-in for a Kubernetes Service: one loopback port that forwards TCP to the
 * cluster's nodes that are ready (unsealed), as readiness probes keep sealed pods out of a
 * Service. TLS passes through untouched, so clients verify the nodes' own certificates.
 * The lab also uses it to cut the link between clusters (`cut()` / `heal()`).
 */
import * as net from "net";
import { freePort } from "./ports";

export interface Backend {
  port: number;
  /** Resolves true when the backend should receive traffic. */
  ready: () => Promise<boolean>;
}

export class ServiceProxy {
  private server?: net.Server;
  private readonly readyPorts = new Set<number>();
  private readonly sockets = new Set<net.Socket>();
  private timer?: NodeJS.Timeout;
  private next = 0;
  private isCut = false;

  private constructor(
    readonly port: number,
    private readonly backends: Backend[],
    private readonly probeMs: number,
  ) {}

  static async start(backends: Backend[], probeMs = 100, port?: number): Promise<ServiceProxy> {
    const proxy = new ServiceProxy(port ?? (await freePort()), backends, probeMs);
    await proxy.listen();
    return proxy;
  }

  get address(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  private async probe(): Promise<void> {
    await Promise.all(
      this.backends.map(async (b) => {
        const ok = await b.ready().catch(() => false);
        if (ok) this.readyPorts.add(b.port);
        else this.readyPorts.delete(b.port);
      }),
    );
  }

  private async listen(): Promise<void> {
    await this.probe();
    const loop = async () => {
      await this.probe();
      if (this.server) this.timer = setTimeout(loop, this.probeMs);
    };
    this.timer = setTimeout(loop, this.probeMs);
    this.server = net.createServer((client) => {
      const ready = [...this.readyPorts];
      if (this.isCut || ready.length === 0) {
        client.destroy();
        return;
      }
      const port = ready[this.next++ % ready.length];
      const upstream = net.connect(port, "127.0.0.1");
      this.sockets.add(client).add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on("error", drop).on("close", drop);
      upstream.on("error", drop).on("close", drop);
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once("error", reject);
      this.server!.listen(this.port, "127.0.0.1", () => resolve());
    });
  }

  /** Drops every connection and refuses new ones: a network partition. */
  cut(): void {
    this.isCut = true;
    for (const s of this.sockets) s.destroy();
  }

  heal(): void {
    this.isCut = false;
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    const srv = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (srv) await new Promise<void>((r) => srv.close(() => r()));
  }
}
