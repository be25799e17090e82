/**
 * The benchmark's topology: the same as test/support/mutual.ts (vault-unlock and vault, 3
 * Raft nodes each, the helper, a Service-like proxy in front of each cluster, bootstrapped
 * by the core), with the bootstrap's log lines timestamped so phases can be timed.
 *
 * Every scratch folder, process and proxy is tracked from the moment it exists, so a run
 * that fails (or is interrupted) half-way through can still be torn down: `destroyAll()`.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { performance } from "perf_hooks";
import { LocalCluster, LocalClusterOptions } from "../adapters/local/local-cluster";
import { LocalPki } from "../adapters/local/pki";
import { ServiceProxy } from "../adapters/local/service-proxy";
import { bootstrapMutualUnseal, SealTemplate } from "../core/steps/bootstrap";

export interface ServerBinary {
  path: string;
  flavour: "openbao" | "vault";
}

/** One line the bootstrap logged, at performance.now() time. */
export interface LogLine {
  atMs: number;
  msg: string;
}

const live = new Set<Scratch>();

/** A temp folder with a private CA, and the clusters and proxies started in it. */
export class Scratch {
  private readonly clusters: LocalCluster[] = [];
  private readonly proxies: ServiceProxy[] = [];

  private constructor(readonly dir: string, readonly pki: LocalPki, readonly bin: ServerBinary) {}

  static async create(bin: ServerBinary): Promise<Scratch> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vmu-bench-"));
    try {
      const s = new Scratch(dir, await LocalPki.create(path.join(dir, "pki")), bin);
      live.add(s);
      return s;
    } catch (e) {
      fs.rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }

  async cluster(opts: Omit<LocalClusterOptions, "dir" | "bin" | "flavour" | "pki">): Promise<LocalCluster> {
    const c = await LocalCluster.create({ ...opts, dir: this.dir, bin: this.bin.path, flavour: this.bin.flavour, pki: this.pki });
    this.clusters.push(c);
    return c;
  }

  async service(cluster: LocalCluster): Promise<ServiceProxy> {
    const p = await cluster.service();
    this.proxies.push(p);
    return p;
  }

  /** Stops every proxy and server process started here (SIGKILL) and removes the folder. Idempotent. */
  async destroy(): Promise<void> {
    if (!live.delete(this)) return;
    await Promise.allSettled(this.proxies.map((p) => p.stop()));
    await Promise.allSettled(this.clusters.map((c) => c.destroy()));
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Tears down every scratch still alive (failure or Ctrl-C). */
export async function destroyAll(): Promise<void> {
  await Promise.allSettled([...live].map((s) => s.destroy()));
}

export interface Topology {
  scratch: Scratch;
  vaultUnlock: LocalCluster;
  vault: LocalCluster;
  helper: LocalCluster;
  vaultUnlockService: ServiceProxy;
  vaultService: ServiceProxy;
  /** The bootstrap's log, timestamped. Status messages only: no keys or tokens. */
  log: LogLine[];
  bootstrapStartMs: number;
  bootstrapEndMs: number;
}

/** Builds and bootstraps the whole topology in `scratch`. The caller destroys the scratch. */
export async function buildTopology(scratch: Scratch, onLog?: (line: LogLine) => void): Promise<Topology> {
  const peerGate = { timeoutMs: 30_000 };
  const vaultUnlock = await scratch.cluster({ name: "vault-unlock", size: 3, seal: { stanzas: [] }, requireClientCert: true, peerGate });
  const vault = await scratch.cluster({ name: "vault", size: 3, seal: { stanzas: [] }, peerGate });
  const helper = await scratch.cluster({ name: "helper", size: 1, seal: { stanzas: [] }, requireClientCert: true });
  await Promise.all([vaultUnlock.startAll(), helper.startAll()]);
  const vaultUnlockService = await scratch.service(vaultUnlock);
  const vaultService = await scratch.service(vault);

  const sealOfVault: SealTemplate = {
    keyName: "autounseal", mountPath: "transit/", tlsCaCert: scratch.pki.caFile,
    tlsClientCert: vault.clientCert.certFile, tlsClientKey: vault.clientCert.keyFile, tlsServerName: "vault-unlock",
  };
  const sealOfVaultUnlock: SealTemplate = {
    keyName: "autounseal", mountPath: "transit/", tlsCaCert: scratch.pki.caFile,
    tlsClientCert: vaultUnlock.clientCert.certFile, tlsClientKey: vaultUnlock.clientCert.keyFile, tlsServerName: "vault",
  };
  const log: LogLine[] = [];
  const bootstrapStartMs = performance.now();
  // The returned state (keys, tokens) is deliberately dropped: the benchmark needs none of it.
  await bootstrapMutualUnseal({
    vaultUnlock, vault,
    vaultUnlockAddress: vaultUnlockService.address, vaultAddress: vaultService.address,
    sealOfVault, sealOfVaultUnlock,
    helper: { client: helper.client(helper.nodeIds()[0]), address: helper.address(helper.nodeIds()[0]) },
    log: (msg) => {
      const line = { atMs: performance.now(), msg };
      log.push(line);
      onLog?.(line);
    },
  });
  const bootstrapEndMs = performance.now();
  return { scratch, vaultUnlock, vault, helper, vaultUnlockService, vaultService, log, bootstrapStartMs, bootstrapEndMs };
}
