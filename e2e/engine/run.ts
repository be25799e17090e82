/**
 * TEST EQUIPMENT (engine stand-in for the e2e runs, not part of the product): `up` of one
 * stack. Pulumi's runtime runs the program in mock mode (setMocks before the program is
 * loaded, as test/stacks/stack-mocks.ts does), and the engine monitor (monitor.ts) does the
 * real work of each registration (engine.ts). After the program settles: the stack's outputs
 * (secret-ness kept), then the deletes of what the program no longer registers. Pulumi's
 * runtime is module-global state: one stack per process (cli.ts), or fresh modules per run.
 */
/* eslint-disable @typescript-eslint/no-require-imports -- the runtime is loaded after the mocks are chosen, per run */
import * as path from "path";
import { Engine } from "./engine";
import { makeMonitor } from "./monitor";
import { loadState, publicOutputs, ResourceRecord, StackOutput, Summary, writeSummary } from "./state";

export const PROJECT = "vault-mutual-unseal";

export interface UpOptions {
  stack: string;
  /** Config keys without the project namespace; values as in Pulumi.<stack>.yaml. */
  config: Record<string, unknown>;
  /** Config keys that are secret (e.g. kubeconfig). */
  secretConfig?: Record<string, unknown>;
  stateDir: string;
  /** Folder of the project (the dynamic providers load its code from the working directory). */
  projectRoot?: string;
  /** The program module; default `<projectRoot>/index.ts`. */
  program?: string;
  log?: (line: string) => void;
}

/** Config values as Pulumi stores them: strings as they are, anything else as JSON text. */
export const configText = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));

/** Polls of the settle loop (ms), and how many quiet polls end it. */
const POLL_MS = 50;
const QUIET_POLLS = 3;
/** After a failure: quiet polls before the run stops without the registrations still waiting. */
const QUIET_POLLS_AFTER_FAILURE = 20;

/**
 * Waits until the program registers nothing more. Registrations wait for their inputs (and
 * dynamic providers are serialized first), so new ones keep arriving after each answer:
 * settled when the runtime has no RPC left and nothing runs, the count standing still.
 *
 * After a failure the runtime's RPCs may never finish: Pulumi never settles the URN and
 * outputs of a resource whose inputs were rejected (resource.js prepareResource), so whatever
 * depends on that one waits forever. Those promises hold no timer, so awaiting them alone
 * would let Node exit in the middle of `up` (before the state and summary are written) with
 * Pulumi's "promises were still active" report. Hence a poll that keeps the process alive,
 * and, once a step has failed, the stop of the real engine: settled when nothing has run or
 * arrived for a while.
 */
async function settle(engine: Engine, onError: (e: unknown) => void): Promise<void> {
  const settings = require("@pulumi/pulumi/runtime/settings") as { waitForRPCs(): Promise<void> };
  let rpcsDone = false;
  const watch = () => {
    rpcsDone = false;
    // A failed registration may reject the runtime's tracker too; its error is already recorded.
    settings.waitForRPCs().then(
      () => (rpcsDone = true),
      (e: unknown) => {
        onError(e);
        rpcsDone = true;
      },
    );
  };
  watch();
  for (let quiet = 0, last = -1; ;) {
    await new Promise((r) => setTimeout(r, POLL_MS));
    const count = engine.registered.size;
    quiet = count === last && engine.inFlight === 0 ? quiet + 1 : 0;
    last = count;
    if (engine.errors.length > 0 && quiet >= QUIET_POLLS_AFTER_FAILURE) return;
    if (rpcsDone && quiet >= QUIET_POLLS) return;
    // Registrations begun since the last look extend the runtime's tracker: look again.
    if (rpcsDone) watch();
  }
}

/** Each export of the program, resolved, with its secret-ness; failures become errors. */
async function resolveOutputs(exported: Record<string, unknown>, errors: string[]): Promise<Record<string, StackOutput>> {
  const pulumi = require("@pulumi/pulumi") as typeof import("@pulumi/pulumi");
  const result: Record<string, StackOutput> = {};
  for (const [name, v] of Object.entries(exported)) {
    const out = pulumi.output(v) as unknown as { promise(): Promise<unknown>; isSecret: Promise<boolean>; isKnown: Promise<boolean> };
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("never resolved (a resource it depends on did not finish)")), 10_000);
    });
    try {
      const [value, secret] = await Promise.race([Promise.all([out.promise(), out.isSecret]), timeout]);
      // As Pulumi: an export whose value is undefined is no stack output.
      if (value !== undefined) result[name] = { value: JSON.parse(JSON.stringify(value)), secret };
    } catch (e) {
      errors.push(`stack output ${name}: ${(e as Error).message ?? String(e)}`);
    } finally {
      clearTimeout(timer);
    }
  }
  return result;
}

export async function up(opts: UpOptions): Promise<Summary> {
  const root = path.resolve(opts.projectRoot ?? path.join(__dirname, "..", ".."));
  const log = opts.log ?? ((l: string) => console.log(l));
  const previousCwd = process.cwd();
  // The dynamic-provider host runs in the program's folder; the trampolines count on it.
  process.chdir(root);
  const state = loadState(opts.stateDir, opts.stack);
  const engine = new Engine(state, opts.stateDir, log);
  const onRejection = (e: unknown) => {
    const message = (e as Error)?.message ?? String(e);
    if (!engine.failures.some((known) => message.includes(known))) engine.errors.push(message);
  };
  process.on("unhandledRejection", onRejection);
  let summary: Summary;
  try {
    const pulumi = require("@pulumi/pulumi") as typeof import("@pulumi/pulumi");
    await pulumi.runtime.setMocks({ newResource: () => ({ id: "", state: {} }), call: () => ({}) }, PROJECT, opts.stack, false);
    // Same mock mode, but with the monitor that reads every registration option.
    const settings = require("@pulumi/pulumi/runtime/settings") as {
      setMockOptions(m: unknown, p: string, s: string, preview: boolean): void;
    };
    settings.setMockOptions(
      makeMonitor((r) => engine.handle(r)),
      PROJECT,
      opts.stack,
      false,
    );
    const secret = opts.secretConfig ?? {};
    const all = { ...opts.config, ...secret };
    pulumi.runtime.setAllConfig(
      Object.fromEntries(Object.entries(all).map(([k, v]) => [`${PROJECT}:${k}`, configText(v)])),
      Object.keys(secret).map((k) => `${PROJECT}:${k}`),
    );
    let exported: Record<string, unknown> | undefined;
    try {
      exported = require(opts.program ?? path.join(root, "index")) as Record<string, unknown>;
    } catch (e) {
      engine.errors.push(`the program failed: ${(e as Error).message ?? String(e)}`);
    }
    await settle(engine, onRejection);
    // As the real engine after a failure: what the program registers from now on is not done.
    if (engine.errors.length > 0) engine.stop();
    if (exported && engine.errors.length === 0) {
      const outputs = await resolveOutputs(exported, engine.errors);
      // A failed run keeps the outputs of the last good one, as Pulumi does.
      if (engine.errors.length === 0) state.outputs = outputs;
    }
    if (engine.errors.length === 0) {
      // As the engine: deletes only after every registration succeeded, replaced halves first.
      const pending = [...state.pendingDeletes];
      await engine.deleteAll(pending, (r) => state.pendingDeletes.splice(state.pendingDeletes.indexOf(r), 1));
      const gone: ResourceRecord[] = Object.values(state.resources).filter((r) => !engine.registered.has(r.urn));
      if (engine.errors.length === 0) await engine.deleteAll(gone, (r) => delete state.resources[r.urn]);
    }
    engine.save();
    summary = {
      ok: engine.errors.length === 0,
      ...(engine.errors.length > 0 ? { error: engine.errors.join("\n") } : {}),
      resources: engine.steps,
      outputs: publicOutputs(state.outputs),
    };
  } finally {
    process.removeListener("unhandledRejection", onRejection);
    process.chdir(previousCwd);
  }
  writeSummary(opts.stateDir, opts.stack, summary);
  return summary;
}
