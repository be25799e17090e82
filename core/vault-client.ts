/**
 * A small typed client for the part of the Vault HTTP API we use (OpenBao speaks the same).
 * Built on Node's https module so that TLS is exactly what the caller configures: a CA
 * bundle, a client certificate and a server name. Verification is never switched off.
 */
import * as fs from "fs";
import * as http from "http";
import * as https from "https";
import { requestSignal } from "./abort";
import { classified, RequestAbortedError, VaultApiError, VaultTlsError, VaultUnreachableError } from "./errors";

export interface TlsOptions {
  /** PEM file of the CA that issued the server's certificate. */
  caFile?: string;
  /** PEM text of that CA, when there is no file (wins over caFile). */
  caPem?: string;
  /** Client certificate and key (PEM files), for servers that require one. */
  certFile?: string;
  keyFile?: string;
  certPem?: string;
  keyPem?: string;
  /** Name to verify the server's certificate against, when it differs from the address host. */
  serverName?: string;
}

export interface VaultClientOptions {
  /** e.g. https://127.0.0.1:8200 */
  address: string;
  tls?: TlsOptions;
  token?: string;
  /** Per-request timeout. */
  timeoutMs?: number;
  /**
   * Aborts every request of this client, in flight or later (RequestAbortedError). Requests
   * also honour the signal of the operation they run in (withAbortSignal, core/abort.ts).
   */
  signal?: AbortSignal;
}

export interface SealStatus {
  type: string;
  initialized: boolean;
  sealed: boolean;
  t: number;
  n: number;
  progress: number;
  migration: boolean;
  recovery_seal: boolean;
  version?: string;
  cluster_name?: string;
}

export interface HealthStatus {
  initialized: boolean;
  sealed: boolean;
  standby: boolean;
  version?: string;
}

export interface LeaderStatus {
  ha_enabled: boolean;
  is_self: boolean;
  leader_address: string;
}

export interface RequestOptions {
  body?: unknown;
  /** Overrides the client's token for this call. */
  token?: string;
  /** Statuses that are answers rather than errors (e.g. health's 429/503). */
  okStatuses?: number[];
  /** Overrides the client's timeout (init and migrations can take longer than a read). */
  timeoutMs?: number;
}

export interface VaultResponse<T> {
  status: number;
  body: T;
}

const TLS_TRUST_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_SIGNATURE_FAILURE",
]);
const UNREACHABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EPIPE",
]);

/** The body of an answer, whether the server wraps it in `data` (OpenBao's logical paths) or not. */
export const bodyOf = <T>(b: T & { data?: T }): T => b.data ?? b;

export class VaultClient {
  readonly address: string;
  private readonly url: URL;
  private readonly agent: https.Agent | http.Agent;
  private readonly timeoutMs: number;

  constructor(private readonly opts: VaultClientOptions) {
    this.address = opts.address.replace(/\/+$/, "");
    this.url = new URL(this.address);
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.agent = this.url.protocol === "https:" ? new https.Agent(this.agentOptions()) : new http.Agent();
  }

  /** The same server and TLS settings with another token. */
  withToken(token: string | undefined): VaultClient {
    return new VaultClient({ ...this.opts, token });
  }

  get token(): string | undefined {
    return this.opts.token;
  }

  get tls(): TlsOptions | undefined {
    return this.opts.tls;
  }

  private agentOptions(): https.AgentOptions {
    const tls = this.opts.tls ?? {};
    const read = (file: string | undefined, what: string): string | undefined => {
      if (!file) return undefined;
      try {
        return fs.readFileSync(file, "utf8");
      } catch (e) {
        throw new VaultTlsError(
          this.address,
          "reading TLS files",
          "ENOENT",
          `cannot read the ${what} file ${file}: ${(e as Error).message}`,
        );
      }
    };
    return {
      ca: tls.caPem ?? read(tls.caFile, "CA"),
      cert: tls.certPem ?? read(tls.certFile, "client certificate"),
      key: tls.keyPem ?? read(tls.keyFile, "client key"),
      servername: tls.serverName,
      rejectUnauthorized: true,
      // One connection per call keeps the behaviour of a restarted server predictable.
      keepAlive: false,
    };
  }

  /** Sends one request; resolves for 2xx (and okStatuses), throws a typed error otherwise. */
  async request<T = unknown>(method: string, path: string, options: RequestOptions = {}): Promise<VaultResponse<T>> {
    const call = `${method} /v1/${path}`;
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const token = options.token ?? this.opts.token;
    const headers: Record<string, string> = { Accept: "application/json" };
    if (token) headers["X-Vault-Token"] = token;
    if (payload !== undefined) {
      headers["Content-Type"] = "application/json";
      headers["Content-Length"] = String(Buffer.byteLength(payload));
    }
    const lib = this.url.protocol === "https:" ? https : http;
    const target = new URL(`/v1/${path}`, this.url);
    const signal = requestSignal(this.opts.signal);
    const aborted = () => {
      const reason: unknown = signal?.reason;
      return new RequestAbortedError(this.address, call, reason instanceof Error ? reason.message : String(reason));
    };
    if (signal?.aborted) throw aborted();

    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const timeout = options.timeoutMs ?? this.timeoutMs;
      const req = lib.request(target, { method, headers, agent: this.agent, timeout }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", (e) => reject(this.translate(call, e)));
      });
      // Aborted: the socket is destroyed (the server sees the connection end) and the call fails at once.
      const onAbort = () => {
        reject(aborted());
        req.destroy();
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      req.on("close", () => signal?.removeEventListener("abort", onAbort));
      req.on("timeout", () => req.destroy(Object.assign(new Error(`no answer within ${timeout} ms`), { code: "TIMEOUT" })));
      req.on("error", (e) => reject(signal?.aborted ? aborted() : this.translate(call, e)));
      if (payload !== undefined) req.write(payload);
      req.end();
    });

    let body: unknown = undefined;
    if (text.length > 0) {
      try {
        body = JSON.parse(text);
      } catch {
        body = { raw: text };
      }
    }
    const ok = (status >= 200 && status < 300) || (options.okStatuses ?? []).includes(status);
    if (!ok) {
      const errors = Array.isArray((body as { errors?: unknown })?.errors) ? (body as { errors: string[] }).errors : [text.slice(0, 300)];
      // Classified once, here: a refusal that says a token is gone is a TokenGoneError wherever it is caught.
      throw classified(new VaultApiError(this.address, call, status, errors));
    }
    return { status, body: body as T };
  }

  /** Maps socket and TLS failures to errors that say which file or server to check. */
  private translate(call: string, e: Error & { code?: string }): Error {
    const code = e.code ?? "";
    const tls = this.opts.tls ?? {};
    const caSource = tls.caPem
      ? "the CA PEM given to the client"
      : tls.caFile
        ? `the CA file ${tls.caFile}`
        : "the system CA store (no CA file was given)";
    if (TLS_TRUST_CODES.has(code)) {
      return new VaultTlsError(
        this.address,
        call,
        code,
        `the server's certificate is not signed by a CA we trust: ${caSource} does not contain the CA ` +
          `that issued it. Check that file (for a transit seal: tls_ca_cert) holds the issuing CA.`,
      );
    }
    if (code === "ERR_TLS_CERT_ALTNAME_INVALID") {
      return new VaultTlsError(
        this.address,
        call,
        code,
        `the server's certificate does not name "${tls.serverName ?? this.url.hostname}": set the server ` +
          `name (tls_server_name) to a name in its certificate, or add that name to the certificate's SANs. ${e.message}`,
      );
    }
    if (code === "CERT_HAS_EXPIRED" || code === "CERT_NOT_YET_VALID") {
      return new VaultTlsError(this.address, call, code, `the server's certificate is outside its validity period: renew it.`);
    }
    if (/ALERT_CERTIFICATE_REQUIRED|ALERT_BAD_CERTIFICATE|ALERT_UNKNOWN_CA|ALERT_HANDSHAKE_FAILURE/.test(code)) {
      return new VaultTlsError(
        this.address,
        call,
        code,
        tls.certFile || tls.certPem
          ? `the server refused our client certificate (${tls.certFile ?? "PEM"}): it must be issued by the CA in the server's tls_client_ca_file.`
          : `the server requires a client certificate: give one (certFile/keyFile; for a transit seal tls_client_cert/tls_client_key).`,
      );
    }
    if (UNREACHABLE_CODES.has(code)) {
      return new VaultUnreachableError(
        this.address,
        call,
        code,
        `check that the server is running and listening on ${this.url.host}, and that nothing (firewall, NetworkPolicy) blocks the way.`,
      );
    }
    if (code === "TIMEOUT") {
      return new VaultUnreachableError(
        this.address,
        call,
        code,
        `${e.message}: the server accepted the connection but did not answer; it may be overloaded or stuck.`,
      );
    }
    return new VaultUnreachableError(this.address, call, code || "ERROR", e.message);
  }

  read<T = unknown>(path: string): Promise<VaultResponse<T>> {
    return this.request<T>("GET", path);
  }

  write<T = unknown>(path: string, body?: unknown): Promise<VaultResponse<T>> {
    return this.request<T>("POST", path, { body: body ?? {} });
  }

  async sealStatus(): Promise<SealStatus> {
    return (await this.request<SealStatus>("GET", "sys/seal-status")).body;
  }

  /** Health without error statuses: every state is an answer. */
  async health(): Promise<HealthStatus> {
    const res = await this.request<HealthStatus>("GET", "sys/health", { okStatuses: [429, 472, 473, 501, 503] });
    return res.body;
  }

  async leader(): Promise<LeaderStatus> {
    return (await this.request<LeaderStatus>("GET", "sys/leader")).body;
  }
}
