/**
 * Test equipment: the processes the harness starts, each recorded by pid in its cluster's
 * `pids` file the moment it starts, so that `down` (or a later `up` after a crash) stops
 * exactly those and nothing else.
 */
import { execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";

export interface Recorded { pid: number; name: string; }

const pidsFile = (dir: string) => path.join(dir, "pids");

export function recorded(dir: string): Recorded[] {
  if (!fs.existsSync(pidsFile(dir))) return [];
  return fs.readFileSync(pidsFile(dir), "utf8").split("\n").filter(Boolean).map((l) => {
    const [pid, name] = l.split(" ");
    return { pid: Number(pid), name };
  });
}

export const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
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
  fs.appendFileSync(pidsFile(dir), `${child.pid} ${name}\n`);
  return child.pid;
}

/** SIGTERM, up to `graceMs` to exit, then SIGKILL. Only the given pids. */
export async function stop(pids: number[], graceMs = 10_000): Promise<void> {
  for (const p of pids) signal(p, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (pids.some(alive) && Date.now() < deadline) await sleep(100);
  for (const p of pids.filter(alive)) signal(p, "SIGKILL");
  while (pids.some(alive)) await sleep(50);
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
    return execFileSync(argv[0], argv.slice(1), { encoding: "utf8", input: opts.input, stdio: ["pipe", "pipe", "pipe"] });
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
