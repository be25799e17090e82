/**
 * How the core reaches and restarts the nodes of one cluster. Implemented by the
 * local-process adapter (tests, lab) and the Kubernetes adapter (port-forward, pod delete).
 */
import { createHash } from "crypto";
import { SealStanza } from "./render/seal";
import { VaultClient } from "./vault-client";

/** The seal part of a cluster's config: what a (re)started node will run with. */
export interface SealSettings {
  stanzas: SealStanza[];
  /** Token of the enabled transit stanza. Goes to VAULT_TRANSIT_SEAL_TOKEN (a Secret on Kubernetes), never into a file. */
  transitToken?: string;
  /** Tokens for seal blocks with `tokenEnv`, by env var name (Secrets on Kubernetes). */
  tokenEnv?: Record<string, string>;
}

export interface NodeControl {
  /** Cluster name for messages, e.g. "vault-unlock". */
  readonly name: string;
  nodeIds(): string[];
  /** A client for one node's API; `token` defaults to none. */
  client(nodeId: string, token?: string): VaultClient;
  /** The seal settings that (re)started nodes will run with. */
  appliedSeal(): Promise<SealSettings>;
  /** Makes `seal` the settings of future (re)starts (a ConfigMap and Secret on Kubernetes). */
  applySeal(seal: SealSettings): Promise<void>;
  /** Digest (sealSettingsDigest) of the settings the node's running process was started with; undefined when it is not running. */
  runningSealDigest(nodeId: string): Promise<string | undefined>;
  /** Stops the node and starts it with the applied settings; resolves once its API answers. */
  restart(nodeId: string): Promise<void>;
  /**
   * Optional: take the node out of client traffic before it steps down and is restarted,
   * so clients meet only standbys while leadership moves (a preStop on Kubernetes does the
   * same for the stop itself). Undone by the node's restart.
   */
  drain?(nodeId: string): Promise<void>;
  /** Puts a drained node back into client traffic: when its step-down failed and it stays active. */
  undrain?(nodeId: string): Promise<void>;
  /**
   * The init record (core/steps/init.ts): the init's answer (keys, root token), kept where
   * only the deployer can read it (a Kubernetes Secret, a 0600 file) from the moment sys/init
   * answers until the answer is known to be in the Pulumi checkpoint. Required, so no adapter
   * silently brings back the window in which a crash loses the keys for good.
   * `saveInitRecord` creates or replaces it; its text is secret and never logged.
   */
  saveInitRecord(record: string): Promise<void>;
  /** The record's text; undefined when there is none. */
  loadInitRecord(): Promise<string | undefined>;
  /** Deletes the record; nothing to do when there is none. */
  forgetInitRecord(): Promise<void>;
  /** Where the record lives, for messages (e.g. "Secret vault/vault-init-record"). */
  initRecordLocation(): string;
}

/** A digest of seal settings (key order ignored), to tell which nodes run them without keeping the token around. */
export function sealSettingsDigest(s: SealSettings): string {
  const canon = (o: object) =>
    JSON.stringify(
      Object.keys(o)
        .sort()
        .reduce((acc, k) => ({ ...acc, [k]: (o as Record<string, unknown>)[k] }), {}),
    );
  return createHash("sha256")
    .update(JSON.stringify({ stanzas: s.stanzas.map(canon), token: s.transitToken ?? "", tokenEnv: canon(s.tokenEnv ?? {}) }))
    .digest("hex");
}

/** True when the node runs the cluster's applied seal settings. */
export async function isUpToDate(cluster: NodeControl, nodeId: string): Promise<boolean> {
  return (await cluster.runningSealDigest(nodeId)) === sealSettingsDigest(await cluster.appliedSeal());
}
