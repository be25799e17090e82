/**
 * Tests of the engine stand-in's runs (TEST EQUIPMENT for the e2e runs) on a small program
 * with no Kubernetes object (test/e2e/fixtures/program.ts): what is recorded, what a second
 * run keeps, changes, replaces and deletes, and that secrets stay out of the summary and log.
 */
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { Summary } from "../../e2e/engine/state";

const PROGRAM = path.join(__dirname, "fixtures", "program.ts");
const FAILING = path.join(__dirname, "fixtures", "failing.ts");
const PASSWORD = "pw-do-not-print-4242";
let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "standin-run-"));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const ROOT = path.join(__dirname, "..", "..");

/**
 * One `up` through the CLI in its own process, as the e2e runner does (Pulumi's runtime is
 * module-global, and a failed resource leaves rejections only a process-wide handler sees).
 */
async function up(
  stack: string,
  config: Record<string, unknown> = {},
  program = PROGRAM,
): Promise<{ summary: Summary; log: string[]; code: number }> {
  const file = path.join(dir, `${stack}-config.json`);
  fs.writeFileSync(
    file,
    JSON.stringify({ config: { journal: path.join(dir, "journal"), ...config }, secretConfig: { password: PASSWORD } }),
  );
  // A run that dies before its summary must not be read as the previous run's.
  fs.rmSync(path.join(dir, `${stack}.summary.json`), { force: true });
  const args = [
    "-r",
    "ts-node/register/transpile-only",
    path.join(ROOT, "e2e/engine/cli.ts"),
    "up",
    "--stack",
    stack,
    "--config",
    file,
    "--state",
    dir,
    "--program",
    program,
  ];
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, args, { cwd: ROOT }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
  const summaryFile = path.join(dir, `${stack}.summary.json`);
  if (!fs.existsSync(summaryFile)) throw new Error(`up --stack ${stack} wrote no summary (exit code ${code}):\n${stderr}`);
  const summary = JSON.parse(fs.readFileSync(summaryFile, "utf8")) as Summary;
  return { summary, log: [...stdout.split("\n"), ...stderr.split("\n")].filter((l) => l !== ""), code };
}

const ops = (s: Summary) => Object.fromEntries(s.resources.map((r) => [r.name, r.op]));
const journal = () => fs.readFileSync(path.join(dir, "journal"), "utf8").trim().split("\n");
const stateOf = (stack: string) => JSON.parse(fs.readFileSync(path.join(dir, `${stack}.json`), "utf8"));

describe("engine stand-in: runs", () => {
  it("creates every resource of a first run and reports success", async () => {
    const { summary } = await up("a");
    expect(summary.ok).toBe(true);
    expect(ops(summary)).toEqual({ "ca-key": "create", ca: "create", gossip: "create", thing: "create" });
  });

  it("writes the state file readable by its owner only", async () => {
    await up("a");
    expect(fs.statSync(path.join(dir, "a.json")).mode & 0o777).toBe(0o600);
  });

  it("keeps every resource of a second run with the same config", async () => {
    const first = await up("a");
    const second = await up("a");
    expect(Object.values(ops(second.summary))).toEqual(["same", "same", "same", "same"]);
    expect(second.summary.outputs.caCertPem).toEqual(first.summary.outputs.caCertPem);
  });

  it("issues a new certificate when its inputs change", async () => {
    const first = await up("a");
    const second = await up("a", { caName: "another CA" });
    expect(ops(second.summary).ca).toBe("replace");
    expect(second.summary.outputs.caCertPem.value).not.toEqual(first.summary.outputs.caCertPem.value);
  });

  it("updates a dynamic resource whose diff reports a change without replacement", async () => {
    await up("a");
    const { summary } = await up("a", { size: 3 });
    expect(ops(summary).thing).toBe("update");
    expect(journal()).toEqual(["create one", "update one"]);
  });

  it("replaces a dynamic resource create-before-delete when its diff asks for it", async () => {
    await up("a");
    await up("a", { label: "two" });
    expect(journal()).toEqual(["create one", "create two", "delete thing-one"]);
  });

  it("refuses to replace a protected dynamic resource and fails the run", async () => {
    await up("a", { protect: true });
    const { summary } = await up("a", { protect: true, label: "two" });
    expect(summary.ok).toBe(false);
    expect(summary.error).toContain("is protected");
    expect(journal()).toEqual(["create one"]);
  });

  it("deletes a resource the program no longer registers", async () => {
    await up("a", { extra: true });
    const { summary } = await up("a");
    expect(ops(summary).extra).toBe("delete");
    expect(journal()).toEqual(["create one", "create extra", "delete thing-extra"]);
  });

  it("fails with the property and reason when a dynamic provider's check refuses the inputs", async () => {
    const { summary } = await up("a", { label: "" });
    expect(summary.ok).toBe(false);
    expect(summary.error).toContain("check failed: label: a label is required");
  });

  it("keeps the outputs' secret-ness in the state: additionalSecretOutputs, provider secrets and secret config", async () => {
    await up("a");
    const outputs = stateOf("a").outputs;
    expect(Object.fromEntries(Object.entries(outputs).map(([k, o]) => [k, (o as { secret: boolean }).secret]))).toEqual({
      caCertPem: false,
      gossipKey: true,
      thingToken: true,
      password: true,
    });
    expect(outputs.thingToken.value).toBe("token-of-one");
  });

  it("shows secret outputs in the summary without their values", async () => {
    const { summary } = await up("a");
    const text = JSON.stringify(summary);
    expect(summary.outputs.password).toEqual({ secret: true });
    for (const secret of [PASSWORD, "token-of-one", stateOf("a").outputs.gossipKey.value, "PRIVATE KEY"])
      expect(text).not.toContain(secret);
  });

  it("prints one line per resource with no value in it", async () => {
    const { log } = await up("a");
    expect(log).toHaveLength(4);
    for (const line of log) expect(line).toMatch(/^(create|same)\s+\S+ \S+ \d+ms$/);
  });

  it("exits non-zero when a step fails, with the error on stderr and no secret in the output", async () => {
    const { code, log } = await up("a", { label: "" });
    expect(code).toBe(1);
    expect(log.join("\n")).toContain("check failed: label: a label is required");
    expect(log.join("\n")).not.toContain(PASSWORD);
  });

  it("answers a StackReference with the other stack's outputs, secrets still secret", async () => {
    await up("a");
    const { summary } = await up("b", { reference: "org/vault-mutual-unseal/a" });
    expect(summary.outputs.referenced).toEqual({ secret: false, value: stateOf("a").outputs.caCertPem.value });
    expect(summary.outputs.referencedSecret).toEqual({ secret: true });
  });

  it("fails a StackReference to a stack with no recorded run, naming the stack", async () => {
    const { summary } = await up("b", { reference: "org/vault-mutual-unseal/nowhere" });
    expect(summary.ok).toBe(false);
    expect(summary.error).toContain('no recorded run of stack "nowhere"');
  });

  it("lets the e2e runner read a stack's recorded outputs with their secrets", async () => {
    await up("a");
    const { readStackOutputs } = await import("../../e2e/engine/state");
    expect(readStackOutputs(dir, "a").password).toEqual({ value: PASSWORD, secret: true });
  });
});

/**
 * A step that fails in the middle of a run (test/e2e/fixtures/failing.ts): its consumer's
 * inputs are rejected, and the follower of the consumer then waits forever on a URN Pulumi
 * never settles. The run must still end, as the real engine's does at the failure.
 */
describe("engine stand-in: a dynamic resource that fails", () => {
  const FAILED_UPDATE = "pulumi-nodejs:dynamic/e2e:Step failing: the failing service refused the update";

  it("exits 1 with the failed resource and its message on stderr when its update throws", async () => {
    await up("a", {}, FAILING);
    const { code, log } = await up("a", { fail: "update" }, FAILING);
    expect(code).toBe(1);
    expect(log).toContain(FAILED_UPDATE);
  });

  it("writes a failed summary naming the resource whose update threw and its message", async () => {
    await up("a", {}, FAILING);
    const { summary } = await up("a", { fail: "update" }, FAILING);
    expect(summary.ok).toBe(false);
    expect(summary.error).toBe(FAILED_UPDATE);
    expect(ops(summary)).toEqual({ independent: "same", failing: "failed" });
  });

  it("neither updates nor creates the resources waiting on a failed update", async () => {
    await up("a", {}, FAILING);
    await up("a", { fail: "update" }, FAILING);
    expect(journal()).toEqual(["create independent", "create failing", "create consumer", "create follower", "update failing"]);
  });

  it("keeps the last good outputs of a resource whose update threw, in its state and in the stack outputs", async () => {
    await up("a", {}, FAILING);
    await up("a", { fail: "update" }, FAILING);
    const failing = Object.values(stateOf("a").resources as Record<string, { name: string; outputs: { value: string } }>).find(
      (r) => r.name === "failing",
    );
    expect(failing?.outputs.value).toBe("value-of-failing-1");
    expect(stateOf("a").outputs.failingValue.value).toBe("value-of-failing-1");
  });

  it("ends the run without Pulumi's report of promises still active", async () => {
    await up("a", {}, FAILING);
    const { log } = await up("a", { fail: "update" }, FAILING);
    expect(log.join("\n")).not.toContain("promises were still active");
  });

  it("fails a first run whose create throws, with a summary naming the resource and its message", async () => {
    const { code, summary } = await up("a", { fail: "create" }, FAILING);
    expect(code).toBe(1);
    expect(summary.ok).toBe(false);
    expect(summary.error).toBe("pulumi-nodejs:dynamic/e2e:Step failing: the failing service refused the create");
  });

  it("records only the independent resource of a first run whose create throws", async () => {
    await up("a", { fail: "create" }, FAILING);
    expect(Object.values(stateOf("a").resources as Record<string, { name: string }>).map((r) => r.name)).toEqual(["independent"]);
    expect(journal()).toEqual(["create independent", "create failing"]);
  });

  it("fails the resource, not the whole run, when the thrown error carries a child process's exit status as its code", async () => {
    const { code, summary } = await up("a", { fail: "create", failCode: 1 }, FAILING);
    expect(code).toBe(1);
    expect(summary.error).toBe("pulumi-nodejs:dynamic/e2e:Step failing: the failing service refused the create");
  });
});
