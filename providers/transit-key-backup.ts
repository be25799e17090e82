/**
 * TransitKeyBackup: a plaintext backup of the transit key that unseals `vault`, taken on its
 * unsealer (`vault-unlock`), as a secret output of the primary stack. The helper stack reads
 * it through a StackReference and restores it (TransitKeyRestore), so the helper stack needs
 * no access to the primary's Kubernetes cluster.
 *
 * - create/update take a backup (the core's backupTransitKey); the key must have been made
 *   exportable with plaintext backup (TransitLink allowBackup, irreversible on the server).
 * - read (refresh) records the key's latest version, and diff takes the same look on every
 *   `up` and preview (live-state.ts): a backup older than that (the key was rotated) is an
 *   update, which takes a new backup, with no `--refresh` needed.
 * - delete does nothing: the key stays, and a backup that was handed out cannot be recalled.
 */
import * as pulumi from "@pulumi/pulumi";
import { backupTransitKey, checkKeyDrift, KeyRef } from "../core/steps/key-copy";
import { activeClient, activeForLook } from "../core/steps/node-state";
import { normMount } from "../core/steps/transit-link";
import { defineDynamicResource } from "./dynamic-resource";
import { clusterIdentity, nodeAccess, NodeAccess, NodeAccessArgs, withNodes } from "./node-access";
import { ProviderOps } from "./project-require";
import { keyName, mountPath, token } from "./provider-inputs";

export const TRANSIT_KEY_BACKUP_VERSION = 1;

export interface TransitKeyBackupArgs {
  /** The unsealer holding the key (vault-unlock). */
  nodes: pulumi.Input<NodeAccessArgs>;
  /** A token that may read `<mount>/keys/<key>` and `<mount>/backup/<key>` (root). */
  token: pulumi.Input<string>;
  mountPath: pulumi.Input<string>;
  keyName: pulumi.Input<string>;
}

export interface TransitKeyBackupInputs {
  version?: number;
  nodes: NodeAccess;
  token: string;
  mountPath: string;
  keyName: string;
}

export interface TransitKeyBackupOutputs extends TransitKeyBackupInputs {
  /** The backup (secret: it is the key). */
  backup: string;
  /** Key version the backup holds. */
  keyVersion: number;
  /** The key's latest version when last looked at (refresh). */
  latestVersion: number;
}

async function take(inputs: TransitKeyBackupInputs): Promise<TransitKeyBackupOutputs> {
  const ref: KeyRef = { mountPath: inputs.mountPath, keyName: inputs.keyName };
  return withNodes(inputs.nodes, async (nodes) => {
    const admin = await activeClient(nodes, inputs.token);
    const { backup, version } = await backupTransitKey(admin, ref);
    return { ...inputs, backup, keyVersion: version, latestVersion: version };
  });
}

async function create(inputs: TransitKeyBackupInputs): Promise<pulumi.dynamic.CreateResult<TransitKeyBackupOutputs>> {
  return {
    id: `transit-key-backup:${clusterIdentity(inputs.nodes)}:${normMount(inputs.mountPath)}/${inputs.keyName}`,
    outs: await take(inputs),
  };
}

async function update(
  _id: string,
  _olds: TransitKeyBackupOutputs,
  news: TransitKeyBackupInputs,
): Promise<pulumi.dynamic.UpdateResult<TransitKeyBackupOutputs>> {
  return { outs: await take(news) };
}

/** Records the key's latest version; a sealed unsealer keeps what is known. */
async function read(id: string, props?: TransitKeyBackupOutputs): Promise<pulumi.dynamic.ReadResult<TransitKeyBackupOutputs>> {
  if (!props?.nodes) throw new Error(`TransitKeyBackup ${id}: import is not supported; declare the resource in the program instead`);
  return withNodes(props.nodes, async (nodes) => {
    const active = await activeForLook(nodes);
    if (!active) return { id, props };
    const drift = await checkKeyDrift(nodes.client(active, props.token), { mountPath: props.mountPath, keyName: props.keyName });
    return { id, props: { ...props, latestVersion: drift.latestVersion } };
  });
}

async function remove(): Promise<void> {}

const declared = defineDynamicResource<TransitKeyBackupInputs, TransitKeyBackupOutputs, TransitKeyBackupArgs>({
  type: "TransitKeyBackup",
  module: "providers/transit-key-backup",
  opsExport: "transitKeyBackupOps",
  version: TRANSIT_KEY_BACKUP_VERSION,
  fields: {
    nodes: nodeAccess,
    token: token("a token of the unsealer that may read the key and its backup (its operator token)"),
    mountPath,
    keyName,
  },
  outputs: ["backup", "keyVersion", "latestVersion"],
  secretOutputs: ["backup", "token", "nodes"],
  // The key as it is now on the unsealer: rotated since the backup means a new backup.
  drifted: (now) => typeof now.latestVersion === "number" && typeof now.keyVersion === "number" && now.keyVersion < now.latestVersion,
  ops: { create, update, read, delete: remove },
});

export const transitKeyBackupOps: ProviderOps<TransitKeyBackupInputs, TransitKeyBackupOutputs> = declared.ops;

export const transitKeyBackupProvider = declared.provider;

export class TransitKeyBackup extends declared.Resource {
  declare readonly backup: pulumi.Output<string>;
  declare readonly keyVersion: pulumi.Output<number>;
  declare readonly latestVersion: pulumi.Output<number>;
}
