/**
 * `kubectl port-forward` in-process: a listener on 127.0.0.1 (a free port) per pod; every
 * connection made to it opens its own port-forward stream to the pod through the API server
 * (client-node's PortForward, a WebSocket). So a pod deleted and recreated under the same
 * name is reached again by the next connection, and VaultClient, which opens one connection
 * per request, always talks to the pod that exists now.
 *
 * The Vault client sees a plain TLS server on 127.0.0.1 and verifies it against the pods' CA
 * and the name in their certificates, exactly as for any other address.
 */
import * as net from "net";
import { Writable } from "stream";
import type { PortForward } from "@kubernetes/client-node";
import { AccessDeniedError, VaultOpError, VaultUnreachableError } from "../../core/errors";
import { RequestOptions, VaultClient, VaultClientOptions, VaultResponse } from "../../core/vault-client";

/** What this module needs of the WebSocket client-node returns. */
interface StreamSocket {
  close(): void;
  on(event: "close", listener: () => void): unknown;
}

export class PodTunnel {
  private listening?: Promise<number>;
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly streams = new Set<StreamSocket>();
  /** Why the last connection could not reach the pod, for messages. */
  lastError?: string;
  /** The last failure was the API server refusing the port-forward (401/403), not a network problem. */
  lastDenied = false;

  constructor(
    private readonly forward: Pick<PortForward, "portForward">,
    readonly namespace: string,
    readonly pod: string,
    readonly port: number,
  ) {}

  /** What messages call the pod's API: not an address anything resolves, the pod and how it is reached. */
  get displayAddress(): string {
    return `https://${this.pod}.${this.namespace}.port-forward:${this.port}`;
  }

  /** The local port, opening the listener on first use. */
  localPort(): Promise<number> {
    if (!this.listening) {
      this.listening = new Promise<number>((resolve, reject) => {
        const server = net.createServer((socket) => this.tunnel(socket));
        server.once("error", (e) => {
          this.listening = undefined;
          reject(e);
        });
        server.listen(0, "127.0.0.1", () => {
          // A forgotten close() must not keep the process alive; open connections still do.
          server.unref();
          resolve((server.address() as net.AddressInfo).port);
        });
        this.server = server;
      });
    }
    return this.listening;
  }

  private tunnel(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on("close", () => this.sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    // The kubelet writes on the error channel why it could not connect to the pod's port.
    const errors = new Writable({
      write: (chunk: Buffer, _enc, done) => {
        const text = String(chunk).trim();
        if (text) {
          this.lastError = `the port-forward to pod ${this.namespace}/${this.pod} port ${this.port} failed: ${text}`;
          socket.destroy();
        }
        done();
      },
    });
    this.forward.portForward(this.namespace, this.pod, [this.port], socket, errors, socket).then(
      (ws) => {
        const stream = (typeof ws === "function" ? ws() : ws) as unknown as StreamSocket | null;
        if (!stream) return;
        this.streams.add(stream);
        stream.on("close", () => {
          this.streams.delete(stream);
          socket.end();
        });
        if (socket.destroyed) stream.close();
      },
      (e: Error) => {
        this.lastError =
          `the API server did not open a port-forward to pod ${this.namespace}/${this.pod}: ${e.message}` +
          (/\b403\b/.test(e.message)
            ? " (the kubeconfig's user needs create on pods/portforward)"
            : /\b404\b/.test(e.message)
              ? " (no such pod: is it being recreated?)"
              : "");
        this.lastDenied = /\b40[13]\b/.test(e.message);
        socket.destroy();
      },
    );
  }

  /** Closes the listener and every open connection; the next localPort() opens a new one. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.listening = undefined;
    for (const s of this.streams) s.close();
    for (const s of this.sockets) s.destroy();
    this.streams.clear();
    this.sockets.clear();
    if (server?.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The error of a request made through the tunnel, naming the pod instead of the local port. */
  explain(e: unknown, local: string): unknown {
    if (!(e instanceof VaultOpError)) return e;
    const host = new URL(local).host;
    e.message = e.message.split(local).join(this.displayAddress).split(host).join(`${this.pod}:${this.port} (through the port-forward)`);
    if ((e as { server?: string }).server === local) Object.assign(e, { server: this.displayAddress });
    if (e instanceof VaultUnreachableError && this.lastError) {
      // RBAC (or the credentials) refused the port-forward: say so, and let waits stop now.
      if (this.lastDenied) return new AccessDeniedError(this.displayAddress, e.call, this.lastError);
      e.message += ` (${this.lastError})`;
    }
    return e;
  }
}

/**
 * A VaultClient for one pod: its address names the pod; each request goes through the
 * pod's tunnel, opened on the first request (client() itself stays synchronous).
 */
export class ForwardedVaultClient extends VaultClient {
  private inner?: { port: number; client: VaultClient };

  /**
   * `diagnose`: asked when the pod does not answer; an error it returns (the pod cannot start,
   * and why) replaces the bare "unreachable".
   */
  constructor(
    private readonly tunnel: PodTunnel,
    private readonly base: Omit<VaultClientOptions, "address">,
    private readonly diagnose?: () => Promise<Error | undefined>,
  ) {
    super({ ...base, address: tunnel.displayAddress });
  }

  override withToken(token: string | undefined): VaultClient {
    return new ForwardedVaultClient(this.tunnel, { ...this.base, token }, this.diagnose);
  }

  override async request<T = unknown>(method: string, path: string, options: RequestOptions = {}): Promise<VaultResponse<T>> {
    const port = await this.tunnel.localPort();
    if (this.inner?.port !== port) this.inner = { port, client: new VaultClient({ ...this.base, address: `https://127.0.0.1:${port}` }) };
    const client = this.inner.client;
    this.tunnel.lastError = undefined;
    this.tunnel.lastDenied = false;
    try {
      return await client.request<T>(method, path, options);
    } catch (e) {
      const explained = this.tunnel.explain(e, client.address);
      if (explained instanceof VaultUnreachableError && this.diagnose) throw (await this.diagnose().catch(() => undefined)) ?? explained;
      throw explained;
    }
  }
}
