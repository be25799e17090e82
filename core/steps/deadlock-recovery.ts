/**
 * Breaking a deadlock (both clusters sealed, each waiting for the other) in one call:
 * unseal the helper, point `vault`'s seal at the helper's copy of the key, let `vault`
 * unseal, let `vault-unlock` unseal from `vault`, point `vault` back. Pointing at the helper
 * changes only the address and token of the seal: the stored seal config has no address,
 * so this is not a migration and no keys are needed for `vault`.
 *
 * Before changing anything it reads what the nodes and `vault`'s applied seal settings say
 * (see `findRecoveryState`) and refuses with `NotDeadlockedError` when there is nothing to
 * recover, so a healthy pair is never rolled onto the helper and back. A run interrupted
 * half-way leaves a state it recognises, and a second call finishes the job.
 */
import { InputError, VaultOpError } from "../errors";
import { CLUSTER_NAMES, helperPlan, sealPolicyName, stepOf } from "../pair-plan";
import { NodeControl, SealSettings, sealSettingsDigest } from "../nodes";
import { sameTransitKey, TransitSeal } from "../render/seal";
import { VaultClient } from "../vault-client";
import { describe, NodeState, observe } from "./node-state";
import { rolloutSeal } from "./rollout";
import { provisionTransitLink } from "./transit-link";
import { unsealNode, waitClusterUnsealed } from "./unseal";

export interface DeadlockRecoveryOptions {
  /** The cluster whose key the helper holds a copy of. */
  vault: NodeControl;
  /** The cluster sealed by `vault`. */
  vaultUnlock: NodeControl;
  /** The helper's API with its root token, and its Shamir unseal keys (it is unsealed by hand by design). */
  helper: VaultClient;
  helperUnsealKeys: string[];
  /** `vault`'s usual seal settings (pointing at vault-unlock). */
  normal: SealSettings;
  /** `vault`'s seal block pointing at the helper: the same key, another address. */
  emergency: TransitSeal;
  /**
   * The helper's seal token from an earlier run. Nothing renews it while the helper is not
   * in use, so it may have outlived its period: a dead one is replaced.
   */
  emergencyLink?: { token: string; accessor: string };
  tokenPeriod?: string;
  /** `vault`'s root (or sudo) token, for the step-down when switching back. */
  vaultAdminToken: string;
  timeoutMs?: number;
  log?: (msg: string) => void;
}

export interface RecoveryReport {
  /** What the call found before it started (see findRecoveryState). */
  found: RecoveryStart;
  /**
   * The helper's seal token used (new when the earlier one had expired): store it. When the
   * call only switched back it did not touch the helper and returns the `emergencyLink` given.
   */
  emergencyLink?: { token: string; accessor: string };
  /** Milliseconds of each phase, for the lab report. */
  phases: { name: string; ms: number }[];
  totalMs: number;
}

function enabledTransit(s: SealSettings, key: string): TransitSeal {
  const t = s.stanzas.filter((x) => !x.disabled);
  if (t.length !== 1) throw new InputError(key, "must have exactly one enabled transit seal block");
  return t[0];
}

/**
 * Where a recovery starts, read from the nodes and from `vault`'s applied seal settings:
 * - `deadlock`: `vault`'s seal points at vault-unlock, and no node of either cluster is
 *   unsealed (each is down, held at its peer gate, or sealed). All four phases are run.
 * - `on the helper`: `vault`'s applied seal points at the helper: an earlier call was
 *   interrupted after "point vault's seal at the helper". Every phase is run again; the
 *   ones already done find nothing to do (unsealing and rollouts skip what is done).
 * - `switching back`: `vault`'s seal points at vault-unlock again, both clusters have an
 *   unsealed node, but a running node of `vault` was started with other settings (it still
 *   runs the helper's): an earlier call was interrupted in its last phase. Only that phase
 *   (rolling `vault` onto its applied settings) is run.
 */
export type RecoveryStart = "deadlock" | "on the helper" | "switching back";

/** Nothing to recover: the call changed nothing. `vault` and `vaultUnlock` are what the nodes reported. */
export class NotDeadlockedError extends VaultOpError {
  constructor(
    readonly vault: NodeState[],
    readonly vaultUnlock: NodeState[],
    reason: string,
  ) {
    super(
      `not a deadlock, nothing changed: ${reason} (vault: ${describe(vault)}; vault-unlock: ${describe(vaultUnlock)}). ` +
        `recoverFromDeadlock is for both clusters sealed at once, or for finishing an interrupted recovery.`,
    );
  }
}

const unsealed = (states: NodeState[]) => states.some((s) => s.reachable && !s.sealed);

/** Reads the state (nothing is changed); throws NotDeadlockedError when there is nothing to recover. */
export async function findRecoveryState(o: Pick<DeadlockRecoveryOptions, "vault" | "vaultUnlock" | "emergency">): Promise<RecoveryStart> {
  const applied = await o.vault.appliedSeal();
  const enabled = applied.stanzas.filter((x) => !x.disabled);
  if (enabled.length === 1 && enabled[0].address === o.emergency.address) return "on the helper";
  const [vault, vaultUnlock] = await Promise.all([observe(o.vault), observe(o.vaultUnlock)]);
  const vaultUp = unsealed(vault);
  const vaultUnlockUp = unsealed(vaultUnlock);
  if (!vaultUp && !vaultUnlockUp) return "deadlock";
  if (!vaultUp)
    throw new NotDeadlockedError(vault, vaultUnlock, "vault-unlock is unsealed: vault's nodes auto-unseal from it when (re)started");
  if (!vaultUnlockUp)
    throw new NotDeadlockedError(vault, vaultUnlock, "vault is unsealed: vault-unlock's nodes auto-unseal from it when (re)started");
  const want = sealSettingsDigest(applied);
  const stale: string[] = [];
  for (const id of o.vault.nodeIds()) {
    const running = await o.vault.runningSealDigest(id);
    if (running !== undefined && running !== want) stale.push(id);
  }
  if (stale.length > 0) return "switching back";
  throw new NotDeadlockedError(
    vault,
    vaultUnlock,
    "both clusters are unsealed and every running node of vault runs its seal pointing at vault-unlock",
  );
}

export async function recoverFromDeadlock(o: DeadlockRecoveryOptions): Promise<RecoveryReport> {
  const normal = enabledTransit(o.normal, "normal");
  const emergency = o.emergency;
  if (!sameTransitKey(normal, emergency)) {
    throw new InputError(
      "emergency",
      `points at key ${emergency.mountPath}/${emergency.keyName} but vault is sealed by ${normal.mountPath}/${normal.keyName}: the helper must hold a copy of the same key under the same mount and name`,
    );
  }
  if (normal.address === emergency.address) {
    throw new InputError("emergency", `has the same address as vault's usual seal (${normal.address}): it must point at the helper`);
  }
  const log = o.log ?? (() => undefined);
  const phases: RecoveryReport["phases"] = [];
  const t0 = Date.now();
  const phase = async (name: string, fn: () => Promise<void>) => {
    const start = Date.now();
    log(name);
    await fn();
    phases.push({ name, ms: Date.now() - start });
  };
  const timeoutMs = o.timeoutMs ?? 60_000;
  const found = await findRecoveryState(o);
  log(`found: ${found}`);
  const pointBack = () =>
    phase("point vault's seal back at vault-unlock", async () => {
      await o.vault.applySeal(o.normal);
      await rolloutSeal(o.vault, { adminToken: o.vaultAdminToken, timeoutMs, log });
      await waitClusterUnsealed(o.vault, { timeoutMs });
    });
  if (found === "switching back") {
    await pointBack();
    return { found, emergencyLink: o.emergencyLink, phases, totalMs: Date.now() - t0 };
  }

  let link = o.emergencyLink;
  await phase("unseal the helper", async () => {
    await unsealNode(o.helper, o.helperUnsealKeys, { timeoutMs });
    // A token issued here is the one the helper's stack would issue: the plan's emergency link, on this key.
    const spec = stepOf(helperPlan("helper"), "link", {});
    const l = await provisionTransitLink(o.helper, {
      mountPath: emergency.mountPath,
      keyName: emergency.keyName,
      policyName: sealPolicyName(emergency.keyName, CLUSTER_NAMES.vault),
      createKey: spec.createKey,
      tokenPeriod: o.tokenPeriod,
      displayName: spec.displayName,
      existing: link,
    });
    link = { token: l.token, accessor: l.accessor };
  });
  await phase("point vault's seal at the helper and start vault", async () => {
    await o.vault.applySeal({ stanzas: [emergency], transitToken: link!.token });
    await rolloutSeal(o.vault, { adminToken: o.vaultAdminToken, timeoutMs, log });
    await waitClusterUnsealed(o.vault, { timeoutMs });
  });
  await phase("vault-unlock unseals from vault", async () => {
    // Nodes held at the peer gate or crash-looping come back by themselves on Kubernetes;
    // here, any node that is not running is started.
    for (const id of o.vaultUnlock.nodeIds()) {
      if ((await o.vaultUnlock.runningSealDigest(id)) === undefined) await o.vaultUnlock.restart(id);
    }
    await waitClusterUnsealed(o.vaultUnlock, { timeoutMs });
  });
  await pointBack();
  return { found, emergencyLink: link!, phases, totalMs: Date.now() - t0 };
}
