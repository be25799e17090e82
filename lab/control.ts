/**
 * One lab at a time, and a way to reach a kept one: `.lab/lab.json` (0600) records the
 * supervising process and a loopback control endpoint with a random bearer token, which
 * `npm run lab -- down | recover | status` use. The supervisor is the only process that
 * starts or stops servers, so every server belongs to exactly one owner.
 */
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as path from "path";
import { PROJECT_ROOT } from "../adapters/local/bao-binary";
import { mkdirPrivate, writePrivateFile } from "../adapters/local/private-files";

/** VMU_LAB_DIR moves the lab's folder (the tests use their own). */
export const LAB_DIR = process.env.VMU_LAB_DIR ?? path.join(PROJECT_ROOT, ".lab");
export const STATE_FILE = path.join(LAB_DIR, "lab.json");
export const RUN_DIR = path.join(LAB_DIR, "run");

export interface LabState {
  pid: number;
  startedAt: string;
  control?: { port: number; token: string };
}

export function readState(): LabState | undefined {
  try {
    return JSON.parse(fs.readFileSync(STATE_FILE, "utf8")) as LabState;
  } catch {
    return undefined;
  }
}

export function writeState(s: LabState): void {
  // The folder also holds the run's data and vault's root token (a kept lab): the owner's only.
  mkdirPrivate(LAB_DIR);
  writePrivateFile(STATE_FILE, JSON.stringify(s, null, 2));
}

/** True when `pid` is a live lab supervisor (checked by its command line, not the pid alone). */
export function isLabProcess(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("lab/cli");
  } catch {
    return false;
  }
}

/** Refuses to start over a running lab or over data a crashed one left behind. */
export function assertNoLab(): void {
  const s = readState();
  if (s && isLabProcess(s.pid))
    throw new Error(`a lab is already running (pid ${s.pid}, since ${s.startedAt}): stop it with \`npm run lab -- down\``);
  if (s || fs.existsSync(RUN_DIR))
    throw new Error(
      `stale lab data in ${LAB_DIR} from a run that did not stop cleanly: \`npm run lab -- down\` stops what is left of it and removes it`,
    );
}

export type Handler = (command: string) => Promise<unknown>;

/** The supervisor's control endpoint on 127.0.0.1. */
export async function serveControl(handle: Handler): Promise<{ port: number; token: string; close: () => Promise<void> }> {
  const token = randomBytes(24).toString("hex");
  const server = http.createServer((req, res) => {
    if (req.headers.authorization !== `Bearer ${token}`) {
      res.writeHead(401).end();
      return;
    }
    const command = (req.url ?? "/").slice(1);
    handle(command).then(
      (body) => res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(body ?? {})),
      (e: Error) => res.writeHead(500, { "Content-Type": "application/json" }).end(JSON.stringify({ error: e.message })),
    );
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as { port: number }).port;
  return { port, token, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** Sends a command to the running lab; resolves with its answer. */
export async function sendControl(command: string): Promise<unknown> {
  const s = readState();
  if (!s || !isLabProcess(s.pid)) throw new Error("no lab is running (start one with `npm run lab -- --keep`)");
  if (!s.control) throw new Error(`the running lab (pid ${s.pid}) was not started with --keep: it takes no commands and stops by itself`);
  const { port, token } = s.control;
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: "127.0.0.1", port, path: `/${command}`, method: "POST", headers: { Authorization: `Bearer ${token}` } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
          if (res.statusCode === 200) resolve(body);
          else reject(new Error(body.error ?? `HTTP ${res.statusCode}`));
        });
      },
    );
    req.on("error", reject);
    req.end();
  });
}
