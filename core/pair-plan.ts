/**
 * The bootstrap of the pair and of the helper, written once: which steps, in which order,
 * with which parameters. Two entry points run it and nothing else:
 *
 * - MutualUnsealPair and HelperBackup (the stacks) register each step as a Pulumi resource
 *   of the dynamic provider named by its kind, ordered by `after` (dependsOn);
 * - the loopback lab (lab/bootstrap.ts) calls the operations of the same providers, in the
 *   listed order, on local clusters.
 *
 * Each entry point decides only what the plan cannot: how a cluster comes to exist (a
 * StatefulSet; local processes) and how a born-sealed cluster's seal settings are written
 * (a ConfigMap and a Secret; the local adapter's config file). Everything that makes the
 * system what it is — the seal of each cluster, the policy and token of each transit link,
 * the audit device, the migration of vault-unlock, the helper's copy of the key — is here.
 *
 * The steps, from two empty clusters:
 *  1. vault-unlock starts on Shamir: init, unseal, its operator token (the root token is
 *     revoked: every later step on a cluster uses its operator token), audit device to stdout;
 *  2. the link vault-unlock → vault: transit key (backup-able, for the helper), a policy
 *     allowing encrypt/decrypt with that key only, an orphan periodic token; vault's seal
 *     settings are written before vault exists, so its pods start sealed by vault-unlock;
 *  3. vault: init with recovery keys (it auto-unseals), its operator token, audit device; a seal rollout that
 *     restarts vault's pods whenever its seal settings change later (the emergency switch);
 *  4. the link vault → vault-unlock;
 *  5. vault-unlock migrates Shamir → transit, node by node: its unseal keys become recovery keys;
 *     later runs move it onto a new token of its link the same way. The seal rollout (vault)
 *     and the migration (vault-unlock) revoke the tokens their link replaced while alive,
 *     once every node runs on the new one;
 *  6. a backup of the key that unseals vault, for the helper.
 * The helper (another stack, another Kubernetes cluster): Shamir init, unseal, operator token, audit device,
 * the backup restored (failing while the copy is behind), and its own orphan periodic token
 * for vault's emergency seal, with the same policy as vault's usual one.
 */

import type { SealGrant } from "./steps/operator-token";

/** The three clusters, by their part in the system. */
export type ClusterRole = "vault" | "vaultUnlock" | "helper";

/** Where the transit key that unseals each cluster lives on its unsealer (and its copy on the helper). */
export const TRANSIT_MOUNT = "transit/";
export const TRANSIT_KEY = "autounseal";

/** Default cluster names: StatefulSets, certificates and resource names derive from them. */
export const CLUSTER_NAMES: Record<ClusterRole, string> = { vault: "vault", vaultUnlock: "vault-unlock", helper: "vault-helper" };

/** The policy on an unsealer that lets exactly one sealed cluster's seal use its key (the helper's copy gets the same one). */
/**
 * The clusters that serve only clients with a certificate from the pair's CA: the two that
 * exist to unseal `vault` (a leaked seal or emergency token is useless without a client key).
 * `vault` serves its users, whose clients the operator chooses.
 */
export const REQUIRES_CLIENT_CERT: Record<ClusterRole, boolean> = { vault: false, vaultUnlock: true, helper: true };

export const sealPolicyName = (keyName: string, sealedCluster: string) => `${keyName}-seal-of-${sealedCluster}`;

interface StepBase {
  /** The resource's name in the stack (and the lab's record of it). */
  name: string;
  /** Steps that must be done first, beyond what the inputs already carry. */
  after: string[];
}

/** How the cluster comes to exist: the entry point's part. */
export interface ClusterStep extends StepBase {
  kind: "cluster";
  cluster: ClusterRole;
}

/** VaultInit: Shamir unseal keys, or recovery keys for a cluster sealed by transit. Its keys exist nowhere else: protected. */
export interface InitStep extends StepBase {
  kind: "init";
  cluster: ClusterRole;
  keys: "shamir" | "recovery";
  protect: true;
}

/** Unseal: every node of a Shamir cluster, with the keys of its init. */
export interface UnsealStep extends StepBase {
  kind: "unseal";
  cluster: ClusterRole;
}

/**
 * OperatorToken: the cluster's operator token, made with its init's root token, which it
 * then revokes. Every later step on the cluster authenticates with it: no standing root.
 */
export interface OperatorTokenStep extends StepBase {
  kind: "operator-token";
  cluster: ClusterRole;
}

/** AuditDevice: to stdout (the container log), with the cluster's operator token. */
export interface AuditStep extends StepBase {
  kind: "audit";
  cluster: ClusterRole;
}

/** TransitLink on `unsealer` for `sealed`'s seal, and (bornSealed) the sealed cluster's seal settings. */
export interface LinkStep extends StepBase {
  kind: "link";
  unsealer: ClusterRole;
  sealed: ClusterRole;
  /** The sealed cluster starts on this seal: its settings are written by this step, before it exists. */
  bornSealed: boolean;
  mountPath: string;
  keyName: string;
  policyName: string;
  displayName: string;
  /** Exportable with plaintext backup: only the key the helper holds a copy of. Irreversible on the server. */
  allowBackup: boolean;
  /** false on the helper, whose key is the restored copy. */
  createKey: boolean;
  /** Renewed by `up` below half its period: a token no seal renews while it waits (the helper's). */
  keepAlive: boolean;
}

/**
 * What a step that moves a sealed cluster's nodes onto its link's token does with the tokens
 * the link replaced while they were alive (TransitLink's supersededAccessors).
 */
interface MovesNodesOntoLink {
  link: string;
  /**
   * Revoke them on the link's unsealer once every node runs and is unsealed on the new token:
   * only this step knows when no node needs them any more.
   */
  revokeSuperseded: boolean;
}

/** SealRollout: restarts the cluster's nodes, standbys first, when the seal settings of its link change. */
export interface RolloutStep extends StepBase, MovesNodesOntoLink {
  kind: "rollout";
  cluster: ClusterRole;
}

/** SealMigration Shamir → the transit seal of `link`, node by node (later: onto its new token). */
export interface MigrationStep extends StepBase, MovesNodesOntoLink {
  kind: "migration";
  cluster: ClusterRole;
}

/** TransitKeyBackup of the key `link` uses, on its unsealer. */
export interface BackupStep extends StepBase {
  kind: "backup";
  link: string;
}

/** TransitKeyRestore of the backup onto the helper; fails while the copy is behind. */
export interface RestoreStep extends StepBase {
  kind: "restore";
  cluster: ClusterRole;
  mountPath: string;
  keyName: string;
  failOnDrift: boolean;
}

/**
 * RecoveryKeyRotation: the cluster's recovery keys rotated to the operators' PGP keys, once
 * its recovery keys exist (vault: at its init; vault-unlock: at its migration, when its
 * plaintext unseal keys become its recovery keys). Only when PGP keys are configured.
 */
export interface RecoveryRotationStep extends StepBase {
  kind: "recovery-rotation";
  cluster: ClusterRole;
}

export type PlanStep =
  | ClusterStep
  | InitStep
  | OperatorTokenStep
  | UnsealStep
  | AuditStep
  | LinkStep
  | RolloutStep
  | MigrationStep
  | BackupStep
  | RestoreStep
  | RecoveryRotationStep;

export interface PairPlanOptions {
  /** Operators' PGP keys are configured: both clusters' recovery keys are rotated to them. */
  recoveryPgpKeys?: boolean;
}

/** The link whose transit engine on `unsealer` seals `sealed`. */
function link(
  names: Record<ClusterRole, string>,
  o: Pick<LinkStep, "unsealer" | "sealed" | "bornSealed" | "after"> & Partial<LinkStep>,
): LinkStep {
  const sealed = names[o.sealed];
  return {
    kind: "link",
    name: `seal-of-${sealed}`,
    mountPath: TRANSIT_MOUNT,
    keyName: TRANSIT_KEY,
    policyName: sealPolicyName(TRANSIT_KEY, sealed),
    displayName: `seal-of-${sealed}`,
    allowBackup: false,
    createKey: true,
    keepAlive: false,
    ...o,
  };
}

/** The primary's steps: `vault` and `vault-unlock` unsealing each other, and the backup for the helper. */
export function pairPlan(names: Record<ClusterRole, string> = CLUSTER_NAMES, o: PairPlanOptions = {}): PlanStep[] {
  const v = names.vault;
  const vu = names.vaultUnlock;
  const sealOfVault = link(names, {
    unsealer: "vaultUnlock",
    sealed: "vault",
    bornSealed: true,
    allowBackup: true,
    after: [`${vu}-unseal`],
  });
  const sealOfUnlock = link(names, { unsealer: "vault", sealed: "vaultUnlock", bornSealed: false, after: [`${v}-seal-rollout`] });
  const recoveryRotations: RecoveryRotationStep[] = [
    { kind: "recovery-rotation", name: `${v}-recovery-keys`, cluster: "vault", after: [`${v}-init`] },
    // Not before: the migration needs vault-unlock's unseal keys, which become its recovery keys there.
    { kind: "recovery-rotation", name: `${vu}-recovery-keys`, cluster: "vaultUnlock", after: [`${vu}-seal-migration`] },
  ];
  return [
    { kind: "cluster", name: vu, cluster: "vaultUnlock", after: [] },
    { kind: "init", name: `${vu}-init`, cluster: "vaultUnlock", keys: "shamir", protect: true, after: [vu] },
    { kind: "unseal", name: `${vu}-unseal`, cluster: "vaultUnlock", after: [] },
    { kind: "operator-token", name: `${vu}-operator-token`, cluster: "vaultUnlock", after: [`${vu}-unseal`] },
    { kind: "audit", name: `${vu}-audit`, cluster: "vaultUnlock", after: [`${vu}-unseal`] },
    sealOfVault,
    // Created after its seal settings, so its pods start sealed by vault-unlock.
    { kind: "cluster", name: v, cluster: "vault", after: [sealOfVault.name] },
    { kind: "init", name: `${v}-init`, cluster: "vault", keys: "recovery", protect: true, after: [v] },
    { kind: "operator-token", name: `${v}-operator-token`, cluster: "vault", after: [`${v}-init`] },
    { kind: "audit", name: `${v}-audit`, cluster: "vault", after: [`${v}-init`] },
    {
      kind: "rollout",
      name: `${v}-seal-rollout`,
      cluster: "vault",
      link: sealOfVault.name,
      revokeSuperseded: true,
      after: [sealOfVault.name],
    },
    sealOfUnlock,
    {
      kind: "migration",
      name: `${vu}-seal-migration`,
      cluster: "vaultUnlock",
      link: sealOfUnlock.name,
      revokeSuperseded: true,
      after: [sealOfUnlock.name],
    },
    { kind: "backup", name: `${v}-transit-key-backup`, link: sealOfVault.name, after: [sealOfVault.name, `${vu}-seal-migration`] },
    ...(o.recoveryPgpKeys ? recoveryRotations : []),
  ];
}

/**
 * The helper's steps, under `prefix` (the HelperBackup's name). The backup comes from the
 * pair's backup step: through the primary stack's outputs, or in the lab's own records.
 */
export function helperPlan(prefix: string, names: Record<ClusterRole, string> = CLUSTER_NAMES): PlanStep[] {
  return [
    { kind: "cluster", name: `${prefix}-vault`, cluster: "helper", after: [] },
    { kind: "init", name: `${prefix}-init`, cluster: "helper", keys: "shamir", protect: true, after: [`${prefix}-vault`] },
    { kind: "unseal", name: `${prefix}-unseal`, cluster: "helper", after: [] },
    { kind: "operator-token", name: `${prefix}-operator-token`, cluster: "helper", after: [`${prefix}-unseal`] },
    { kind: "audit", name: `${prefix}-audit`, cluster: "helper", after: [`${prefix}-unseal`] },
    {
      kind: "restore",
      name: `${prefix}-key-copy`,
      cluster: "helper",
      mountPath: TRANSIT_MOUNT,
      keyName: TRANSIT_KEY,
      failOnDrift: true,
      after: [`${prefix}-unseal`],
    },
    // No step revokes the emergency tokens this link supersedes: the step that moves vault's
    // nodes onto the helper is the primary stack's rollout, which holds no token of the helper
    // and cannot tell which emergency token vault's nodes run on. Revoking one that vault runs
    // on during an emergency would leave it sealed; left alone, a superseded token is renewed
    // only by a seal that uses it (keepAlive renews the current one), so it dies one period
    // after the last node stops using it.
    {
      ...link(names, { unsealer: "helper", sealed: "vault", bornSealed: false, after: [`${prefix}-key-copy`] }),
      name: `${prefix}-emergency-link`,
      displayName: `emergency-seal-of-${names.vault}`,
      createKey: false,
      keepAlive: true,
    },
  ];
}

/**
 * The transit links `cluster` is the unsealer of (or holds the copy for, on the helper): what
 * its operator token may do with transit, and the seal policies and token roles it may use.
 */
export function sealGrantsOf(plan: PlanStep[], cluster: ClusterRole, tokenPeriod: string): SealGrant[] {
  return plan
    .filter((s): s is LinkStep => s.kind === "link" && s.unsealer === cluster)
    .map((l) => ({
      mountPath: l.mountPath,
      keyName: l.keyName,
      policyName: l.policyName,
      backup: l.allowBackup,
      restore: !l.createKey,
      tokenPeriod,
    }));
}

/** The one step of `kind` for `cluster` (or named `name`), or an error naming what the plan lacks. */
export function stepOf<K extends PlanStep["kind"]>(
  plan: PlanStep[],
  kind: K,
  match: { cluster?: ClusterRole; name?: string },
): Extract<PlanStep, { kind: K }> {
  const found = plan.filter(
    (s) =>
      s.kind === kind &&
      (match.name === undefined || s.name === match.name) &&
      (match.cluster === undefined || ("cluster" in s && s.cluster === match.cluster)),
  );
  if (found.length !== 1) throw new Error(`the plan has ${found.length} ${kind} steps for ${JSON.stringify(match)}, expected one`);
  return found[0] as Extract<PlanStep, { kind: K }>;
}
