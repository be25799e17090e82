/**
 * The local-process node adapter: a cluster of real `bao` (or `vault`) server processes on
 * 127.0.0.1, Raft storage, TLS from a private CA, each node in its own folder. Restart =
 * stop the process and start it with the applied seal settings, as a pod delete does on
 * Kubernetes. Every process is tracked and stopped by `destroy()` or, failing that, when
 * the Node process exits.
 */
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { NodeControl, SealSettings, sealSettingsDigest } from "../../core/nodes";
import { Flavour, renderServerConfig } from "../../core/render/server-config";
import { TRANSIT_TOKEN_ENV, TransitSeal } from "../../core/render/seal";
import { waitForTransitPeer } from "../../core/steps/peer-gate";
import { VaultClient } from "../../core/vault-client";
import { sleep } from "../../core/wait";
import { IssuedFiles, LocalPki } from "./pki";
import { freePort } from "./ports";
import { mkdirPrivate, openPrivateLog, writePrivateFile } from "./private-files";
import { ServiceProxy } from "./service-proxy";

const running = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

export interface LocalClusterOptions {
  /** Cluster name, used in messages, certificate names and folder names. */
  name: string;
  size: number;
  /** Folder that will hold one sub-folder per node. */
  dir: string;
  bin: string;
  flavour: Flavour;
  pki: LocalPki;
  /** The seal settings the nodes start with ({ stanzas: [] } for Shamir). */
  seal: SealSettings;
  /** Only accept clients with a certificate from the PKI (the unsealer's transit endpoint). */
  requireClientCert?: boolean;
  /** Hold a transit-sealed node before starting it until its peer answers (as the Kubernetes init container does). */
  peerGate?: { timeoutMs: number };
  /**
   * Like a pod's preStop sleep: before a node is stopped it leaves the Service (readiness
   * fails) and gets this long for the Service to notice. 0 by default (tests).
   */
  preStopMs?: number;
  /** OpenBao's audit settings in the rendered config (ServerConfig auditToStdout / allowApiAuditCreation). */
  audit?: { toStdout?: boolean; allowApiCreation?: boolean };
  /** Fixed ports per node (API, cluster); free ones are picked when absent. */
  ports?: { api: number; cluster: number }[];
}

/** Thrown when a server process exits instead of starting; carries the end of its log. */
export class NodeExitedError extends Error {
  constructor(
    readonly nodeId: string,
    readonly code: number | null,
    readonly logTail: string,
  ) {
    super(`${nodeId} exited with status ${code} instead of starting. End of its log:\n${logTail}`);
    this.name = "NodeExitedError";
  }
}

interface LocalNode {
  id: string;
  dir: string;
  apiPort: number;
  clusterPort: number;
  cert: IssuedFiles;
  proc?: ChildProcess;
  exited?: Promise<number | null>;
  /** Digest of the seal settings the running process was started with. */
  runningDigest?: string;
  /** Leaving the Service before a stop. */
  draining?: boolean;
}

export class LocalCluster implements NodeControl {
  private seal: SealSettings;
  /** Client certificate this cluster's nodes (and the operator) present to others. */
  readonly clientCert: IssuedFiles;

  private constructor(
    private readonly opts: LocalClusterOptions,
    private readonly nodes: LocalNode[],
    clientCert: IssuedFiles,
  ) {
    this.seal = opts.seal;
    this.clientCert = clientCert;
  }

  static async create(opts: LocalClusterOptions): Promise<LocalCluster> {
    const nodes: LocalNode[] = [];
    for (let i = 0; i < opts.size; i++) {
      const id = `${opts.name}-${i}`;
      const dir = path.join(opts.dir, id);
      // Raft data, the config and the log (with the audit trail) are the owner's only.
      mkdirPrivate(dir);
      mkdirPrivate(path.join(dir, "data"));
      const cert = await opts.pki.serverCert(id, [opts.name, id]);
      const fixed = opts.ports?.[i];
      nodes.push({ id, dir, apiPort: fixed?.api ?? (await freePort()), clusterPort: fixed?.cluster ?? (await freePort()), cert });
    }
    const clientCert = await opts.pki.clientCert(`${opts.name}-client`);
    return new LocalCluster(opts, nodes, clientCert);
  }

  get name(): string {
    return this.opts.name;
  }

  get caFile(): string {
    return this.opts.pki.caFile;
  }

  nodeIds(): string[] {
    return this.nodes.map((n) => n.id);
  }

  private node(id: string): LocalNode {
    const n = this.nodes.find((x) => x.id === id);
    if (!n) throw new Error(`${this.name} has no node ${id} (nodes: ${this.nodeIds().join(", ")})`);
    return n;
  }

  /** https address of a node's API. */
  address(id: string): string {
    return `https://127.0.0.1:${this.node(id).apiPort}`;
  }

  /** Addresses of every node, for a transit seal that may reach any of them (a load balancer on Kubernetes). */
  addresses(): string[] {
    return this.nodes.map((n) => this.address(n.id));
  }

  client(id: string, token?: string): VaultClient {
    return new VaultClient({
      address: this.address(id),
      token,
      timeoutMs: 5000,
      tls: { caFile: this.caFile, serverName: this.name, certFile: this.clientCert.certFile, keyFile: this.clientCert.keyFile },
    });
  }

  async appliedSeal(): Promise<SealSettings> {
    return this.seal;
  }

  async applySeal(seal: SealSettings): Promise<void> {
    this.seal = seal;
  }

  async runningSealDigest(id: string): Promise<string | undefined> {
    return this.isRunning(id) ? this.node(id).runningDigest : undefined;
  }

  isRunning(id: string): boolean {
    const p = this.node(id).proc;
    return p !== undefined && p.exitCode === null && p.signalCode === null;
  }

  pid(id: string): number | undefined {
    return this.isRunning(id) ? this.node(id).proc?.pid : undefined;
  }

  /** The config file a node would start with now (the applied seal settings). */
  renderConfig(id: string): string {
    const n = this.node(id);
    return renderServerConfig({
      flavour: this.opts.flavour,
      listener: {
        address: `127.0.0.1:${n.apiPort}`,
        clusterAddress: `127.0.0.1:${n.clusterPort}`,
        tlsCertFile: n.cert.certFile,
        tlsKeyFile: n.cert.keyFile,
        tlsClientCaFile: this.opts.requireClientCert ? this.caFile : undefined,
        requireClientCert: this.opts.requireClientCert,
      },
      apiAddr: `https://127.0.0.1:${n.apiPort}`,
      clusterAddr: `https://127.0.0.1:${n.clusterPort}`,
      storage: {
        type: "raft",
        path: path.join(n.dir, "data"),
        nodeId: n.id,
        retryJoin: this.nodes
          .filter((o) => o.id !== n.id)
          .map((o) => ({
            leaderApiAddr: `https://127.0.0.1:${o.apiPort}`,
            leaderCaCertFile: this.caFile,
            leaderClientCertFile: this.opts.requireClientCert ? this.clientCert.certFile : undefined,
            leaderClientKeyFile: this.opts.requireClientCert ? this.clientCert.keyFile : undefined,
            leaderTlsServerName: this.name,
          })),
      },
      seals: this.seal.stanzas,
      disableMlock: this.opts.flavour === "vault" ? true : undefined,
      logLevel: "info",
      auditToStdout: this.opts.audit?.toStdout,
      allowApiAuditCreation: this.opts.audit?.allowApiCreation,
    });
  }

  /** Starts a stopped node with the applied seal settings; resolves once its API answers. */
  async start(id: string, opts: { skipPeerGate?: boolean; gateTimeoutMs?: number } = {}): Promise<void> {
    const n = this.node(id);
    if (this.isRunning(id)) return;
    const seal = this.seal;
    const transit = seal.stanzas.find((s) => !s.disabled) as TransitSeal | undefined;
    if (transit && this.opts.peerGate && !opts.skipPeerGate) {
      await waitForTransitPeer(transit, seal.transitToken, { timeoutMs: opts.gateTimeoutMs ?? this.opts.peerGate.timeoutMs });
    }
    const configFile = path.join(n.dir, "config.hcl");
    writePrivateFile(configFile, this.renderConfig(id));
    const logFile = path.join(n.dir, "server.log");
    const log = openPrivateLog(logFile);
    fs.writeSync(log, `\n==== start ${new Date().toISOString()} ====\n`);
    // A clean environment: nothing of the caller's VAULT_*/BAO_* settings leaks in.
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: n.dir };
    if (seal.transitToken) env[TRANSIT_TOKEN_ENV] = seal.transitToken;
    Object.assign(env, seal.tokenEnv ?? {});
    const proc = spawn(this.opts.bin, ["server", `-config=${configFile}`], { env, stdio: ["ignore", log, log] });
    fs.closeSync(log);
    running.add(proc);
    n.proc = proc;
    n.runningDigest = sealSettingsDigest(seal);
    n.exited = new Promise((resolve) =>
      proc.once("exit", (code) => {
        running.delete(proc);
        resolve(code);
      }),
    );
    await this.waitApi(n, logFile);
  }

  private async waitApi(n: LocalNode, logFile: string): Promise<void> {
    const client = this.client(n.id);
    // Generous: on a loaded 2-core machine a starting server can take many seconds.
    const deadline = Date.now() + 90_000;
    for (;;) {
      const p = n.proc!;
      if (p.exitCode !== null || p.signalCode !== null) {
        throw new NodeExitedError(n.id, p.exitCode, this.logTail(logFile));
      }
      try {
        await client.sealStatus();
        return;
      } catch {
        if (Date.now() > deadline)
          throw new Error(`${n.id} did not answer on ${this.address(n.id)} within 90 s. End of its log:\n${this.logTail(logFile)}`);
        await sleep(50);
      }
    }
  }

  /** The last lines of a node's log, for error messages. */
  logTail(fileOrId: string, lines = 15): string {
    const file = fs.existsSync(fileOrId) ? fileOrId : path.join(this.node(fileOrId).dir, "server.log");
    try {
      return fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
      return "(no log)";
    }
  }

  /** Stops a node: SIGTERM (graceful: an active node steps down), SIGKILL after 30 s. */
  async stop(id: string, signal: "SIGTERM" | "SIGKILL" = "SIGTERM"): Promise<void> {
    const n = this.node(id);
    if (!n.proc || !this.isRunning(id)) return;
    if (signal === "SIGTERM") await this.drain(id);
    n.proc.kill(signal);
    // A stepped-down active node can take ~10 s to exit (its HA loop sleeps before it notices).
    const timer = setTimeout(() => n.proc?.kill("SIGKILL"), 30_000);
    await n.exited;
    clearTimeout(timer);
    n.draining = false;
  }

  /** Leaves the Service (readiness fails) and gives it preStopMs to notice. */
  async drain(id: string): Promise<void> {
    const n = this.node(id);
    if (n.draining || !this.opts.preStopMs) return;
    n.draining = true;
    await sleep(this.opts.preStopMs);
  }

  /** Whether the node is in its Service's rotation as far as draining goes (running and unsealed decide the rest). */
  isServing(id: string): boolean {
    return !this.node(id).draining;
  }

  /** Back in the Service (readiness passes again). */
  async undrain(id: string): Promise<void> {
    this.node(id).draining = false;
  }

  /** Stop, then start with the applied settings. A config that does not render leaves the node running. */
  async restart(id: string): Promise<void> {
    this.renderConfig(id);
    await this.stop(id);
    await this.start(id);
  }

  async startAll(opts: { skipPeerGate?: boolean; gateTimeoutMs?: number } = {}): Promise<void> {
    await Promise.all(this.nodeIds().map((id) => this.start(id, opts)));
  }

  async stopAll(signal: "SIGTERM" | "SIGKILL" = "SIGTERM"): Promise<void> {
    await Promise.all(this.nodeIds().map((id) => this.stop(id, signal)));
  }

  /**
   * A Service in front of the cluster: one address that reaches an unsealed node, as the
   * transit seal of the peer reaches this cluster on Kubernetes. Stop it with `stop()`.
   */
  async service(port?: number): Promise<ServiceProxy> {
    return ServiceProxy.start(
      this.nodes.map((n) => ({
        port: n.apiPort,
        ready: async () => this.isRunning(n.id) && this.isServing(n.id) && !(await this.client(n.id).health()).sealed,
      })),
      100,
      port,
    );
  }

  /** The init record's file: in the first node's folder (where init runs), 0600, removed with the cluster by destroy(). */
  private get initRecordFile(): string {
    return path.join(this.nodes[0].dir, "init-record.json");
  }

  initRecordLocation(): string {
    return `file ${this.initRecordFile}`;
  }

  async saveInitRecord(record: string): Promise<void> {
    // Written aside, then renamed: a crash mid-write never leaves half a record.
    const aside = `${this.initRecordFile}.new`;
    writePrivateFile(aside, record);
    fs.renameSync(aside, this.initRecordFile);
  }

  async loadInitRecord(): Promise<string | undefined> {
    try {
      return fs.readFileSync(this.initRecordFile, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
  }

  async forgetInitRecord(): Promise<void> {
    fs.rmSync(this.initRecordFile, { force: true });
  }

  /** Stops every process and removes the nodes' folders. */
  async destroy(): Promise<void> {
    await this.stopAll("SIGKILL");
    for (const n of this.nodes) fs.rmSync(n.dir, { recursive: true, force: true });
  }
}
