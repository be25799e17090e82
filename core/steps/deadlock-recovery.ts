/**
 * Breaking a deadlock (both clusters sealed, each waiting for the other) in one call:
 * unseal the helper, point `vault`'s seal at the helper's copy of the key, let `vault`
 * unseal, let `vault-unlock` unseal from `vault`, point `vault` back. Pointing at the helper
 * changes only the address and token of the seal: the stored seal config has no address,
 * so this is not a migration and no keys are needed for `vault`.
 *
 * Every step checks the state first, so the call is safe to repeat after an interruption.
 */
import { InputError } from "../errors";
import { NodeControl, SealSettings } from "../nodes";
import { sameTransitKey, TransitSeal } from "../render/seal";
import { VaultClient } from "../vault-client";
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
  /** The helper's seal token used (new when the earlier one had expired): store it. */
  emergencyLink: { token: string; accessor: string };
  /** Milliseconds of each phase, for the lab report. */
  phases: { name: string; ms: number }[];
  totalMs: number;
}

function enabledTransit(s: SealSettings, key: string): TransitSeal {
  const t = s.stanzas.filter((x) => !x.disabled);
  if (t.length !== 1) throw new InputError(key, "must have exactly one enabled transit seal block");
  return t[0];
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

  let link = o.emergencyLink;
  await phase("unseal the helper", async () => {
    await unsealNode(o.helper, o.helperUnsealKeys, { timeoutMs });
    const l = await provisionTransitLink(o.helper, {
      mountPath: emergency.mountPath,
      keyName: emergency.keyName,
      createKey: false,
      tokenPeriod: o.tokenPeriod,
      displayName: "emergency-seal-of-vault",
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
  await phase("point vault's seal back at vault-unlock", async () => {
    await o.vault.applySeal(o.normal);
    await rolloutSeal(o.vault, { adminToken: o.vaultAdminToken, timeoutMs, log });
    await waitClusterUnsealed(o.vault, { timeoutMs });
  });
  return { emergencyLink: link!, phases, totalMs: Date.now() - t0 };
}
