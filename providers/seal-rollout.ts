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
 * - Same key and mount, other address or token: this is no seal migration, since the stored
 *   keys stay wrapped by the same key; a change of key is a migration: use SealMigration.
 * - `supersededTokens`: the tokens the link replaced while alive (superseded-tokens.ts) are
 *   revoked on its unsealer once every pod runs on `sealDigest` (rolled now, or earlier, or
 *   born on it) and is unsealed; `revokedAccessors` records them. A run stopped before that
 *   record restarts and revokes again next time.
 */
import * as pulumi from "@pulumi/pulumi";
import { rollingRestart } from "../core/steps/rollout";
import { sleep } from "../core/wait";
import { defineDynamicResource } from "./dynamic-resource";
import { clusterIdentity, nodeAccess, NodeAccess, NodeAccessArgs, withNodes } from "./node-access";
import { ProviderOps } from "./project-require";
import { optional, requiredString, adminToken, wholeNumber } from "./provider-inputs";
import { revokeSuperseded, SupersededTokens, supersededTokens, SupersededTokensArgs } from "./superseded-tokens";

export const SEAL_ROLLOUT_VERSION = 1;

export interface SealRolloutArgs {
  nodes: pulumi.Input<NodeAccessArgs>;
  /** sealSettingsDigest of the seal ConfigMap/Secret content the pods must run. */
  sealDigest: pulumi.Input<string>;
  /** The operator token (or root token) of the cluster, for the step-down of the active node. */
  adminToken: pulumi.Input<string>;
  /** Seconds to wait after the change before the first restart; default 5. */
  graceSeconds?: pulumi.Input<number>;
  /** How long each node may take to unseal again; default 120 s. */
  timeoutMs?: pulumi.Input<number>;
  /** Tokens of the link that the pods ran on before, to revoke once they run on `sealDigest`. */
  supersededTokens?: pulumi.Input<SupersededTokensArgs>;
}

export interface SealRolloutInputs {
  version?: number;
  nodes: NodeAccess;
  sealDigest: string;
  adminToken: string;
  graceSeconds?: number;
  timeoutMs?: number;
  supersededTokens?: SupersededTokens;
}

export interface SealRolloutOutputs extends SealRolloutInputs {
  /** The digest the pods were last restarted onto (or born with). */
  rolledDigest: string;
  /** The superseded tokens' accessors revoked once the pods ran on `rolledDigest`. */
  revokedAccessors: string[];
}

/** The pods run on `sealDigest`: the superseded tokens may go. */
async function revoked(inputs: SealRolloutInputs): Promise<string[]> {
  if (!inputs.supersededTokens?.accessors.length) return [];
  return withNodes(inputs.nodes, (nodes) => revokeSuperseded(nodes, inputs.supersededTokens, inputs.timeoutMs));
}

async function create(inputs: SealRolloutInputs): Promise<pulumi.dynamic.CreateResult<SealRolloutOutputs>> {
  // Born on these settings (the stack writes them before the pods exist): nothing to restart.
  return {
    id: `seal-rollout:${clusterIdentity(inputs.nodes)}`,
    outs: { ...inputs, rolledDigest: inputs.sealDigest, revokedAccessors: await revoked(inputs) },
  };
}

async function update(
  _id: string,
  olds: SealRolloutOutputs,
  news: SealRolloutInputs,
): Promise<pulumi.dynamic.UpdateResult<SealRolloutOutputs>> {
  if (olds.rolledDigest !== news.sealDigest) {
    await sleep((news.graceSeconds ?? 5) * 1000);
    await withNodes(news.nodes, (nodes) => rollingRestart(nodes, { adminToken: news.adminToken, timeoutMs: news.timeoutMs ?? 120_000 }));
  }
  return { outs: { ...news, rolledDigest: news.sealDigest, revokedAccessors: await revoked(news) } };
}

/** Restarts nothing: the pods keep the seal they run. */
async function remove(): Promise<void> {}

const declared = defineDynamicResource<SealRolloutInputs, SealRolloutOutputs, SealRolloutArgs>({
  type: "SealRollout",
  module: "providers/seal-rollout",
  opsExport: "sealRolloutOps",
  version: SEAL_ROLLOUT_VERSION,
  fields: {
    nodes: nodeAccess,
    sealDigest: requiredString,
    adminToken: adminToken("the cluster's", "the rollout steps the active node down"),
    graceSeconds: optional(wholeNumber(0, 300)),
    timeoutMs: optional(wholeNumber(1000)),
    supersededTokens,
  },
  outputs: ["rolledDigest", "revokedAccessors"],
  // supersededTokens holds the unsealer's operator token and access; the accessors revoked are plain.
  secretOutputs: ["adminToken", "nodes", "supersededTokens"],
  ops: { create, update, delete: remove },
});

export const sealRolloutOps: ProviderOps<SealRolloutInputs, SealRolloutOutputs> = declared.ops;

export const sealRolloutProvider = declared.provider;

export class SealRollout extends declared.Resource {
  declare readonly rolledDigest: pulumi.Output<string>;
  declare readonly revokedAccessors: pulumi.Output<string[]>;
}
