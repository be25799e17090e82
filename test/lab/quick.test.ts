/**
 * `npm run lab -- --quick` end to end, so the lab's main command cannot silently rot:
 * bring-up with the migration, a rolling restart and the deadlock recovery on real
 * servers, a report with the secret intact, the JSON and SVG written, nothing left running.
 */
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { PROJECT_ROOT } from "../../adapters/local/bao-binary";
import { processesNaming } from "../support/servers";
import type { LabReport } from "../../lab/report";

jest.setTimeout(600_000);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "vmu-labquick-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test("the quick lab brings the topology up, survives its scenarios with the secret intact, reports, and cleans up", async () => {
  const dir = path.join(tmp, "lab");
  const json = path.join(tmp, "report.json");
  const svg = path.join(tmp, "timeline.svg");
  const { code, out } = await new Promise<{ code: number; out: string }>((resolve) => {
    execFile(
      path.join(PROJECT_ROOT, "node_modules/.bin/ts-node"),
      ["--transpile-only", "lab/cli.ts", "--quick", "--json", json, "--svg", svg],
      { cwd: PROJECT_ROOT, env: { ...process.env, VMU_LAB_DIR: dir }, maxBuffer: 16 * 2 ** 20 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
    );
  });
  expect({ code, tail: code === 0 ? "" : out.slice(-3000) }).toEqual({ code: 0, tail: "" });
  expect(out).toMatch(/bring-up done in [\d.]+ s/);

  const report = JSON.parse(fs.readFileSync(json, "utf8")) as LabReport;
  expect(report.scenarios.map((s) => s.id)).toEqual(["rolling-restart", "deadlock"]);
  for (const s of report.scenarios) expect({ id: s.id, secretIntact: s.secretIntact }).toEqual({ id: s.id, secretIntact: true });
  // Tokens with a 2-minute period are still alive at the end: the seals renew them.
  for (const [name, v] of Object.entries(report.tokens)) expect(`${name}: ${v}`).toMatch(/: alive, ttl \d+ s of a 120 s period/);
  expect(fs.readFileSync(svg, "utf8")).toMatch(/^<svg[\s\S]*vault-unlock[\s\S]*deadlock[\s\S]*<\/svg>\n$/);

  // No secret reached the terminal, and no server or lab folder is left behind.
  expect(out).not.toMatch(/s\.[A-Za-z0-9]{20,}/);
  expect(fs.existsSync(dir)).toBe(false);
  const left = processesNaming(dir);
  expect(left).toEqual([]);
});
