/**
 * TEST EQUIPMENT (engine stand-in for the e2e runs, not part of the product): the stand-in's
 * state, one JSON file per stack (`<dir>/<stack>.json`, mode 0600: it holds every secret in
 * plain text), its summary file (no secret values) and its log lines (no values at all).
 * This is not Pulumi's checkpoint format; only this stand-in reads it.
 */
import * as fs from "fs";
import * as path from "path";

export interface ResourceRecord {
  urn: string;
  type: string;
  name: string;
  custom: boolean;
  id: string;
  /** Inputs as registered (secrets in plain text; `secretInputs` says which were secret). */
  inputs: Record<string, unknown>;
  outputs: Record<string, unknown>;
  /** Paths of the inputs that arrived as secrets. */
  secretInputs: string[];
  /** Top-level output properties that are secret. */
  secretOutputs: string[];
  /** `urn::id` of the explicit provider, if any. */
  provider?: string;
  parent?: string;
  /** URNs this resource depends on (dependsOn, inputs, parent, provider): deletes run dependents first. */
  dependencies: string[];
  protect: boolean;
  deleteBeforeReplace: boolean;
}

export interface StackOutput {
  value: unknown;
  secret: boolean;
}

export interface StackState {
  version: 1;
  stack: string;
  resources: Record<string, ResourceRecord>;
  /** Old halves of create-before-delete replacements, deleted at the end of the run (kept across a crash). */
  pendingDeletes: ResourceRecord[];
  outputs: Record<string, StackOutput>;
}

/** "read": a StackReference answered from another stack's state. */
export type Op = "create" | "update" | "replace" | "same" | "read" | "delete" | "failed";

export interface StepRecord {
  urn: string;
  type: string;
  name: string;
  op: Op;
  ms: number;
}

export interface Summary {
  ok: boolean;
  error?: string;
  resources: StepRecord[];
  outputs: Record<string, { secret: boolean; value?: unknown }>;
}

export const statePath = (dir: string, stack: string) => path.join(dir, `${stack}.json`);
export const summaryPath = (dir: string, stack: string) => path.join(dir, `${stack}.summary.json`);

export const emptyState = (stack: string): StackState => ({ version: 1, stack, resources: {}, pendingDeletes: [], outputs: {} });

export function loadState(dir: string, stack: string): StackState {
  const file = statePath(dir, stack);
  if (!fs.existsSync(file)) return emptyState(stack);
  const parsed = JSON.parse(fs.readFileSync(file, "utf8")) as StackState;
  if (parsed.version !== 1 || parsed.stack !== stack)
    throw new Error(`${file} is not a stand-in state of stack "${stack}" (version ${parsed.version}, stack ${parsed.stack})`);
  return { ...emptyState(stack), ...parsed };
}

/** Writes through a temporary file and a rename, so a crash mid-write never leaves half a state. */
function writePrivate(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text, { mode: 0o600 });
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
}

export function saveState(dir: string, state: StackState): void {
  writePrivate(statePath(dir, state.stack), `${JSON.stringify(state, null, 2)}\n`);
}

/** The stack's recorded outputs, secrets included in plain text (for the e2e runner's checks). */
export function readStackOutputs(dir: string, stack: string): Record<string, StackOutput> {
  const file = statePath(dir, stack);
  if (!fs.existsSync(file)) throw new Error(`no recorded run of stack "${stack}" in ${dir}: run "up --stack ${stack}" first`);
  return loadState(dir, stack).outputs;
}

/** What the summary may show of the outputs: the value only of those that are not secret. */
export function publicOutputs(outputs: Record<string, StackOutput>): Summary["outputs"] {
  return Object.fromEntries(Object.entries(outputs).map(([k, o]) => [k, o.secret ? { secret: true } : { secret: false, value: o.value }]));
}

export function writeSummary(dir: string, stack: string, summary: Summary): void {
  writePrivate(summaryPath(dir, stack), `${JSON.stringify(summary, null, 2)}\n`);
}

/** The one line printed per step: never a value, so no secret can reach the log. */
export const stepLine = (s: StepRecord) => `${s.op.padEnd(7)} ${s.type} ${s.name} ${s.ms}ms`;
