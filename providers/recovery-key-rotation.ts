/**
 * RecoveryKeyRotation: an auto-unsealed cluster's recovery keys rotated to shares encrypted to
 * the operators' PGP keys (core/steps/recovery-keys.ts). For `vault-unlock`, whose Shamir
 * unseal keys had to be plaintext for its bootstrap and became its recovery keys at the seal
 * migration: after this, the plaintext ones the state still holds (its VaultInit) open nothing.
 *
 * - create rotates, or finds the rotation done (the server's backup holds shares for exactly
 *   these PGP keys: a run whose answer was lost), so a crash at any point is finished by the
 *   next run.
 * - The PGP keys, shares and threshold cannot change here afterwards: the current shares are
 *   then the operators' own, which this resource cannot decrypt. Changing them is the
 *   operators' rotation (`bao operator rotate-keys -target=recovery -pgp-keys=…`, each giving
 *   their decrypted share), refused with that message.
 * - delete forgets the shares and leaves the cluster alone.
 */
import * as pulumi from "@pulumi/pulumi";
import { activeClient } from "../core/steps/node-state";
import { RecoveryApiFlavour, rotateRecoveryKeys } from "../core/steps/recovery-keys";
import { InputError } from "../core/errors";
import { defineDynamicResource } from "./dynamic-resource";
import { clusterIdentity, nodeAccess, NodeAccess, NodeAccessArgs, withNodes } from "./node-access";
import { ProviderOps } from "./project-require";
import { changedKeys, Failures, adminToken, sameValue, stringList, wholeNumber } from "./provider-inputs";

export const RECOVERY_KEY_ROTATION_VERSION = 1;

export interface RecoveryKeyRotationArgs {
  nodes: pulumi.Input<NodeAccessArgs>;
  adminToken: pulumi.Input<string>;
  flavour: pulumi.Input<RecoveryApiFlavour>;
  /** The recovery keys now, plaintext (vault-unlock: its former unseal keys). */
  currentKeys: pulumi.Input<pulumi.Input<string>[]>;
  shares: pulumi.Input<number>;
  threshold: pulumi.Input<number>;
  /** Base64 PGP public keys, one per share. */
  pgpKeys: pulumi.Input<pulumi.Input<string>[]>;
}

export interface RecoveryKeyRotationInputs {
  version?: number;
  nodes: NodeAccess;
  adminToken: string;
  flavour: RecoveryApiFlavour;
  currentKeys: string[];
  shares: number;
  threshold: number;
  pgpKeys: string[];
}

export interface RecoveryKeyRotationOutputs extends RecoveryKeyRotationInputs {
  /** The new shares, base64 PGP messages, in the order of pgpKeys: each for its key's holder to decrypt. */
  encryptedKeys: string[];
  pgpFingerprints: string[];
}

/** What the rotation fixed: the shares are the operators' now, beyond this resource's reach. */
const FIXED = ["pgpKeys", "shares", "threshold"] as const;

function fixedProblems(olds: Partial<RecoveryKeyRotationInputs>, news: Partial<RecoveryKeyRotationInputs>, f: Failures): void {
  if (olds.nodes === undefined || clusterIdentity(olds.nodes) !== clusterIdentity(news.nodes)) return;
  for (const key of FIXED) {
    if (olds[key] === undefined || sameValue(olds[key], news[key])) continue;
    f.add(
      key,
      `cannot change after the rotation: ${clusterIdentity(olds.nodes)}'s recovery keys are the operators' PGP-encrypted shares now, ` +
        `which this resource cannot decrypt. Rotate them with the operators (bao operator rotate-keys -target=recovery, ` +
        `or vault operator rekey -target=recovery, each giving their decrypted share), then set ${key} to what they chose.`,
    );
  }
}

const flavour = (v: unknown): string | undefined => (v === "openbao" || v === "vault" ? undefined : `must be "openbao" or "vault"`);

async function rotate(inputs: RecoveryKeyRotationInputs): Promise<RecoveryKeyRotationOutputs> {
  return withNodes(inputs.nodes, async (nodes) => {
    const r = await rotateRecoveryKeys(await activeClient(nodes, inputs.adminToken), inputs);
    return { ...inputs, encryptedKeys: r.keys, pgpFingerprints: r.pgpFingerprints };
  });
}

async function create(inputs: RecoveryKeyRotationInputs): Promise<pulumi.dynamic.CreateResult<RecoveryKeyRotationOutputs>> {
  return { id: `recovery-key-rotation:${clusterIdentity(inputs.nodes)}`, outs: await rotate(inputs) };
}

async function diff(_id: string, olds: RecoveryKeyRotationOutputs, news: RecoveryKeyRotationInputs): Promise<pulumi.dynamic.DiffResult> {
  const changed = changedKeys<RecoveryKeyRotationInputs>(olds, news, declared.inputKeys);
  // Another cluster is another rotation; anything else that changes is only carried (FIXED are refused by check).
  const replaces =
    clusterIdentity(news.nodes) !== undefined && clusterIdentity(olds.nodes) !== clusterIdentity(news.nodes) ? ["nodes"] : [];
  return { changes: changed.length > 0, replaces, deleteBeforeReplace: false };
}

async function update(
  _id: string,
  olds: RecoveryKeyRotationOutputs,
  news: RecoveryKeyRotationInputs,
): Promise<pulumi.dynamic.UpdateResult<RecoveryKeyRotationOutputs>> {
  const f = new Failures();
  fixedProblems(olds, news, f);
  if (f.list.length > 0) throw new InputError(f.list[0].property, f.list[0].reason);
  // Tokens, access, current keys: new values to keep; the shares stay the ones the rotation made.
  return { outs: { ...news, encryptedKeys: olds.encryptedKeys, pgpFingerprints: olds.pgpFingerprints } };
}

async function remove(): Promise<void> {}

const declared = defineDynamicResource<RecoveryKeyRotationInputs, RecoveryKeyRotationOutputs, RecoveryKeyRotationArgs>({
  type: "RecoveryKeyRotation",
  module: "providers/recovery-key-rotation",
  opsExport: "recoveryKeyRotationOps",
  version: RECOVERY_KEY_ROTATION_VERSION,
  fields: {
    nodes: nodeAccess,
    adminToken: adminToken("the cluster's", "rotating recovery keys needs sudo"),
    flavour,
    currentKeys: stringList("the recovery keys now (base64)"),
    shares: wholeNumber(1),
    threshold: wholeNumber(1),
    pgpKeys: stringList("base64 PGP public keys, one per share"),
  },
  across: (olds, news, f) => fixedProblems(olds, news, f),
  outputs: ["encryptedKeys", "pgpFingerprints"],
  secretOutputs: ["adminToken", "currentKeys", "nodes"],
  ops: { diff, create, update, delete: remove },
});

export const recoveryKeyRotationOps: ProviderOps<RecoveryKeyRotationInputs, RecoveryKeyRotationOutputs> = declared.ops;

export const recoveryKeyRotationProvider = declared.provider;

export class RecoveryKeyRotation extends declared.Resource {
  declare readonly encryptedKeys: pulumi.Output<string[]>;
  declare readonly pgpFingerprints: pulumi.Output<string[]>;
}
