/**
 * `npm run lab`: the whole mutual-unseal topology on this machine with real servers, the
 * chaos scenarios, and the availability report.
 *
 *   npm run lab [-- --quick] [--keep] [--no-scenarios] [--json FILE] [--svg FILE] [--base-port N]
 *   npm run lab -- down | recover | status
 */
import { execFileSync } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { parseArgs } from "util";
import { binaryFlavour, findServerBinary } from "../adapters/local/bao-binary";
import { writePrivateFile } from "../adapters/local/private-files";
import { describe, observe } from "../core/steps/node-state";
import { sleep, waitFor } from "../core/wait";
import { assertNoLab, isLabProcess, LAB_DIR, readState, RUN_DIR, sendControl, serveControl, writeState } from "./control";
import { Prober } from "./prober";
import { LabReport, machine, renderSvg, renderTable, TARGETS } from "./report";
import { ALL, Ctx, QUICK, recover, runScenario, ScenarioResult, SECRET_PATH, tokenLifetimes } from "./scenarios";
import { Topology } from "./topology";

const t0 = Date.now();
const say = (msg: string) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${msg}`);

async function statusOf(t: Topology): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const c of t.clusters) out[c.name] = describe(await observe(c));
  return out;
}

async function run(opts: {
  quick: boolean;
  keep: boolean;
  scenarios: boolean;
  json?: string;
  svg?: string;
  basePort?: number;
}): Promise<number> {
  assertNoLab();
  const bin = findServerBinary();
  const server = execFileSync(bin, ["version"], { encoding: "utf8" }).trim().split(" (")[0];
  writeState({ pid: process.pid, startedAt: new Date().toISOString() });
  let t: Topology | undefined;
  let prober: Prober | undefined;
  let stopping = false;
  const teardown = async () => {
    if (stopping) return;
    stopping = true;
    await prober?.stop();
    await t?.destroy();
    fs.rmSync(LAB_DIR, { recursive: true, force: true });
  };
  const onSignal = (sig: string) => {
    say(`${sig}: stopping every server the lab started`);
    void teardown().finally(() => process.exit(130));
  };
  process.once("SIGINT", () => onSignal("SIGINT"));
  process.once("SIGTERM", () => onSignal("SIGTERM"));

  try {
    say(`${server}, ${binaryFlavour(bin)} flavour; data in ${RUN_DIR}`);
    // Short token periods prove that the seals renew their tokens through the whole run.
    t = await Topology.create({
      dir: RUN_DIR,
      bin,
      flavour: binaryFlavour(bin),
      tokenPeriod: "2m",
      gateMs: 60_000,
      preStopMs: 300,
      log: say,
      basePort: opts.basePort,
    });
    const bringUp = Date.now();
    await t.bootstrap();
    const bringUpMs = Date.now() - bringUp;
    say(`bring-up done in ${(bringUpMs / 1000).toFixed(1)} s: vault and vault-unlock unseal each other, the helper holds the key copy`);

    const secretValue = randomBytes(8).toString("hex");
    for (const c of ["vault", "vault-unlock"] as const) {
      await t.admin(c).write("sys/mounts/kv", { type: "kv" });
      // A standby learns of the new mount from Raft a moment later; the Service may pick one.
      await waitFor(
        `the probe secret to be written on ${c}`,
        async () => {
          await t!.admin(c).write(SECRET_PATH, { value: secretValue });
          return { done: true, state: "written" };
        },
        { timeoutMs: 30_000 },
      );
    }
    const results: ScenarioResult[] = [];
    if (opts.scenarios) {
      prober = new Prober(
        ["vault", "vault-unlock"].map((c) => ({ cluster: c, client: t!.admin(c as "vault"), secretPath: SECRET_PATH, secretValue })),
      );
      prober.start();
      await sleep(1000);
      const ctx: Ctx = { t, prober, secretValue, log: say };
      for (const s of opts.quick ? QUICK : ALL) {
        try {
          results.push(await runScenario(ctx, s));
        } catch (e) {
          say(`scenario ${s.id} FAILED: ${(e as Error).message}`);
          for (const [c, st] of Object.entries(await statusOf(t))) say(`  ${c}: ${st}`);
          throw e;
        }
      }
      await prober.stop();
      const report: LabReport = {
        schemaVersion: 1,
        startedAt: new Date(t0).toISOString(),
        machine: machine(server),
        probeIntervalMs: prober.intervalMs,
        bringUpMs,
        scenarios: results,
        tokens: await tokenLifetimes(t),
        targets: TARGETS,
      };
      console.log("\n" + renderTable(report) + "\n");
      if (opts.json) fs.writeFileSync(opts.json, JSON.stringify(report, null, 2) + "\n");
      if (opts.svg) fs.writeFileSync(opts.svg, renderSvg(prober.samples, prober.marks, ["vault", "vault-unlock"], prober.intervalMs));
      if (opts.json || opts.svg) say(`report written: ${[opts.json, opts.svg].filter(Boolean).join(", ")}`);
    }
    if (opts.keep) await keep(t);
    return 0;
  } catch (e) {
    say(`lab failed: ${(e as Error).message}`);
    if (t) for (const [c, st] of Object.entries(await statusOf(t).catch(() => ({})))) say(`  ${c}: ${st}`);
    return 1;
  } finally {
    await teardown();
  }
}

/** Leaves the topology running under this process until `down` or Ctrl-C. */
async function keep(t: Topology): Promise<void> {
  const tokenFile = path.join(LAB_DIR, "vault-token");
  // vault's root token is revoked at bootstrap: this is the one the lab made by break-glass.
  writePrivateFile(tokenFile, t.admin("vault").token + "\n");
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const control = await serveControl(async (command) => {
    if (command === "status") return statusOf(t);
    if (command === "recover") {
      // The report carries the helper's seal token: only the timings leave this process.
      const { phases, totalMs } = await recover(t, say);
      return { phases, totalMs };
    }
    if (command === "down") {
      setTimeout(done, 50);
      return { stopping: true };
    }
    throw new Error(`unknown command "${command}" (status, recover, down)`);
  });
  writeState({ pid: process.pid, startedAt: new Date(t0).toISOString(), control: { port: control.port, token: control.token } });
  console.log(
    [
      "",
      "The lab keeps running. Reach it with:",
      `  export VAULT_ADDR=${t.vaultService.address} VAULT_CACERT=${t.pki.caFile} VAULT_TLS_SERVER_NAME=vault`,
      `  export VAULT_TOKEN=$(cat ${tokenFile})   # a root token of vault made by break-glass (lab only)`,
      `  vault-unlock: ${t.vaultUnlockService.address} (server name vault-unlock; requires a client certificate from ${t.pki.dir})`,
      `  helper:       ${t.helperAddress} (server name helper)`,
      "  npm run lab -- status | recover | down     (or Ctrl-C here)",
      "",
    ].join("\n"),
  );
  await finished;
  await control.close();
}

/** Stops a kept lab, or cleans up after one that crashed (only processes whose config lives in .lab/run). */
async function down(): Promise<number> {
  const s = readState();
  if (s && isLabProcess(s.pid)) {
    if (s.control) await sendControl("down");
    else process.kill(s.pid, "SIGTERM");
    for (let i = 0; i < 600 && isLabProcess(s.pid); i++) await sleep(100);
    if (isLabProcess(s.pid)) throw new Error(`the lab (pid ${s.pid}) did not stop within 60 s`);
    console.log(`lab (pid ${s.pid}) stopped`);
  } else if (fs.existsSync(LAB_DIR)) {
    // The supervisor is gone: stop the servers it left, recognised by their config in RUN_DIR.
    for (const pid of fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
      const cmd = (() => {
        try {
          return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
        } catch {
          return "";
        }
      })();
      if (cmd.includes(`-config=${RUN_DIR}/`)) {
        process.kill(Number(pid), "SIGKILL");
        console.log(`stopped leftover server pid ${pid}`);
      }
    }
    console.log(`removed stale lab data in ${LAB_DIR}`);
  } else {
    console.log("no lab is running");
  }
  fs.rmSync(LAB_DIR, { recursive: true, force: true });
  return 0;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      quick: { type: "boolean", default: false },
      keep: { type: "boolean", default: false },
      "no-scenarios": { type: "boolean", default: false },
      json: { type: "string" },
      svg: { type: "string" },
      "base-port": { type: "string" },
    },
  });
  const command = positionals[0] ?? "run";
  if (command === "down") return down();
  if (command === "status" || command === "recover") {
    const t = Date.now();
    console.log(JSON.stringify(await sendControl(command), null, 2));
    if (command === "recover") console.log(`recovered in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    return 0;
  }
  if (command !== "run") throw new Error(`unknown command "${command}": use run (default), down, recover or status`);
  const basePort = values["base-port"] === undefined ? undefined : Number(values["base-port"]);
  if (basePort !== undefined && !(Number.isInteger(basePort) && basePort > 1023 && basePort < 65000))
    throw new Error(`--base-port: "${values["base-port"]}" must be a port number between 1024 and 64999`);
  return run({
    quick: values.quick!,
    keep: values.keep!,
    scenarios: !values["no-scenarios"],
    json: values.json,
    svg: values.svg,
    basePort,
  });
}

main().then(
  (code) => process.exit(code),
  (e: Error) => {
    console.error(`lab: ${e.message}`);
    process.exit(e.message.includes("already running") || e.message.includes("stale lab data") ? 2 : 1);
  },
);
