/**
 * The lab's scenarios: what the article's author did to his clusters (rolling updates,
 * host reboots, whole-cluster reboots, lost links, the deadlock), on real servers, with the
 * prober watching. Each returns what a reader of the report needs.
 */
import { LocalCluster } from "../adapters/local/local-cluster";
import { checkKeyDrift } from "../core/steps/key-copy";
import { recoverFromDeadlock, RecoveryReport } from "../core/steps/deadlock-recovery";
import { findActive, observe, describe } from "../core/steps/node-state";
import { rollingRestart as rollNodes, stepDown } from "../core/steps/rollout";
import { rotateTransitKey } from "../core/steps/transit-link";
import { tokenHealth } from "../core/steps/token-health";
import { waitClusterUnsealed } from "../core/steps/unseal";
import { sleep } from "../core/wait";
import { availability, Availability, Prober } from "./prober";
import { Topology } from "./topology";

export const SECRET_PATH = "kv/lab-probe";

export interface ScenarioResult {
  id: string;
  title: string;
  startedAt: number;
  endedAt: number;
  availability: Record<string, Availability>;
  /** From the last disruption (or the heal, or the recovery command) to every node of both clusters unsealed. */
  timeToAllUnsealedMs: number;
  secretIntact: boolean;
  /** Scenario-specific figures, e.g. the drift versions or token TTLs. */
  details: Record<string, string | number | boolean>;
}

export interface Ctx {
  t: Topology;
  prober: Prober;
  secretValue: string;
  log: (msg: string) => void;
}

export interface Scenario {
  id: string;
  title: string;
  /** Runs the disruption; resolves with the prober time the clock of "time to all unsealed" starts at, and details. */
  run(ctx: Ctx): Promise<{ disruptionEnd: number; details?: ScenarioResult["details"] }>;
}

const both = (t: Topology) => [t.vaultUnlock, t.vault];

async function allUnsealed(t: Topology): Promise<void> {
  await Promise.all(both(t).map((c) => waitClusterUnsealed(c, { timeoutMs: 120_000, intervalMs: 50 })));
}

async function secretIntact(ctx: Ctx): Promise<boolean> {
  for (const cluster of ["vault", "vault-unlock"] as const) {
    const v = await ctx.t
      .admin(cluster)
      .read<{ data: { value: string } }>(SECRET_PATH)
      .then(
        (r) => r.body.data.value,
        () => undefined,
      );
    if (v !== ctx.secretValue) return false;
  }
  return true;
}

export async function runScenario(ctx: Ctx, s: Scenario): Promise<ScenarioResult> {
  ctx.log(`scenario ${s.id}: ${s.title}`);
  ctx.prober.mark(s.id, "start");
  const startedAt = ctx.prober.now();
  const { disruptionEnd, details } = await s.run(ctx);
  await allUnsealed(ctx.t);
  const unsealedAt = ctx.prober.now();
  // Let the prober see the recovered state for a moment before closing the window.
  await sleep(500);
  const endedAt = ctx.prober.now();
  ctx.prober.mark(s.id, "end");
  const result: ScenarioResult = {
    id: s.id,
    title: s.title,
    startedAt,
    endedAt,
    availability: Object.fromEntries(["vault", "vault-unlock"].map((c) => [c, availability(ctx.prober.samples, c, startedAt, endedAt)])),
    timeToAllUnsealedMs: unsealedAt - disruptionEnd,
    secretIntact: await secretIntact(ctx),
    details: details ?? {},
  };
  if (!result.secretIntact) throw new Error(`scenario ${s.id}: the secret written at the start is no longer readable`);
  return result;
}

async function deadlockAndRecover(ctx: Ctx): Promise<{ disruptionEnd: number; report: RecoveryReport; heldMs: number }> {
  const t = ctx.t;
  await Promise.all(both(t).map((c) => c.stopAll()));
  // Both try to come back; each waits at its peer gate for a peer that never answers.
  const heldMs = 5000;
  const attempts = await Promise.allSettled(both(t).flatMap((c) => c.nodeIds().map((id) => c.start(id, { gateTimeoutMs: heldMs }))));
  const running = both(t).flatMap((c) => c.nodeIds().filter((id) => c.isRunning(id)));
  if (attempts.some((a) => a.status === "fulfilled") || running.length > 0) {
    throw new Error(`deadlock scenario: expected every node to be held at its peer gate, but ${running.join(", ")} started`);
  }
  ctx.log(`  deadlock: both clusters down, every node held at its peer gate for ${heldMs / 1000} s; recovering through the helper`);
  const disruptionEnd = ctx.prober.now();
  const report = await recover(t, ctx.log);
  return { disruptionEnd, report, heldMs };
}

/** The one-step recovery (`npm run lab -- recover` runs the same). */
export async function recover(t: Topology, log: (m: string) => void): Promise<RecoveryReport> {
  const report = await recoverFromDeadlock({
    vault: t.vault,
    vaultUnlock: t.vaultUnlock,
    helper: t.operator("helper"),
    helperUnsealKeys: t.state.helper!.unsealKeys,
    emergencyLink: t.state.helper!.link,
    emergency: t.emergencySeal(),
    normal: t.normalSeal(),
    vaultAdminToken: t.state.vault!.operatorToken,
    tokenPeriod: t.opts.tokenPeriod,
    log: (m) => log(`  ${m}`),
  });
  t.state.helper!.link = report.emergencyLink;
  return report;
}

export const rollingRestart: Scenario = {
  id: "rolling-restart",
  title: "rolling restart of every node of both clusters, one at a time (standbys first, the active after a step-down)",
  async run(ctx) {
    let last = 0;
    for (const c of both(ctx.t)) {
      const adminToken = c === ctx.t.vault ? ctx.t.state.vault!.operatorToken : ctx.t.state.vaultUnlock!.operatorToken;
      await rollNodes(c, {
        adminToken,
        log: (m) => {
          last = ctx.prober.now();
          ctx.log(`  ${m}`);
        },
      });
    }
    return { disruptionEnd: last };
  },
};

export const killActive: Scenario = {
  id: "kill-active",
  title: "kill -9 of the active node of each cluster (restarted at once, as the kubelet would)",
  async run(ctx) {
    let last = 0;
    const details: ScenarioResult["details"] = {};
    for (const c of both(ctx.t)) {
      const active = await findActive(c);
      if (!active) throw new Error(`${c.name} has no active node: ${describe(await observe(c))}`);
      last = ctx.prober.now();
      await c.stop(active, "SIGKILL");
      await c.start(active);
      await waitClusterUnsealed(c, { timeoutMs: 60_000, intervalMs: 50 });
      details[`${c.name} killed`] = active;
    }
    return { disruptionEnd: last, details };
  },
};

/** A whole cluster restarted while its peer is up: the peer must not notice. */
function fullRestartOf(which: "vault-unlock" | "vault"): Scenario {
  return {
    id: `full-restart-${which}`,
    title: `full restart of every node of ${which} at once while the other cluster is up`,
    async run(ctx) {
      const c: LocalCluster = which === "vault" ? ctx.t.vault : ctx.t.vaultUnlock;
      await c.stopAll();
      const started = ctx.prober.now();
      await c.startAll();
      await waitClusterUnsealed(c, { timeoutMs: 60_000, intervalMs: 50 });
      return { disruptionEnd: started, details: { "processes started → all unsealed (ms)": ctx.prober.now() - started } };
    },
  };
}

export const fullRestartVaultUnlock = fullRestartOf("vault-unlock");
export const fullRestartVault = fullRestartOf("vault");

export const partition: Scenario = {
  id: "partition",
  title: "link between the clusters cut while vault-unlock restarts; its nodes wait at the peer gate",
  async run(ctx) {
    const t = ctx.t;
    t.linkToVault.cut();
    t.linkToVaultUnlock.cut();
    await t.vaultUnlock.stopAll();
    const starting = t.vaultUnlock.startAll();
    await sleep(3000);
    const held = t.vaultUnlock.nodeIds().filter((id) => !t.vaultUnlock.isRunning(id)).length;
    t.linkToVault.heal();
    t.linkToVaultUnlock.heal();
    const healed = ctx.prober.now();
    await starting;
    return {
      disruptionEnd: healed,
      details: { "nodes held at the peer gate during the cut": `${held}/${t.vaultUnlock.nodeIds().length}` },
    };
  },
};

export const deadlock: Scenario = {
  id: "deadlock",
  title: "deadlock: both clusters down; recovered in one step through the helper",
  async run(ctx) {
    const { disruptionEnd, report, heldMs } = await deadlockAndRecover(ctx);
    const details: ScenarioResult["details"] = { "stayed sealed (held at the gate) for ms": heldMs, "recovery total (ms)": report.totalMs };
    for (const p of report.phases) details[`recovery: ${p.name} (ms)`] = p.ms;
    return { disruptionEnd, details };
  },
};

export const keyRotation: Scenario = {
  id: "key-rotation",
  title:
    "transit key rotated on vault-unlock: drift detected, the plan re-run re-syncs the copy, deadlock recovery still works after vault's leader changed",
  async run(ctx) {
    const t = ctx.t;
    // Reads must see the rotation: ask the active node, not any node behind the Service.
    const vu = await t.activeAdmin("vault-unlock");
    const helper = t.admin("helper");
    const latest = await rotateTransitKey(vu, t.sealOfVault.mountPath, t.sealOfVault.keyName);
    const drift = await checkKeyDrift(vu, t.sealOfVault, helper);
    if (drift.inSync) throw new Error("key-rotation: the drift check did not notice the rotation");
    // What an operator does: `pulumi up` of both stacks, here the same plan through the same providers
    // (the backup sees the rotation and takes a new one, the restore brings the helper's copy up to it).
    await t.bootstrap();
    const after = await checkKeyDrift(vu, t.sealOfVault, helper);
    if (!after.inSync) throw new Error(`key-rotation: still drifting after the plan ran again: ${after.verdict}`);
    const active = (await findActive(t.vault))!;
    await stepDown(t.vault, active, t.state.vault!.operatorToken);
    const { disruptionEnd, report } = await deadlockAndRecover(ctx);
    return {
      disruptionEnd,
      details: {
        "latest key version": latest,
        "helper version before re-sync": drift.helperVersion ?? 0,
        "helper version after": after.helperVersion ?? 0,
        "recovery total (ms)": report.totalMs,
      },
    };
  },
};

/** Not a disruption: the token figures at the end of the run. */
export async function tokenLifetimes(t: Topology): Promise<Record<string, string | number | boolean>> {
  const out: Record<string, string | number | boolean> = {};
  const links: [string, "vault" | "vault-unlock" | "helper", string][] = [
    ["seal of vault (on vault-unlock)", "vault-unlock", t.state.linkToVault!.accessor],
    ["seal of vault-unlock (on vault)", "vault", t.state.linkToVaultUnlock!.accessor],
    ["emergency seal of vault (on the helper)", "helper", t.state.helper!.link!.accessor],
  ];
  for (const [name, where, accessor] of links) {
    const h = await tokenHealth(t.admin(where), accessor).catch((e: Error) => e);
    out[name] =
      h instanceof Error ? `DEAD: ${h.message}` : `alive, ttl ${h.ttlSeconds} s of a ${h.periodSeconds} s period, orphan=${h.orphan}`;
  }
  return out;
}

export const ALL: Scenario[] = [rollingRestart, killActive, fullRestartVaultUnlock, fullRestartVault, partition, deadlock, keyRotation];
export const QUICK: Scenario[] = [rollingRestart, deadlock];
