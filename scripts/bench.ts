/**
 * `npm run bench`: timings of the mutual unseal on real `bao` servers on loopback.
 *
 *   1. one node of `vault` restarted: process start → unsealed through vault-unlock's transit
 *   2. seal migration of vault-unlock (3 nodes) Shamir → transit, as bootstrap runs it
 *   3. every node of a cluster restarted at once: start → all unsealed, and → one active
 *
 * Prints a table with machine information and writes bench-results.json (git-ignored) in the
 * project root. Run counts: BENCH_NODE_RESTARTS (12), BENCH_MIGRATIONS (3),
 * BENCH_FULL_RESTARTS (5). Every server process and proxy the script starts is stopped on
 * success, failure and Ctrl-C. Nothing secret (keys, tokens) is printed or written.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { performance } from "perf_hooks";
import { binaryFlavour, findServerBinary, PROJECT_ROOT } from "../adapters/local/bao-binary";
import { LocalCluster } from "../adapters/local/local-cluster";
import { describe, findActive, observe } from "../core/steps/node-state";
import { waitClusterUnsealed } from "../core/steps/unseal";
import { sleep, waitFor } from "../core/wait";
import { BenchTopology, destroyAll, ServerBinary } from "./bench-topology";

const POLL_MS = 20;
const WAIT_MS = 120_000;

function runs(env: string, fallback: number, min: number): number {
  const raw = process.env[env];
  const n = raw === undefined ? fallback : Number.parseInt(raw, 10);
  if (!Number.isInteger(n) || n < min) throw new Error(`${env} must be an integer ≥ ${min} (got ${raw})`);
  return n;
}

// ---------------------------------------------------------------------------------------------
// Statistics and output

interface Stat {
  key: string;
  label: string;
  runs: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  samplesMs: number[];
}

function stat(key: string, label: string, samples: number[]): Stat {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  const r = (x: number) => Math.round(x);
  return {
    key,
    label,
    runs: samples.length,
    medianMs: r(median),
    minMs: r(sorted[0]),
    maxMs: r(sorted[sorted.length - 1]),
    samplesMs: samples.map(r),
  };
}

function table(stats: Stat[]): string {
  const head = ["measurement", "runs", "median ms", "min ms", "max ms"];
  const rows = stats.map((s) => [s.label, String(s.runs), String(s.medianMs), String(s.minMs), String(s.maxMs)]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [line(head), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

function say(msg: string): void {
  const t = new Date().toISOString().slice(11, 19);
  console.log(`[${t}] ${msg}`);
}

// ---------------------------------------------------------------------------------------------
// Watching nodes come up

interface Watch {
  /** ms after t0 at which each node first reported sealed=false. */
  unsealedMs: Record<string, number>;
  /** ms after t0 at which all of them had. */
  allUnsealedMs: number;
  /** ms after t0 at which some node first reported sealed=false and standby=false. */
  activeMs?: number;
  activeNode?: string;
}

/**
 * Polls /v1/sys/health of `ids` every POLL_MS from now on (unreachable counts as "not yet")
 * until each is unsealed and, when `needActive`, one of the cluster is active.
 */
async function watchNodes(cluster: LocalCluster, ids: string[], t0: number, needActive: boolean): Promise<Watch> {
  const unsealedMs: Record<string, number> = {};
  let activeMs: number | undefined;
  let activeNode: string | undefined;
  const deadline = t0 + WAIT_MS;
  const last: Record<string, string> = {};
  await Promise.all(
    ids.map(async (id) => {
      const client = cluster.client(id);
      for (;;) {
        const h = await client.health().catch((e: Error) => {
          last[id] = e.message.slice(0, 80);
          return undefined;
        });
        const now = performance.now();
        if (h) {
          last[id] = h.sealed ? "sealed" : h.standby ? "standby" : "active";
          if (!h.sealed && unsealedMs[id] === undefined) unsealedMs[id] = now - t0;
          if (!h.sealed && !h.standby && activeMs === undefined) {
            activeMs = now - t0;
            activeNode = id;
          }
        }
        if (unsealedMs[id] !== undefined && (!needActive || activeMs !== undefined)) return;
        if (now > deadline)
          throw new Error(
            `${cluster.name}: timed out after ${WAIT_MS} ms waiting for ${ids.join(", ")} (${ids.map((x) => `${x}: ${last[x] ?? "?"}`).join("; ")})`,
          );
        await sleep(POLL_MS);
      }
    }),
  );
  return { unsealedMs, allUnsealedMs: Math.max(...ids.map((id) => unsealedMs[id])), activeMs, activeNode };
}

/** Starts `ids` at once while watching them; waits for every start to settle before returning or throwing. */
async function startAndWatch(cluster: LocalCluster, ids: string[], needActive: boolean): Promise<Watch> {
  const t0 = performance.now();
  const starts = Promise.allSettled(ids.map((id) => cluster.start(id)));
  const watch = watchNodes(cluster, ids, t0, needActive).then(
    (w) => ({ w }),
    (e: unknown) => ({ e }),
  );
  const [settled, watched] = await Promise.all([starts, watch]);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (failed) throw failed.reason;
  if ("e" in watched) throw watched.e;
  return watched.w;
}

/** Every node unsealed and one of them active: the state each run starts from. */
async function settle(cluster: LocalCluster): Promise<void> {
  await waitClusterUnsealed(cluster, { timeoutMs: WAIT_MS });
  await waitFor(
    `${cluster.name} to have an active node`,
    async () => ({ done: (await findActive(cluster)) !== undefined, state: describe(await observe(cluster)) }),
    { timeoutMs: WAIT_MS },
  );
}

// ---------------------------------------------------------------------------------------------
// The benchmarks

interface NodeRestartSample {
  node: string;
  wasActive: boolean;
  stopMs: number;
  unsealedMs: number;
}

async function benchNodeRestarts(vault: LocalCluster, count: number): Promise<NodeRestartSample[]> {
  const out: NodeRestartSample[] = [];
  const ids = vault.nodeIds();
  for (let i = 0; i < count; i++) {
    const id = ids[i % ids.length];
    await settle(vault);
    const wasActive = (await findActive(vault)) === id;
    const s0 = performance.now();
    await vault.stop(id);
    const stopMs = performance.now() - s0;
    const w = await startAndWatch(vault, [id], false);
    out.push({ node: id, wasActive, stopMs, unsealedMs: w.unsealedMs[id] });
    say(
      `  vault node restart ${i + 1}/${count}: ${id}${wasActive ? " (was active)" : ""} unsealed after ${Math.round(w.unsealedMs[id])} ms`,
    );
  }
  await settle(vault);
  return out;
}

interface FullRestartSample {
  stopMs: number;
  allUnsealedMs: number;
  activeMs: number;
  unsealedMs: Record<string, number>;
}

async function benchFullRestarts(cluster: LocalCluster, count: number): Promise<FullRestartSample[]> {
  const out: FullRestartSample[] = [];
  for (let i = 0; i < count; i++) {
    await settle(cluster);
    const s0 = performance.now();
    await cluster.stopAll();
    const stopMs = performance.now() - s0;
    const w = await startAndWatch(cluster, cluster.nodeIds(), true);
    out.push({ stopMs, allUnsealedMs: w.allUnsealedMs, activeMs: w.activeMs!, unsealedMs: w.unsealedMs });
    say(
      `  ${cluster.name} full restart ${i + 1}/${count}: all unsealed after ${Math.round(w.allUnsealedMs)} ms, ${w.activeNode} active after ${Math.round(w.activeMs!)} ms`,
    );
  }
  await settle(cluster);
  return out;
}

interface MigrationSample {
  migrationMs: number;
  keysMigratedMs: number;
  finalRolloutMs: number;
  bootstrapMs: number;
  /** migrateSeal's log lines (status messages only), ms after the migration began. */
  log: { ms: number; msg: string }[];
}

const MIGRATION_START = "vault-unlock: seal migration Shamir → transit";
const KEYS_MIGRATED = "vault-unlock: stored keys migrated to transit";

/** The migrateSeal phase of the bootstrap: from its log line to bootstrap's next step (the helper) or its end. */
function migrationTiming(t: BenchTopology): MigrationSample {
  const startIdx = t.log.findIndex((l) => l.msg === MIGRATION_START);
  if (startIdx < 0) throw new Error(`bootstrap never logged "${MIGRATION_START}"`);
  const start = t.log[startIdx].atMs;
  const after = t.log.slice(startIdx + 1);
  const end = after.find((l) => l.msg.startsWith("helper:"))?.atMs ?? t.bootstrapEndMs;
  const keys = after.find((l) => l.msg === KEYS_MIGRATED)?.atMs;
  if (keys === undefined) throw new Error(`bootstrap never logged "${KEYS_MIGRATED}"`);
  const log = after
    .filter((l) => l.atMs <= end && !l.msg.startsWith("helper:"))
    .map((l) => ({ ms: Math.round(l.atMs - start), msg: l.msg }));
  return {
    migrationMs: end - start,
    keysMigratedMs: keys - start,
    finalRolloutMs: end - keys,
    bootstrapMs: t.bootstrapEndMs - t.bootstrapStartMs,
    log,
  };
}

async function benchMigrations(bin: ServerBinary, count: number): Promise<MigrationSample[]> {
  const out: MigrationSample[] = [];
  for (let i = 0; i < count; i++) {
    const t = await BenchTopology.create(bin, process.env.BENCH_VERBOSE ? (l) => say(`    ${l.msg}`) : undefined);
    try {
      await t.bootstrap();
      const m = migrationTiming(t);
      out.push(m);
      say(
        `  migration ${i + 1}/${count}: ${Math.round(m.migrationMs)} ms (keys migrated after ${Math.round(m.keysMigratedMs)} ms; whole bootstrap ${Math.round(m.bootstrapMs)} ms)`,
      );
    } finally {
      await t.destroy();
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

function machineInfo(bin: string) {
  const cpus = os.cpus();
  return {
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    cpuModel: cpus[0]?.model ?? "unknown",
    cpuCount: cpus.length,
    totalMemoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    bao: execFileSync(bin, ["version"], { encoding: "utf8" }).trim(),
  };
}

async function main(): Promise<void> {
  const counts = {
    nodeRestarts: runs("BENCH_NODE_RESTARTS", 12, 1),
    migrations: runs("BENCH_MIGRATIONS", 3, 1),
    fullRestarts: runs("BENCH_FULL_RESTARTS", 5, 1),
  };
  const binPath = findServerBinary();
  const bin: ServerBinary = { path: binPath, flavour: binaryFlavour(binPath) };
  const machine = machineInfo(binPath);
  const began = performance.now();
  const startedAt = new Date().toISOString();
  say(
    `machine: ${machine.os}; ${machine.cpuCount} × ${machine.cpuModel}; ${machine.totalMemoryGiB} GiB; node ${machine.node}; ${machine.bao}`,
  );

  say(`2. seal migration Shamir → transit of vault-unlock, ${counts.migrations} fresh topologies`);
  const migrations = await benchMigrations(bin, counts.migrations);

  say("building the topology for the restart benchmarks");
  const t = await BenchTopology.create(bin);
  let nodeRestarts: NodeRestartSample[];
  let vaultFull: FullRestartSample[];
  let vaultUnlockFull: FullRestartSample[];
  try {
    await t.bootstrap();
    const { vault, vaultUnlock } = t.topology;
    say(`1. single vault node restarts (${counts.nodeRestarts})`);
    nodeRestarts = await benchNodeRestarts(vault, counts.nodeRestarts);
    say(`3. full restarts of vault (${counts.fullRestarts})`);
    vaultFull = await benchFullRestarts(vault, counts.fullRestarts);
    say(`3. full restarts of vault-unlock (${counts.fullRestarts})`);
    vaultUnlockFull = await benchFullRestarts(vaultUnlock, counts.fullRestarts);
  } finally {
    await t.destroy();
  }
  const totalMs = performance.now() - began;

  const stats: Stat[] = [
    stat(
      "node_restart_unsealed",
      "1. vault node start → unsealed (transit)",
      nodeRestarts.map((s) => s.unsealedMs),
    ),
    stat(
      "migration_total",
      "2. vault-unlock migration Shamir → transit",
      migrations.map((s) => s.migrationMs),
    ),
    stat(
      "migration_keys",
      "   of which: until stored keys migrated",
      migrations.map((s) => s.keysMigratedMs),
    ),
    stat(
      "migration_final_rollout",
      "   of which: final rollout",
      migrations.map((s) => s.finalRolloutMs),
    ),
    stat(
      "vault_full_all_unsealed",
      "3. vault full restart → all 3 unsealed",
      vaultFull.map((s) => s.allUnsealedMs),
    ),
    stat(
      "vault_full_active",
      "3. vault full restart → one active",
      vaultFull.map((s) => s.activeMs),
    ),
    stat(
      "vault_unlock_full_all_unsealed",
      "3. vault-unlock full restart → all 3 unsealed",
      vaultUnlockFull.map((s) => s.allUnsealedMs),
    ),
    stat(
      "vault_unlock_full_active",
      "3. vault-unlock full restart → one active",
      vaultUnlockFull.map((s) => s.activeMs),
    ),
  ];
  const context: Stat[] = [
    stat(
      "bootstrap_total",
      "whole bootstrap (fresh topology, incl. helper)",
      migrations.map((s) => s.bootstrapMs),
    ),
    stat(
      "node_stop",
      "stop of one vault node (SIGTERM → exit)",
      nodeRestarts.map((s) => s.stopMs),
    ),
    stat(
      "vault_full_stop",
      "stop of all vault nodes",
      vaultFull.map((s) => s.stopMs),
    ),
    stat(
      "vault_unlock_full_stop",
      "stop of all vault-unlock nodes",
      vaultUnlockFull.map((s) => s.stopMs),
    ),
  ];

  console.log("");
  console.log(
    `Machine: ${machine.os}; CPU ${machine.cpuCount} × ${machine.cpuModel}; memory ${machine.totalMemoryGiB} GiB; node ${machine.node}`,
  );
  console.log(`Server:  ${machine.bao} (${bin.flavour}), 3-node Raft clusters over TLS on 127.0.0.1`);
  console.log("");
  console.log(table(stats));
  console.log("");
  console.log("Not part of the measurements above (context):");
  console.log(table(context));
  console.log("");
  console.log("Notes:");
  console.log(`- Start times run from just before LocalCluster.start to the first /v1/sys/health (polled every ${POLL_MS} ms)`);
  console.log('  reporting sealed=false ("active": sealed=false and standby=false). They include the peer gate');
  console.log("  (the transit peer is checked with an encrypt call before the process is spawned), as users get it.");
  console.log("- The migration is the migrateSeal call inside bootstrap: from its log line to bootstrap's next step.");
  const split = (active: boolean) => nodeRestarts.filter((s) => s.wasActive === active).map((s) => s.unsealedMs);
  const medianOf = (xs: number[]) => (xs.length > 0 ? `median ${stat("", "", xs).medianMs} ms` : "none");
  console.log(
    `- Single-node restarts: ${split(true).length} of ${nodeRestarts.length} stopped the active node (${medianOf(split(true))}), ${split(false).length} a standby (${medianOf(split(false))}).`,
  );
  console.log(`Total bench runtime: ${(totalMs / 1000).toFixed(1)} s`);

  const results = {
    startedAt,
    totalRuntimeMs: Math.round(totalMs),
    machine,
    pollIntervalMs: POLL_MS,
    counts,
    results: Object.fromEntries(stats.map(({ key, ...rest }) => [key, rest])),
    context: Object.fromEntries(context.map(({ key, ...rest }) => [key, rest])),
    samples: {
      nodeRestarts: nodeRestarts.map((s) => ({
        node: s.node,
        wasActive: s.wasActive,
        stopMs: Math.round(s.stopMs),
        unsealedMs: Math.round(s.unsealedMs),
      })),
      migrations: migrations.map((s) => ({
        migrationMs: Math.round(s.migrationMs),
        keysMigratedMs: Math.round(s.keysMigratedMs),
        finalRolloutMs: Math.round(s.finalRolloutMs),
        bootstrapMs: Math.round(s.bootstrapMs),
        log: s.log,
      })),
      vaultFullRestarts: vaultFull.map(roundFull),
      vaultUnlockFullRestarts: vaultUnlockFull.map(roundFull),
    },
  };
  const file = path.join(PROJECT_ROOT, "bench-results.json");
  fs.writeFileSync(file, JSON.stringify(results, null, 2) + "\n");
  console.log(`Results written to ${path.relative(process.cwd(), file) || file}`);
}

function roundFull(s: FullRestartSample) {
  return {
    stopMs: Math.round(s.stopMs),
    allUnsealedMs: Math.round(s.allUnsealedMs),
    activeMs: Math.round(s.activeMs),
    unsealedMs: Object.fromEntries(Object.entries(s.unsealedMs).map(([k, v]) => [k, Math.round(v)])),
  };
}

// Ctrl-C / SIGTERM: tear everything down, then exit. A second signal exits at once; the
// local adapter then SIGKILLs whatever server processes are still tracked.
let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (stopping) process.exit(130);
    stopping = true;
    console.error(`\n${signal}: stopping every server this benchmark started…`);
    void destroyAll().finally(() => process.exit(130));
  });
}

main().then(
  () => process.exit(0),
  async (e: unknown) => {
    await destroyAll();
    if (!stopping) {
      console.error(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      process.exit(1);
    }
  },
);
