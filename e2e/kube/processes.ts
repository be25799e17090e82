/**
 * Test equipment: the processes the harness starts, each recorded by pid in its cluster's
 * `pids` file the moment it starts, so that `down` (or a later `up` after a crash) stops
 * exactly those and nothing else.
 */
import { execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";

/** A process the harness started: its pid and start time (so a pid reused after a reboot or crash is never taken for it). */
export interface Recorded {
  pid: number;
  name: string;
  started: string;
}

const pidsFile = (dir: string) => path.join(dir, "pids");

/** Boot id and start time in clock ticks (field 22 of /proc/<pid>/stat): together they name one process for good. */
function startTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (fields[0] === "Z") return undefined; // a zombie is gone for our purposes
    return `${fs.readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim()}/${fields[19]}`;
  } catch {
    return undefined;
  }
}

/** The processes recorded in `dir` that still run (the same process, not a reused pid). */
export function recorded(dir: string): Recorded[] {
  if (!fs.existsSync(pidsFile(dir))) return [];
  return fs
    .readFileSync(pidsFile(dir), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const [pid, name, started] = l.split(" ");
      return { pid: Number(pid), name, started };
    });
}

/** True while the recorded process runs: same pid and same start time. */
export const alive = (p: number | Recorded): boolean => {
  const pid = typeof p === "number" ? p : p.pid;
  const now = startTime(pid);
  // "?": the start time could not be read when it was recorded; the pid alone must do.
  return now !== undefined && (typeof p === "number" || !p.started || p.started === "?" || now === p.started);
};

/**
 * Starts `cmd` detached (its own session: a Ctrl-C of the caller does not reach it), in the
 * network namespace `netns` when given (nsenter enters only the network namespace, so mounts
 * and cgroups stay the host's, where `down` finds them), output appended to logs/<name>.log.
 */
export function start(dir: string, name: string, cmd: string[], netns?: string): number {
  fs.mkdirSync(path.join(dir, "logs"), { recursive: true });
  const log = fs.openSync(path.join(dir, "logs", `${name}.log`), "a");
  const argv = netns ? ["nsenter", `--net=${netns}`, "--", ...cmd] : cmd;
  const child = spawn(argv[0], argv.slice(1), { detached: true, stdio: ["ignore", log, log] });
  fs.closeSync(log);
  if (!child.pid) throw new Error(`could not start ${name} (${argv[0]})`);
  child.unref();
  fs.appendFileSync(pidsFile(dir), `${child.pid} ${name} ${startTime(child.pid) ?? "?"}\n`);
  return child.pid;
}

/**
 * SIGTERM, up to `graceMs` to exit, then SIGKILL. Only the given processes, and a recorded one
 * only while it is still the process that was recorded (a reused pid is left alone).
 */
export async function stop(procs: (number | Recorded)[], graceMs = 10_000): Promise<void> {
  const mine = procs.filter((p) => alive(p));
  for (const p of mine) signal(typeof p === "number" ? p : p.pid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (mine.some((p) => alive(p)) && Date.now() < deadline) await sleep(100);
  for (const p of mine.filter((x) => alive(x))) signal(typeof p === "number" ? p : p.pid, "SIGKILL");
  const killDeadline = Date.now() + 10_000;
  while (mine.some((p) => alive(p)) && Date.now() < killDeadline) await sleep(50);
}

function signal(pid: number, s: NodeJS.Signals): void {
  try {
    process.kill(pid, s);
  } catch {
    // already gone
  }
}

export function forgetAll(dir: string): void {
  fs.rmSync(pidsFile(dir), { force: true });
}

/** Processes whose command line contains `needle` (the containerd shims of one node, found by its socket path). */
export function pidsWithCmdline(needle: string): number[] {
  const out: number[] = [];
  for (const e of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${e}/cmdline`, "utf8").replace(/\0/g, " ");
      if (cmdline.includes(needle)) out.push(Number(e));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs a command to completion; its output, or an error naming the command and its stderr. */
export function run(cmd: string, args: string[], opts: { netns?: string; input?: string; allowFail?: boolean } = {}): string {
  const argv = opts.netns ? ["nsenter", `--net=${opts.netns}`, "--", cmd, ...args] : [cmd, ...args];
  try {
    return execFileSync(argv[0], argv.slice(1), {
      encoding: "utf8",
      input: opts.input,
      stdio: ["pipe", "pipe", "pipe"],
      maxBuffer: 64 << 20,
    });
  } catch (e) {
    if (opts.allowFail) return "";
    const err = e as { stderr?: string; message: string };
    throw new Error(`${argv.join(" ")} failed: ${(err.stderr || err.message).trim()}`, { cause: e });
  }
}

/** Polls `ready` every 250 ms until it is true, or fails naming `what` and pointing at its log. */
export async function waitFor(what: string, timeoutMs: number, ready: () => boolean | Promise<boolean>, log?: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if (await ready()) return;
    } catch {
      // not yet
    }
    await sleep(250);
  }
  throw new Error(`${what} not ready after ${timeoutMs / 1000} s${log ? `: see ${log}` : ""}`);
}
