/**
 * VaultInit: `operator init` of a cluster, once. Its outputs (unseal or recovery keys, root
 * token) exist nowhere else, so:
 * - create refuses a cluster that is already initialized (the core's AlreadyInitializedError:
 *   the keys of an earlier init cannot be recovered), unless the inputs carry `adopt` with
 *   those keys and root token, which are then checked against the cluster and kept;
 * - kind, shares, threshold and the PGP keys cannot change after init (that is a rekey):
 *   `check` and `update` fail with a clear message instead of a replacement, which would
 *   try to init again;
 * - only a different cluster (another namespace/StatefulSet, another local cluster) replaces
 *   the resource; a new kubeconfig, port or replica count is an update that changes nothing;
 * - create writes the init's answer to the cluster's init record (NodeControl.saveInitRecord)
 *   right after sys/init answers; a create that finds the cluster initialized and no `adopt`
 *   takes the keys from that record, checked as `adopt` is (`adopted` stays false: the keys
 *   come from this resource's own init, whose checkpoint was lost). `forgetInitRecord` deletes
 *   it once the outputs are checkpointed; an update deletes one holding the checkpointed keys;
 * - delete forgets the keys and touches nothing on the server. Give the resource
 *   `protect: true` (or keep the keys elsewhere): without them a Shamir cluster cannot be
 *   unsealed after a restart.
 */
import * as pulumi from "@pulumi/pulumi";
import { AlreadyInitializedError, InputError, VaultOpError } from "../core/errors";
import { initAndRecord, initProblems, InitResult, recordedInit } from "../core/steps/init";
import { SealStatus } from "../core/vault-client";
import { waitFor } from "../core/wait";
import { VaultClient } from "../core/vault-client";
import { defineDynamicResource } from "./dynamic-resource";
import { clusterIdentity, nodeAccess, NodeAccess, NodeAccessArgs, withNodes } from "./node-access";
import { ProviderOps } from "./project-require";
import {
  changedKeys,
  containsUnknown,
  describeValue,
  Failures,
  optional,
  optionalString,
  reasonOf,
  sameValue,
  stringList,
  wholeNumber,
} from "./provider-inputs";

/** Provider behaviour version; raise it when a state written by this code must be read differently. */
export const VAULT_INIT_VERSION = 1;

export interface VaultInitArgs {
  /** The cluster to initialize; init runs on its first node (the one Raft followers join). */
  nodes: pulumi.Input<NodeAccessArgs>;
  /** "shamir": unseal keys. "recovery": the cluster auto-unseals (transit) and gets recovery keys. */
  kind: pulumi.Input<"shamir" | "recovery">;
  shares: pulumi.Input<number>;
  threshold: pulumi.Input<number>;
  /** Base64 PGP public keys, one per share: the keys come back encrypted to them. */
  pgpKeys?: pulumi.Input<pulumi.Input<string>[]>;
  /** Base64 PGP public key the root token comes back encrypted to. */
  rootTokenPgpKey?: pulumi.Input<string>;
  /** The keys and root token of an earlier init, to take over an initialized cluster instead of refusing it. */
  adopt?: pulumi.Input<{ keys: pulumi.Input<pulumi.Input<string>[]>; rootToken: pulumi.Input<string> }>;
  /** How long create waits for the first node's API (a pod created moments ago); default 300000. */
  startTimeoutMs?: pulumi.Input<number>;
}

export interface VaultInitInputs {
  version?: number;
  nodes: NodeAccess;
  kind: "shamir" | "recovery";
  shares: number;
  threshold: number;
  pgpKeys?: string[];
  rootTokenPgpKey?: string;
  adopt?: { keys: string[]; rootToken: string };
  startTimeoutMs?: number;
}

export interface VaultInitOutputs extends VaultInitInputs {
  /** Unseal keys (shamir) or recovery keys (recovery), base64 (PGP-encrypted when pgpKeys were given). */
  keys: string[];
  rootToken: string;
  /**
   * True when the keys came from `adopt` rather than from an init by this resource. Keys taken
   * from the init record are this resource's own init (its checkpoint was lost): false.
   */
  adopted: boolean;
}

/** What an init fixes for good. */
const FIXED_AT_INIT = ["kind", "shares", "threshold", "pgpKeys", "rootTokenPgpKey"] as const;

function fixedAtInitProblems(olds: Partial<VaultInitInputs>, news: Partial<VaultInitInputs>, failures: Failures): void {
  // Only for the same cluster: another cluster is a replacement, initialized afresh.
  if (olds.nodes === undefined || clusterIdentity(olds.nodes) !== clusterIdentity(news.nodes)) return;
  for (const key of FIXED_AT_INIT) {
    if (containsUnknown(news[key]) || sameValue(olds[key], news[key])) continue;
    const was =
      key === "pgpKeys" || key === "rootTokenPgpKey" ? (olds[key] === undefined ? "none" : "the PGP key(s) given then") : String(olds[key]);
    failures.add(
      key,
      `cannot change after init: ${clusterIdentity(olds.nodes)} was initialized with ${key} = ${was}. Changing it needs a rekey ` +
        `(bao/vault operator rekey), which this resource does not do, and a replacement would try to init again. Set ${key} back to ${was === "none" ? "nothing" : was}.`,
    );
  }
}

const kind = (v: unknown): string | undefined =>
  v === "shamir" || v === "recovery"
    ? undefined
    : `must be "shamir" (unseal keys) or "recovery" (recovery keys of an auto-sealed cluster), got ${typeof v === "string" ? `"${v}"` : describeValue(v)}`;

function adoptProblems(v: unknown, path: string, f: Failures): void {
  if (v === undefined) return;
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    f.add(path, "must be { keys, rootToken } from the earlier init");
    return;
  }
  const a = v as Record<string, unknown>;
  f.field(a, "keys", `${path}.keys`, stringList("the keys returned by the earlier init"));
  f.field(a, "rootToken", `${path}.rootToken`, (x) =>
    typeof x === "string" && x !== "" ? undefined : "must be the root token returned by the earlier init",
  );
}

/** The core's rules across fields (threshold ≤ shares, one PGP key per share), once each field is sound; then what init fixed. */
function acrossFields(olds: Partial<VaultInitInputs>, news: VaultInitInputs, f: Failures): void {
  if (f.list.length === 0 && ![news.kind, news.shares, news.threshold, news.pgpKeys].some(containsUnknown)) {
    for (const p of initProblems({ kind: news.kind, shares: news.shares, threshold: news.threshold, pgpKeys: news.pgpKeys }))
      f.add(p.key, reasonOf(p));
  }
  fixedAtInitProblems(olds, news, f);
}

async function diff(_id: string, olds: VaultInitOutputs, news: VaultInitInputs): Promise<pulumi.dynamic.DiffResult> {
  const changed = changedKeys<VaultInitInputs>(olds, news, declared.inputKeys);
  const oldCluster = clusterIdentity(olds.nodes);
  const newCluster = clusterIdentity(news.nodes);
  // Another cluster: init it afresh. An unknown identity is only a possible change: the diff
  // that runs with known values during the update decides.
  const replaces = newCluster !== undefined && oldCluster !== newCluster ? ["nodes"] : [];
  // FIXED_AT_INIT changes are no replacement: check refuses them, and update would too.
  return { changes: changed.length > 0, replaces, stables: [...FIXED_AT_INIT], deleteBeforeReplace: false };
}

/** Checks `adopt` against what the cluster reports; throws InputError naming the property that does not match. */
async function verifyAdopt(client: VaultClient, inputs: VaultInitInputs, adopt: { keys: string[]; rootToken: string }): Promise<void> {
  const s = await client.sealStatus();
  const where = client.address;
  if (inputs.kind === "recovery" && !s.recovery_seal)
    throw new InputError("kind", `${where} has a ${s.type} seal without recovery keys: adopt it with kind "shamir"`);
  // A Shamir cluster migrated to an auto seal keeps its keys as recovery keys: either kind fits it then.
  if (inputs.kind === "shamir" && s.type !== "shamir" && !s.recovery_seal)
    throw new InputError("kind", `${where} has a ${s.type} seal: adopt it with kind "recovery"`);
  if (s.n !== inputs.shares || s.t !== inputs.threshold) {
    throw new InputError(
      "shares",
      `${where} was initialized with ${s.n} shares and threshold ${s.t}, not ${inputs.shares}/${inputs.threshold}: set shares and threshold to what the cluster has`,
    );
  }
  if (adopt.keys.length < s.t)
    throw new InputError("adopt.keys", `${where} needs ${s.t} keys to unseal or recover; adopt gives ${adopt.keys.length}`);
  if (!s.sealed) {
    try {
      await client.withToken(adopt.rootToken).read("auth/token/lookup-self");
    } catch (e) {
      if (e instanceof VaultOpError && !(e instanceof InputError))
        throw new InputError("adopt.rootToken", `is not a valid token on ${where} (${e.message})`);
      throw e;
    }
  }
}

/** verifyAdopt for the keys of an init record, its errors naming the record (whose keys the operator never saw). */
async function verifyRecord(client: VaultClient, where: string, inputs: VaultInitInputs, recorded: InitResult): Promise<void> {
  if (recorded.kind !== inputs.kind)
    throw new InputError(
      "kind",
      `${client.address} was initialized with kind "${recorded.kind}" (its init record, ${where}), not "${inputs.kind}": set kind to "${recorded.kind}"`,
    );
  try {
    await verifyAdopt(client, inputs, { keys: recorded.keys, rootToken: recorded.rootToken });
  } catch (e) {
    if (e instanceof InputError)
      throw new InputError(
        e.key.replace(/^adopt\./, "initRecord."),
        `${reasonOf(e)} (keys and root token from the init record ${where}, left by an init whose Pulumi state was never saved). ` +
          `If the record is stale, delete it and pass the cluster's keys and root token as adopt`,
      );
    throw e;
  }
}

async function create(inputs: VaultInitInputs): Promise<pulumi.dynamic.CreateResult<VaultInitOutputs>> {
  return withNodes(inputs.nodes, async (nodes) => {
    const client = nodes.client(nodes.nodeIds()[0]);
    const id = `vault-init:${clusterIdentity(inputs.nodes)}`;
    // On a first `pulumi up` the pod was created moments ago (its StatefulSet does not wait
    // for readiness): wait until its API answers before asking anything of it.
    let status!: SealStatus;
    await waitFor(
      `${client.address} to answer before init`,
      async () => {
        status = await client.sealStatus();
        return { done: true, state: "answering" };
      },
      { timeoutMs: inputs.startTimeoutMs ?? 300_000, intervalMs: 1000 },
    );
    if (status.initialized) {
      if (inputs.adopt) {
        await verifyAdopt(client, inputs, inputs.adopt);
        return { id, outs: { ...inputs, keys: inputs.adopt.keys, rootToken: inputs.adopt.rootToken, adopted: true } };
      }
      // An earlier create of this resource whose outputs never reached the checkpoint left its answer behind.
      const recorded = await recordedInit(nodes);
      if (recorded) {
        await verifyRecord(client, nodes.initRecordLocation(), inputs, recorded);
        return { id, outs: { ...inputs, keys: recorded.keys, rootToken: recorded.rootToken, adopted: false } };
      }
      const refused = new AlreadyInitializedError(client.address);
      refused.message +=
        ` No init record is left either (${nodes.initRecordLocation()}).` +
        ` To manage this cluster with this resource anyway, pass those keys and root token as adopt: { keys, rootToken }.`;
      throw refused;
    }
    if (inputs.adopt)
      throw new InputError("adopt", `${client.address} is not initialized, so there is nothing to adopt: remove adopt to initialize it`);
    const result = await initAndRecord(nodes, client, {
      kind: inputs.kind,
      shares: inputs.shares,
      threshold: inputs.threshold,
      pgpKeys: inputs.pgpKeys,
      rootTokenPgpKey: inputs.rootTokenPgpKey,
    });
    if (result.recordError) {
      // The answer still goes to the checkpoint, as before records existed; only the crash window is back. Never the keys in the text.
      process.stderr.write(
        `warning: ${clusterIdentity(inputs.nodes)} is initialized but its init record could not be written to ${nodes.initRecordLocation()} ` +
          `(${result.recordError.message}): if this run dies before Pulumi saves its state, the keys are lost. Check the deployer's access to Secrets (docs/deployer-rbac.yaml).\n`,
      );
    }
    return { id, outs: { ...inputs, keys: result.keys, rootToken: result.rootToken, adopted: false } };
  });
}

async function update(_id: string, olds: VaultInitOutputs, news: VaultInitInputs): Promise<pulumi.dynamic.UpdateResult<VaultInitOutputs>> {
  const f = new Failures();
  fixedAtInitProblems(olds, news, f);
  if (f.list.length > 0) throw new InputError(f.list[0].property, f.list[0].reason);
  // Update runs on keys read from the checkpoint: a record still holding exactly those is a
  // copy nobody needs (the step meant to forget it did not run). Best effort: an update never fails for it.
  await forgetCheckpointedRecord(olds);
  // A changed adopt (e.g. keys rekeyed outside Pulumi) replaces the stored keys once the cluster agrees.
  if (news.adopt && !sameValue(olds.adopt, news.adopt)) {
    const adopt = news.adopt;
    await withNodes(news.nodes, async (nodes) => verifyAdopt(nodes.client(nodes.nodeIds()[0]), news, adopt));
    return { outs: { ...news, keys: adopt.keys, rootToken: adopt.rootToken, adopted: true } };
  }
  return { outs: { ...news, keys: olds.keys, rootToken: olds.rootToken, adopted: olds.adopted ?? false } };
}

/** Deletes the record of `olds`'s cluster when it holds exactly the checkpointed keys and root token; never throws. */
async function forgetCheckpointedRecord(olds: VaultInitOutputs): Promise<void> {
  try {
    await withNodes(olds.nodes, async (nodes) => {
      const recorded = await recordedInit(nodes);
      if (recorded && recorded.rootToken === olds.rootToken && sameValue(recorded.keys, olds.keys)) await nodes.forgetInitRecord();
    });
  } catch {
    // Unreachable now, or a record that does not decode: left for forgetInitRecord.
  }
}

/**
 * Deletes the cluster's init record. Call it from a step that runs only once VaultInit's
 * outputs are in the Pulumi checkpoint (a resource that takes them as inputs is created after
 * the engine has saved them): from then on the state holds the keys and the record is only a
 * second copy. Idempotent: no record, nothing to do.
 */
export async function forgetInitRecord(nodes: NodeAccess): Promise<void> {
  await withNodes(nodes, (n) => n.forgetInitRecord());
}

/** Forgets the keys; never touches the cluster. */
async function remove(): Promise<void> {}

const declared = defineDynamicResource<VaultInitInputs, VaultInitOutputs, VaultInitArgs>({
  type: "VaultInit",
  module: "providers/vault-init",
  opsExport: "vaultInitOps",
  version: VAULT_INIT_VERSION,
  fields: {
    nodes: nodeAccess,
    kind,
    shares: wholeNumber(1),
    threshold: wholeNumber(1),
    pgpKeys: optional(stringList("base64 PGP public keys")),
    rootTokenPgpKey: optionalString,
    adopt: { nested: adoptProblems },
    startTimeoutMs: optional(wholeNumber(1000)),
  },
  across: acrossFields,
  outputs: ["keys", "rootToken", "adopted"],
  secretOutputs: ["keys", "rootToken", "adopt", "nodes"],
  ops: { diff, create, update, delete: remove },
});

/** The implementation the serialized provider calls (loaded from this file at run time). */
export const vaultInitOps: ProviderOps<VaultInitInputs, VaultInitOutputs> = declared.ops;

/** The provider object Pulumi serializes into the state (see project-require.ts). */
export const vaultInitProvider = declared.provider;

export class VaultInit extends declared.Resource {
  declare readonly keys: pulumi.Output<string[]>;
  declare readonly rootToken: pulumi.Output<string>;
  declare readonly adopted: pulumi.Output<boolean>;
  declare readonly kind: pulumi.Output<"shamir" | "recovery">;
}
