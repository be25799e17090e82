/**
 * TransitKeyRestore: the helper's copy of the transit key that unseals `vault`, restored
 * from the backup the primary stack outputs (TransitKeyBackup), with the drift check.
 *
 * - create/update restore the backup with `force` (a newer copy replaces an older one),
 *   then compare the helper's version with `latestVersion` (the key's latest version on the
 *   unsealer, as the primary stack last saw it). A copy behind it FAILS the run: a stale copy
 *   breaks the deadlock path silently at `vault`'s next leader change, which wraps its root
 *   key with the newest key version, one the helper does not hold.
 * - read (refresh) records the helper's version, and diff takes the same look on every `up`
 *   and preview (live-state.ts): a copy behind (or lost) is an update, which restores again.
 * - delete leaves the copy on the helper: it is Vault data, the last resort in a deadlock.
 */
import * as pulumi from "@pulumi/pulumi";
import { checkCopyAgainstBackup, copyVerdict, CopyVerdict, KeyRef, restoreTransitKey, unsealedHelper } from "../core/steps/key-copy";
import { activeForLook } from "../core/steps/node-state";
import { normMount } from "../core/steps/transit-link";
import { defineDynamicResource } from "./dynamic-resource";
import { clusterIdentity, nodeAccess, NodeAccess, NodeAccessArgs, withNodes } from "./node-access";
import { ProviderOps } from "./project-require";
import { keyName, mountPath, optionalBoolean, token, wholeNumber } from "./provider-inputs";

export const TRANSIT_KEY_RESTORE_VERSION = 1;

export interface TransitKeyRestoreArgs {
  /** The helper (it must be unsealed while the copy is restored). */
  nodes: pulumi.Input<NodeAccessArgs>;
  /** The helper's operator token (or root token). */
  token: pulumi.Input<string>;
  mountPath: pulumi.Input<string>;
  keyName: pulumi.Input<string>;
  /** TransitKeyBackup.backup of the primary stack (secret). */
  backup: pulumi.Input<string>;
  /** The key's latest version on the unsealer (TransitKeyBackup.latestVersion). */
  latestVersion: pulumi.Input<number>;
  /** Fail the run when the copy is behind latestVersion (default true). */
  failOnDrift?: pulumi.Input<boolean>;
}

export interface TransitKeyRestoreInputs {
  version?: number;
  nodes: NodeAccess;
  token: string;
  mountPath: string;
  keyName: string;
  backup: string;
  latestVersion: number;
  failOnDrift?: boolean;
}

export interface TransitKeyRestoreOutputs extends TransitKeyRestoreInputs {
  /** Newest key version on the helper. */
  helperVersion: number;
  inSync: boolean;
  verdict: string;
}

/** What to run when the helper's copy is behind: the primary stack takes the backup, the helper stack restores it. */
const REMEDY = "Run `pulumi up` on the primary stack (it takes a new backup of the rotated key), then `pulumi up` on the helper stack.";

/** The core's verdict on the helper's copy (copyVerdict), with this resource's remedy. */
export function restoreVerdict(ref: KeyRef, helperVersion: number, latestVersion: number): CopyVerdict {
  return copyVerdict({ ref, holder: "the helper", copyVersion: helperVersion, latestVersion, remedy: REMEDY });
}

async function restore(inputs: TransitKeyRestoreInputs): Promise<TransitKeyRestoreOutputs> {
  const ref: KeyRef = { mountPath: inputs.mountPath, keyName: inputs.keyName };
  return withNodes(inputs.nodes, async (nodes) => {
    const helper = await unsealedHelper(nodes, inputs.token);
    const helperVersion = await restoreTransitKey(helper, ref, inputs.backup);
    const v = restoreVerdict(ref, helperVersion, inputs.latestVersion);
    if (!v.inSync && (inputs.failOnDrift ?? true)) throw new Error(`TransitKeyRestore: ${v.verdict}`);
    return { ...inputs, helperVersion, ...v };
  });
}

async function create(inputs: TransitKeyRestoreInputs): Promise<pulumi.dynamic.CreateResult<TransitKeyRestoreOutputs>> {
  return {
    id: `transit-key-restore:${clusterIdentity(inputs.nodes)}:${normMount(inputs.mountPath)}/${inputs.keyName}`,
    outs: await restore(inputs),
  };
}

async function update(
  _id: string,
  _olds: TransitKeyRestoreOutputs,
  news: TransitKeyRestoreInputs,
): Promise<pulumi.dynamic.UpdateResult<TransitKeyRestoreOutputs>> {
  return { outs: await restore(news) };
}

/** Records the helper's version; a sealed helper keeps what is known. */
async function read(id: string, props?: TransitKeyRestoreOutputs): Promise<pulumi.dynamic.ReadResult<TransitKeyRestoreOutputs>> {
  if (!props?.nodes) throw new Error(`TransitKeyRestore ${id}: import is not supported; declare the resource in the program instead`);
  return withNodes(props.nodes, async (nodes) => {
    const active = await activeForLook(nodes);
    if (!active) return { id, props };
    // Another key under the name (a rebuilt unsealer's) is recorded too: the update that follows refuses it, naming what to do.
    const found = await checkCopyAgainstBackup(nodes.client(active, props.token), props, props.backup, props.latestVersion, REMEDY);
    return { id, props: { ...props, ...found } };
  });
}

async function remove(): Promise<void> {}

const declared = defineDynamicResource<TransitKeyRestoreInputs, TransitKeyRestoreOutputs, TransitKeyRestoreArgs>({
  type: "TransitKeyRestore",
  module: "providers/transit-key-restore",
  opsExport: "transitKeyRestoreOps",
  version: TRANSIT_KEY_RESTORE_VERSION,
  fields: {
    nodes: nodeAccess,
    token: token("the helper's operator token (or root token)"),
    mountPath,
    keyName,
    backup: token("the primary stack's transitKeyBackup output"),
    latestVersion: wholeNumber(1),
    failOnDrift: optionalBoolean,
  },
  defaults: (news) => ({ ...news, failOnDrift: news.failOnDrift ?? true }),
  outputs: ["helperVersion", "inSync", "verdict"],
  secretOutputs: ["backup", "token", "nodes"],
  // The helper's copy as it is now: lost or behind (a rebuilt helper) is a change, and the update restores it.
  drifted: (now) => now.inSync === false,
  ops: { create, update, read, delete: remove },
});

export const transitKeyRestoreOps: ProviderOps<TransitKeyRestoreInputs, TransitKeyRestoreOutputs> = declared.ops;

export const transitKeyRestoreProvider = declared.provider;

export class TransitKeyRestore extends declared.Resource {
  declare readonly helperVersion: pulumi.Output<number>;
  declare readonly inSync: pulumi.Output<boolean>;
  declare readonly verdict: pulumi.Output<string>;
}
