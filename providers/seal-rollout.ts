/**
 * SealRollout: restarts a cluster's pods, one by one, onto the seal ConfigMap and token
 * Secret the Pulumi program declares for it (TransitUnsealLink with `bornSealed`), whenever
 * their content changes. This is the emergency switch: `vault`'s seal re-pointed at the
 * helper (or back) is a ConfigMap/Secret change plus this rolling restart.
 *
 * - The StatefulSet uses OnDelete, so a changed ConfigMap reaches a pod only when it is
 *   restarted; this resource does that through the node adapter (pod delete, wait for the
 *   replacement), standbys first, the active last after a step-down. With no active node
 *   (the deadlock) every pod is restarted at once (the core's rollingRestart).
 * - `sealDigest` (sealSettingsDigest of the declared settings) is what changes: create does
 *   nothing (the pods were born on these settings: the stack creates the seal objects before
 *   the StatefulSet), update restarts every pod after `graceSeconds` (the kubelet's delay in
 *   seeing a changed ConfigMap or Secret). A run stopped half-way restarts every pod again
 *   next time: more restarts, never a pod left on stale settings.
 * - Same key and mount, other address or token: this is no seal migration (design.md §3).
 *   A change of key is a migration: use SealMigration.
 */
import * as pulumi from "@pulumi/pulumi";
import { rollingRestart } from "../core/steps/rollout";
import { sleep } from "../core/wait";
import { clusterIdentity, NodeAccess, NodeAccessArgs, nodeAccessProblems, withNodes } from "./node-access";
import { ProviderOps, trampoline } from "./project-require";
import { changedKeys, checked, checkVersion, Failures, requiredString, wholeNumber, withSecretOutputs } from "./provider-inputs";

export const SEAL_ROLLOUT_VERSION = 1;

export interface SealRolloutArgs {
  nodes: pulumi.Input<NodeAccessArgs>;
  /** sealSettingsDigest of the seal ConfigMap/Secret content the pods must run. */
  sealDigest: pulumi.Input<string>;
  /** Root (or sudo) token of the cluster, for the step-down of the active node. */
  rootToken: pulumi.Input<string>;
  /** Seconds to wait after the change before the first restart; default 5. */
  graceSeconds?: pulumi.Input<number>;
  /** How long each node may take to unseal again; default 120 s. */
  timeoutMs?: pulumi.Input<number>;
}

export interface SealRolloutInputs {
  version?: number;
  nodes: NodeAccess;
  sealDigest: string;
  rootToken: string;
  graceSeconds?: number;
  timeoutMs?: number;
}

export interface SealRolloutOutputs extends SealRolloutInputs {
  /** The digest the pods were last restarted onto (or born with). */
  rolledDigest: string;
}

const INPUT_KEYS = ["version", "nodes", "sealDigest", "rootToken", "graceSeconds", "timeoutMs"] as const;

async function check(_olds: Partial<SealRolloutInputs>, news: SealRolloutInputs): Promise<pulumi.dynamic.CheckResult<SealRolloutInputs>> {
  const f = new Failures();
  const n = news as unknown as Record<string, unknown>;
  checkVersion(news, SEAL_ROLLOUT_VERSION, f);
  nodeAccessProblems(news.nodes, "nodes", f);
  f.field(n, "sealDigest", "sealDigest", requiredString);
  f.field(n, "rootToken", "rootToken", (v) =>
    requiredString(v) ? "must be the cluster's root (or sudo) token: the rollout steps the active node down" : undefined,
  );
  f.field(n, "graceSeconds", "graceSeconds", (v) => (v === undefined ? undefined : wholeNumber(0, 300)(v)));
  f.field(n, "timeoutMs", "timeoutMs", (v) => (v === undefined ? undefined : wholeNumber(1000)(v)));
  return checked(news, f);
}

async function diff(_id: string, olds: SealRolloutOutputs, news: SealRolloutInputs): Promise<pulumi.dynamic.DiffResult> {
  return { changes: changedKeys<SealRolloutInputs>(olds, news, INPUT_KEYS).length > 0, replaces: [] };
}

async function create(inputs: SealRolloutInputs): Promise<pulumi.dynamic.CreateResult<SealRolloutOutputs>> {
  return { id: `seal-rollout:${clusterIdentity(inputs.nodes)}`, outs: { ...inputs, rolledDigest: inputs.sealDigest } };
}

async function update(
  _id: string,
  olds: SealRolloutOutputs,
  news: SealRolloutInputs,
): Promise<pulumi.dynamic.UpdateResult<SealRolloutOutputs>> {
  if (olds.rolledDigest !== news.sealDigest) {
    await sleep((news.graceSeconds ?? 5) * 1000);
    await withNodes(news.nodes, (nodes) => rollingRestart(nodes, { adminToken: news.rootToken, timeoutMs: news.timeoutMs ?? 120_000 }));
  }
  return { outs: { ...news, rolledDigest: news.sealDigest } };
}

/** Restarts nothing: the pods keep the seal they run. */
async function remove(): Promise<void> {}

export const sealRolloutOps: ProviderOps<SealRolloutInputs, SealRolloutOutputs> = { check, diff, create, update, delete: remove };

export const sealRolloutProvider = trampoline<SealRolloutInputs, SealRolloutOutputs>("providers/seal-rollout", "sealRolloutOps");

export class SealRollout extends pulumi.dynamic.Resource {
  declare readonly rolledDigest: pulumi.Output<string>;

  constructor(name: string, args: SealRolloutArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      sealRolloutProvider,
      name,
      { ...args, version: SEAL_ROLLOUT_VERSION, rolledDigest: undefined },
      withSecretOutputs(opts, ["rootToken", "nodes"]),
      "vault-mutual-unseal",
      "SealRollout",
    );
  }
}
