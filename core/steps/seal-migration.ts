/**
 * Seal migration of an HA cluster without downtime: Shamir → transit, transit → Shamir and
 * transit → transit. Standbys are restarted on the migration config and
 * unsealed with `migrate`, the active node steps down, the new active migrates the stored
 * keys, then the old active (and, when the migration config kept a disabled block, every
 * node) is rolled onto the final config.
 *
 * The orchestration keeps no log of its own: each run reads the cluster's state and does
 * what is left, so a run stopped at any point is finished by the next one.
 *
 * Same key and mount, another address or token (a rotated link token, the emergency switch to
 * the helper that holds a copy of the key) is no migration: the stored keys stay wrapped by
 * the same key, so the nodes only need the new settings: that is a re-pointing (repointSeal),
 * and `sealTo` chooses between the two.
 */
import { InputError } from "../errors";
import { isUpToDate, NodeControl, SealSettings, sealSettingsDigest } from "../nodes";
import { Flavour } from "../render/server-config";
import { Seal, migrationSeal, sameTransitKey, steadySeal } from "../render/seal";
import { waitFor } from "../wait";
import { describe, findActive, nodeState, observe } from "./node-state";
import { bringUp, rolloutSeal, stepDown } from "./rollout";

export interface MigrationOptions {
  from: Seal;
  to: Seal;
  /** Token for `to` when it is transit. */
  toToken?: string;
  /** Token for `from` when it is transit: the old seal must still decrypt the stored keys. */
  fromToken?: string;
  /** Shamir unseal keys (from Shamir) or recovery keys (from transit); after the migration they are the other kind. */
  keys: string[];
  /** Root (or sudo) token, for step-down. */
  adminToken: string;
  /** The server kind; needed for transit → transit with two tokens (OpenBao only). */
  flavour?: Flavour;
  timeoutMs?: number;
  log?: (msg: string) => void;
}

export interface MigrationResult {
  /** False when the cluster was already migrated and nothing was done. */
  changed: boolean;
  /** Seal type the cluster reports now. */
  sealType: string;
}

/** The seal settings during the migration and after it. */
export function migrationPlan(o: Pick<MigrationOptions, "from" | "to" | "toToken" | "fromToken" | "flavour">): {
  migrating: SealSettings;
  final: SealSettings;
} {
  if (o.from.type === "transit" && o.to.type === "transit" && sameTransitKey(o.from, o.to)) {
    throw new InputError(
      "to",
      "the new transit seal names the same key and mount as the old one: that is a re-pointing (apply the settings and roll the nodes), not a migration",
    );
  }
  if (o.to.type === "transit" && !o.toToken)
    throw new InputError("toToken", "migrating to a transit seal needs the token of the new transit link");
  if (o.from.type === "transit" && !o.fromToken)
    throw new InputError(
      "fromToken",
      "migrating away from a transit seal needs its token: the old seal must still decrypt the stored keys",
    );
  const final: SealSettings = { stanzas: steadySeal(o.to), transitToken: o.to.type === "transit" ? o.toToken : undefined };
  if (o.from.type === "transit" && o.to.type === "transit" && o.fromToken !== o.toToken) {
    // VAULT_TRANSIT_SEAL_TOKEN would give both blocks one token; OpenBao reads a per-block
    // env:// reference instead, so each block gets its own variable and nothing is in the file.
    if (o.flavour !== "openbao") {
      throw new InputError(
        "toToken",
        "a transit → transit migration with two tokens needs per-block env:// token references, an OpenBao feature: with Vault, issue one token valid on both unsealers or migrate through Shamir",
      );
    }
    const [old, next] = migrationSeal(o.from, o.to);
    return {
      migrating: {
        stanzas: [
          { ...old, tokenEnv: "BAO_OLD_SEAL_TOKEN" },
          { ...next, tokenEnv: "BAO_NEW_SEAL_TOKEN" },
        ],
        tokenEnv: { BAO_OLD_SEAL_TOKEN: o.fromToken!, BAO_NEW_SEAL_TOKEN: o.toToken! },
      },
      final,
    };
  }
  const migrating: SealSettings = { stanzas: migrationSeal(o.from, o.to), transitToken: o.to.type === "transit" ? o.toToken : o.fromToken };
  return { migrating, final };
}

/**
 * True once the active node runs the migration (or final) settings and reports no migration
 * in progress: a node on those settings can only have become active by migrating.
 */
async function migrated(cluster: NodeControl, targetType: string, digests: string[]): Promise<boolean> {
  const active = await findActive(cluster);
  if (!active) return false;
  const status = await cluster.client(active).sealStatus();
  const running = await cluster.runningSealDigest(active);
  return !status.migration && status.type === targetType && running !== undefined && digests.includes(running);
}

/** True when the active node runs on a seal of `type` with no migration under way. */
export async function runsOnSeal(cluster: NodeControl, type: string): Promise<boolean> {
  const active = await findActive(cluster);
  if (!active) return false;
  const s = await cluster.client(active).sealStatus();
  return s.type === type && !s.migration;
}

/** Seal type the active node reports, "unknown" with no active node. */
async function activeSealType(cluster: NodeControl): Promise<string> {
  const active = await findActive(cluster);
  return active ? (await cluster.client(active).sealStatus()).type : "unknown";
}

export type RepointOptions = Pick<MigrationOptions, "to" | "toToken" | "keys" | "adminToken" | "timeoutMs" | "log">;

/**
 * Re-pointing: applies the final settings of `to` (a new token or address for the same key)
 * and rolls every node that does not run them, the active last. Nothing is migrated.
 */
export async function repointSeal(cluster: NodeControl, o: RepointOptions): Promise<MigrationResult> {
  const final: SealSettings = { stanzas: steadySeal(o.to), transitToken: o.to.type === "transit" ? o.toToken : undefined };
  let changed = false;
  if ((await currentDigest(cluster)) !== sealSettingsDigest(final)) {
    o.log?.(`${cluster.name}: applying the re-pointed seal settings`);
    await cluster.applySeal(final);
    changed = true;
  }
  for (const id of cluster.nodeIds()) if (!(await isUpToDate(cluster, id))) changed = true;
  if (changed) await rolloutSeal(cluster, { adminToken: o.adminToken, keys: o.keys, timeoutMs: o.timeoutMs, log: o.log });
  return { changed, sealType: await activeSealType(cluster) };
}

/**
 * Brings the cluster onto `o.to`. `reached` is the seal an earlier run completed the move to,
 * if any: when it names the same key as `to` and the cluster runs on that seal, the change is
 * a re-pointing; otherwise it is a migration, from wherever the cluster is.
 */
export async function sealTo(cluster: NodeControl, o: MigrationOptions & { reached?: Seal }): Promise<MigrationResult> {
  if (o.reached && sameTransitKey(o.reached, o.to) && (await runsOnSeal(cluster, o.to.type))) return repointSeal(cluster, o);
  return migrateSeal(cluster, o);
}

async function currentDigest(cluster: NodeControl): Promise<string> {
  return sealSettingsDigest(await cluster.appliedSeal());
}

export async function migrateSeal(cluster: NodeControl, o: MigrationOptions): Promise<MigrationResult> {
  const { migrating, final } = migrationPlan(o);
  const log = o.log ?? (() => undefined);
  const targetType = o.to.type;
  const digests = [sealSettingsDigest(migrating), sealSettingsDigest(final)];
  const applied = await currentDigest(cluster);
  let changed = false;

  if (!(await migrated(cluster, targetType, digests))) {
    if (applied !== digests[0]) {
      log(`${cluster.name}: applying the migration seal settings`);
      await cluster.applySeal(migrating);
    }
    changed = true;
    const nodes = cluster.nodeIds();
    let active = await findActive(cluster);
    if (!active)
      throw new Error(`${cluster.name} has no active node: unseal it before migrating its seal (${describe(await observe(cluster))})`);

    // Standbys first: restarted on the migration settings, unsealed with migrate.
    for (const id of nodes.filter((n) => n !== active)) {
      if (!(await isUpToDate(cluster, id))) {
        log(`${cluster.name}: restarting standby ${id} with the new seal`);
        await cluster.restart(id);
      }
      const s = await nodeState(id, cluster.client(id));
      if (s.sealed) {
        log(`${cluster.name}: unsealing ${id} in migration mode`);
        await bringUp(cluster, id, { keys: o.keys, migrate: true, timeoutMs: o.timeoutMs });
      }
    }

    if (!(await isUpToDate(cluster, active))) {
      if (nodes.length > 1) {
        // The new active performs the migration when it takes over.
        active = await stepDown(cluster, active, o.adminToken, o.timeoutMs);
        log(`${cluster.name}: ${active} is active and migrates the stored keys`);
      } else {
        log(`${cluster.name}: single node: restarting ${active} with the new seal`);
        await cluster.restart(active);
        await bringUp(cluster, active, { keys: o.keys, migrate: true, timeoutMs: o.timeoutMs });
      }
    }
    await waitFor(
      `${cluster.name} to finish migrating to ${targetType}`,
      async () => {
        const states = await observe(cluster);
        return { done: await migrated(cluster, targetType, digests), state: describe(states) };
      },
      { timeoutMs: o.timeoutMs ?? 120_000, intervalMs: 200 },
    );
    log(`${cluster.name}: stored keys migrated to ${targetType}`);
  }

  // Roll every node onto the final settings. Under a disabled block nothing auto-unseals,
  // so that block goes away now; nodes still on old settings are restarted last-active-last.
  if ((await currentDigest(cluster)) !== digests[1]) {
    log(`${cluster.name}: applying the final seal settings`);
    await cluster.applySeal(final);
    changed = true;
  }
  const stale = [];
  for (const id of cluster.nodeIds()) if (!(await isUpToDate(cluster, id))) stale.push(id);
  if (stale.length > 0) {
    changed = true;
    await rolloutSeal(cluster, { adminToken: o.adminToken, keys: o.keys, timeoutMs: o.timeoutMs, log });
  }
  return { changed, sealType: await activeSealType(cluster) };
}
