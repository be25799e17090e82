/**
 * The benchmark's use of lab/topology.ts: each topology lives in its own temp folder, its
 * bootstrap's log lines are timestamped so phases can be timed, and every topology is
 * registered from the moment its folder exists, so a run that fails (or is interrupted)
 * half-way through can still be torn down: `destroyAll()`.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { performance } from "perf_hooks";
import { Flavour } from "../core/render/server-config";
import { Topology } from "../lab/topology";

export interface ServerBinary {
  path: string;
  flavour: Flavour;
}

/** One line the bootstrap logged, at performance.now() time. Status messages only: no keys or tokens. */
export interface LogLine {
  atMs: number;
  msg: string;
}

/** Temp folder → its topology once Topology.create has settled (undefined if it failed). */
const live = new Map<string, Promise<Topology | undefined>>();
let closing = false;

/** Stops every proxy and server process of the topology in `dir` and removes the folder. Idempotent. */
async function teardown(dir: string): Promise<void> {
  const created = live.get(dir);
  if (!created) return;
  live.delete(dir);
  const t = await created;
  // Should destroy() fail half-way, still kill every server (the adapter also does on exit).
  await t?.destroy().catch(() => Promise.allSettled(t.clusters.map((c) => c.stopAll("SIGKILL"))));
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Tears down every topology still alive (failure or Ctrl-C); no new one can be created afterwards. */
export async function destroyAll(): Promise<void> {
  closing = true;
  await Promise.allSettled([...live.keys()].map(teardown));
}

export class BenchTopology {
  bootstrapStartMs = NaN;
  bootstrapEndMs = NaN;

  private constructor(
    readonly topology: Topology,
    readonly log: LogLine[],
  ) {}

  /** The whole topology in a fresh temp folder (nodes not started yet). The caller destroys it. */
  static async create(bin: ServerBinary, onLog?: (line: LogLine) => void): Promise<BenchTopology> {
    if (closing) throw new Error("the benchmark is stopping");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vmu-bench-"));
    const log: LogLine[] = [];
    const created = Topology.create({
      dir,
      bin: bin.path,
      flavour: bin.flavour,
      gateMs: 30_000,
      log: (msg) => {
        const line = { atMs: performance.now(), msg };
        log.push(line);
        onLog?.(line);
      },
    });
    live.set(
      dir,
      created.catch(() => undefined),
    );
    try {
      return new BenchTopology(await created, log);
    } catch (e) {
      await teardown(dir);
      throw e;
    }
  }

  /** Starts the nodes and bootstraps, timing the core's bootstrap. */
  async bootstrap(): Promise<void> {
    const t = this.topology;
    // Started first (Topology.bootstrap then finds them running) so the timing covers the
    // core's bootstrap alone, not the start of these processes.
    await Promise.all([t.vaultUnlock.startAll(), t.helper.startAll()]);
    this.bootstrapStartMs = performance.now();
    await t.bootstrap();
    this.bootstrapEndMs = performance.now();
  }

  destroy(): Promise<void> {
    return teardown(this.topology.opts.dir);
  }
}
