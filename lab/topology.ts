/**
 * The whole topology on one machine: vault-unlock (3 nodes, accepts only clients with a
 * certificate from the CA), vault (3 nodes), the helper (1 node), TLS everywhere from a
 * private CA, bootstrapped by the plan the stacks register (core/pair-plan.ts), through the
 * same providers (lab/bootstrap.ts), Shamir → transit migration of vault-unlock included.
 * Each cluster has a client-facing Service and a separate "link" Service that the peer's
 * seal uses, so the link between the clusters can be cut without blinding the prober.
 */
import * as fs from "fs";
import * as path from "path";
import { LocalCluster } from "../adapters/local/local-cluster";
import { LocalPki } from "../adapters/local/pki";
import { mkdirPrivate } from "../adapters/local/private-files";
import { ServiceProxy } from "../adapters/local/service-proxy";
import { assertPortFree } from "../adapters/local/ports";
import { SealSettings } from "../core/nodes";
import { Flavour } from "../core/render/server-config";
import { TransitSeal } from "../core/render/seal";
import { BootstrapState, SealTemplate, transitSeal } from "../core/steps/bootstrap";
import { VaultClient } from "../core/vault-client";
import { activeClient } from "../core/steps/node-state";
import { generateRoot } from "../core/steps/recovery-keys";
import { registerLocalCluster } from "../providers/node-access";
import { labPlan, runLabPlan, StepRecords } from "./bootstrap";

export interface TopologyOptions {
  /** Folder for certificates, configs, data and logs (created; removed by destroy). */
  dir: string;
  bin: string;
  flavour: Flavour;
  /** Period of the transit tokens (the lab uses short ones to prove renewal). */
  tokenPeriod?: string;
  /** How long a node waits at the peer gate before giving up. */
  gateMs?: number;
  log?: (msg: string) => void;
  onSave?: (state: BootstrapState, t: Topology) => Promise<void>;
  /** Fixed ports from here on (see portPlan); free ones are picked when absent. */
  basePort?: number;
  /** preStop delay of every node (the article's `sleep 6`; shorter here, the Service probes every 100 ms). */
  preStopMs?: number;
  /** Operators' PGP keys (base64), one per share: both clusters' recovery keys are rotated to them (the stacks' recoveryPgpKeys). */
  recoveryPgpKeys?: string[];
}

/** Which fixed port serves what, from `base`: stable addresses for a kept lab. */
export function portPlan(base: number) {
  const node = (i: number) => ({ api: base + 2 * i, cluster: base + 2 * i + 1 });
  return {
    "vault-unlock": [0, 1, 2].map(node),
    vault: [3, 4, 5].map(node),
    helper: [node(6)],
    services: { vault: base + 20, "vault-unlock": base + 21, linkToVault: base + 22, linkToVaultUnlock: base + 23 },
  };
}

/** Fails before anything starts when a planned port is taken, naming its role. */
export async function assertPlanFree(base: number): Promise<void> {
  const plan = portPlan(base);
  for (const cluster of ["vault-unlock", "vault", "helper"] as const) {
    for (const [i, p] of plan[cluster].entries()) {
      await assertPortFree(p.api, `${cluster}-${i} API`);
      await assertPortFree(p.cluster, `${cluster}-${i} cluster`);
    }
  }
  for (const [name, port] of Object.entries(plan.services)) await assertPortFree(port, `${name} Service`);
}

export type LabClusterName = "vault" | "vault-unlock" | "helper";

export class Topology {
  state: BootstrapState = {};
  /** The plan's finished steps (provider outputs), from which `state` is read. */
  records: StepRecords = {};
  readonly sealOfVault: SealTemplate;
  readonly sealOfVaultUnlock: SealTemplate;
  private readonly proxies: ServiceProxy[] = [];
  private readonly unregister: (() => void)[] = [];

  private constructor(
    readonly opts: TopologyOptions,
    readonly pki: LocalPki,
    readonly vaultUnlock: LocalCluster,
    readonly vault: LocalCluster,
    readonly helper: LocalCluster,
    /** What clients (the prober, the operator) use. */
    readonly vaultService: ServiceProxy,
    readonly vaultUnlockService: ServiceProxy,
    /** What the seals use: vault's seal reaches vault-unlock through linkToVaultUnlock and back. */
    readonly linkToVault: ServiceProxy,
    readonly linkToVaultUnlock: ServiceProxy,
  ) {
    this.proxies.push(vaultService, vaultUnlockService, linkToVault, linkToVaultUnlock);
    // The providers reach each cluster as { kind: "local", cluster: name }.
    for (const c of [vaultUnlock, vault, helper]) this.unregister.push(registerLocalCluster(c.name, c));
    const tls = { mountPath: "transit/", tlsCaCert: pki.caFile };
    this.sealOfVault = {
      ...tls,
      keyName: "autounseal",
      tlsClientCert: vault.clientCert.certFile,
      tlsClientKey: vault.clientCert.keyFile,
      tlsServerName: "vault-unlock",
    };
    this.sealOfVaultUnlock = {
      ...tls,
      keyName: "autounseal",
      tlsClientCert: vaultUnlock.clientCert.certFile,
      tlsClientKey: vaultUnlock.clientCert.keyFile,
      tlsServerName: "vault",
    };
  }

  /** Creates the clusters and Services (nodes not started yet). */
  static async create(opts: TopologyOptions): Promise<Topology> {
    const plan = opts.basePort ? portPlan(opts.basePort) : undefined;
    if (opts.basePort) await assertPlanFree(opts.basePort);
    mkdirPrivate(opts.dir);
    const pki = await LocalPki.create(path.join(opts.dir, "pki"), "vault-mutual-unseal lab CA");
    const peerGate = { timeoutMs: opts.gateMs ?? 60_000 };
    // OpenBao declares the audit device to stdout in its config, as VaultCluster renders it (the plan's audit step confirms it).
    const audit = { toStdout: opts.flavour === "openbao" };
    const common = { dir: opts.dir, bin: opts.bin, flavour: opts.flavour, pki, seal: { stanzas: [] }, preStopMs: opts.preStopMs, audit };
    const vaultUnlock = await LocalCluster.create({
      ...common,
      name: "vault-unlock",
      size: 3,
      requireClientCert: true,
      peerGate,
      ports: plan?.["vault-unlock"],
    });
    const vault = await LocalCluster.create({ ...common, name: "vault", size: 3, peerGate, ports: plan?.vault });
    const helper = await LocalCluster.create({ ...common, name: "helper", size: 1, requireClientCert: true, ports: plan?.helper });
    const sp = plan?.services;
    const [vs, vus, lv, lvu] = await Promise.all([
      vault.service(sp?.vault),
      vaultUnlock.service(sp?.["vault-unlock"]),
      vault.service(sp?.linkToVault),
      vaultUnlock.service(sp?.linkToVaultUnlock),
    ]);
    return new Topology(opts, pki, vaultUnlock, vault, helper, vs, vus, lv, lvu);
  }

  get clusters(): LocalCluster[] {
    return [this.vault, this.vaultUnlock, this.helper];
  }

  get helperAddress(): string {
    return this.helper.address(this.helper.nodeIds()[0]);
  }

  /** Runs the plan: the clusters start, the pair and the helper are bootstrapped step by step. */
  async bootstrap(): Promise<void> {
    const names = { vault: this.vault.name, vaultUnlock: this.vaultUnlock.name, helper: this.helper.name };
    const { sealOfVault: v, sealOfVaultUnlock: vu } = this;
    this.records = await runLabPlan(labPlan(names, { recoveryPgpKeys: this.opts.recoveryPgpKeys !== undefined }), {
      clusters: { vault: this.vault, vaultUnlock: this.vaultUnlock, helper: this.helper },
      sealTo: {
        vault: {
          address: this.linkToVaultUnlock.address,
          tlsCaCert: v.tlsCaCert,
          tlsClientCert: v.tlsClientCert,
          tlsClientKey: v.tlsClientKey,
          tlsServerName: v.tlsServerName,
        },
        vaultUnlock: {
          address: this.linkToVault.address,
          tlsCaCert: vu.tlsCaCert,
          tlsClientCert: vu.tlsClientCert,
          tlsClientKey: vu.tlsClientKey,
          tlsServerName: vu.tlsServerName,
        },
      },
      flavour: this.opts.flavour,
      tokenPeriod: this.opts.tokenPeriod,
      recoveryPgpKeys: this.opts.recoveryPgpKeys,
      records: this.records,
      log: this.opts.log,
      save: async (records) => {
        this.records = records;
        this.state = bootstrapState(records, names);
        await this.opts.onSave?.(this.state, this);
      },
    });
    this.state = bootstrapState(this.records, names);
    await this.breakGlass();
  }

  /** vault's usual seal settings: vault-unlock's key, through the link. */
  normalSeal(): SealSettings {
    return { stanzas: [transitSeal(this.linkToVaultUnlock.address, this.sealOfVault)], transitToken: this.state.linkToVault!.token };
  }

  /** vault's seal block pointing at the helper's copy of the same key. */
  emergencySeal(): TransitSeal {
    return transitSeal(this.helperAddress, { ...this.sealOfVault, tlsServerName: "helper" });
  }

  /**
   * Root tokens the lab made by break-glass once the bootstrap revoked the init's (the lab
   * plays the operators: writes its probe secret, rotates the key). Kept in this process only.
   */
  private adminTokens: Partial<Record<LabClusterName, string>> = {};

  private clusterNamed(cluster: LabClusterName): LocalCluster {
    return cluster === "vault" ? this.vault : cluster === "vault-unlock" ? this.vaultUnlock : this.helper;
  }

  private keysOf(cluster: LabClusterName): { keys: string[]; operatorToken: string } | undefined {
    const s = cluster === "vault" ? this.state.vault : cluster === "vault-unlock" ? this.state.vaultUnlock : this.state.helper;
    if (!s) return undefined;
    return { keys: "recoveryKeys" in s ? s.recoveryKeys : s.unsealKeys, operatorToken: s.operatorToken };
  }

  /**
   * Break-glass as the README tells operators: generate-root with the keys of the init (and,
   * on OpenBao, the operator token, which may run it). Not with recoveryPgpKeys: the init's
   * plaintext keys open nothing after the rotation, and the lab holds no operator's PGP key.
   */
  private async breakGlass(): Promise<void> {
    if (this.opts.recoveryPgpKeys) return;
    for (const c of ["vault", "vault-unlock", "helper"] as const) {
      const k = this.keysOf(c);
      if (!k || this.adminTokens[c]) continue;
      const client = await activeClient(this.clusterNamed(c), k.operatorToken);
      this.adminTokens[c] = await generateRoot(client, this.opts.flavour, k.keys);
    }
  }

  private adminToken(cluster: LabClusterName): string {
    const token = this.adminTokens[cluster];
    if (!token)
      throw new Error(
        `the lab has no admin token for ${cluster}: its root token is revoked at bootstrap, and break-glass ` +
          (this.opts.recoveryPgpKeys ? "needs the operators' decrypted recovery shares (recoveryPgpKeys)" : "has not run yet"),
      );
    return token;
  }

  /** An admin client through a cluster's client-facing Service (a break-glass root token). */
  admin(cluster: LabClusterName): VaultClient {
    return this.serviceClient(cluster, this.adminToken(cluster));
  }

  /** A client with the cluster's operator token (what the providers use) through its client-facing Service. */
  operator(cluster: LabClusterName): VaultClient {
    const k = this.keysOf(cluster);
    if (!k?.operatorToken) throw new Error(`${cluster} has no operator token yet: bootstrap first`);
    return this.serviceClient(cluster, k.operatorToken);
  }

  private serviceClient(cluster: LabClusterName, token: string): VaultClient {
    const address =
      cluster === "vault" ? this.vaultService.address : cluster === "vault-unlock" ? this.vaultUnlockService.address : this.helperAddress;
    const client = this.clusterNamed(cluster);
    return new VaultClient({
      address,
      token,
      timeoutMs: 5000,
      tls: { caFile: this.pki.caFile, serverName: cluster, certFile: client.clientCert.certFile, keyFile: client.clientCert.keyFile },
    });
  }

  /** An admin client for the active node: for reads that must see the latest writes. */
  async activeAdmin(cluster: "vault" | "vault-unlock"): Promise<VaultClient> {
    return activeClient(this.clusterNamed(cluster), this.adminToken(cluster));
  }

  /** Stops every process and Service; removes the folder unless `keepFiles`. */
  async destroy(keepFiles = false): Promise<void> {
    for (const u of this.unregister.splice(0)) u();
    await Promise.all(this.proxies.map((p) => p.stop()));
    await Promise.all(this.clusters.map((c) => (keepFiles ? c.stopAll("SIGKILL") : c.destroy())));
    if (!keepFiles) fs.rmSync(this.opts.dir, { recursive: true, force: true });
  }
}

/** The keys and tokens of the pair and the helper, read from the plan's records (what the stacks output). */
export function bootstrapState(r: StepRecords, n: { vault: string; vaultUnlock: string; helper: string }): BootstrapState {
  const o = (name: string) => r[name]?.outs;
  const link = (name: string) => (o(name) ? { token: o(name).token as string, accessor: o(name).accessor as string } : undefined);
  const s: BootstrapState = {};
  if (o(`${n.vaultUnlock}-init`))
    s.vaultUnlock = { unsealKeys: o(`${n.vaultUnlock}-init`).keys, operatorToken: o(`${n.vaultUnlock}-operator-token`)?.token };
  s.linkToVault = link(`seal-of-${n.vault}`);
  if (o(`${n.vault}-init`)) s.vault = { recoveryKeys: o(`${n.vault}-init`).keys, operatorToken: o(`${n.vault}-operator-token`)?.token };
  s.linkToVaultUnlock = link(`seal-of-${n.vaultUnlock}`);
  s.vaultUnlockMigrated = Boolean(o(`${n.vaultUnlock}-seal-migration`));
  if (o(`${n.helper}-init`)) {
    s.helper = {
      unsealKeys: o(`${n.helper}-init`).keys,
      operatorToken: o(`${n.helper}-operator-token`)?.token,
      link: link(`${n.helper}-emergency-link`),
      keyVersion: o(`${n.helper}-key-copy`)?.helperVersion,
    };
  }
  return s;
}
