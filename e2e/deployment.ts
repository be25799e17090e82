/**
 * Test equipment: the deployment the end-to-end run makes on the clusters of e2e/kube: both
 * stacks' config (what a user would put in Pulumi.<stack>.yaml, pointed at the local images
 * and the harness's addresses), running a stack program through the engine stand-in (one
 * process per run, as `pulumi up` is), and reading what the runs recorded.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { CLUSTERS, E2E_DIR, HELPER_HOST, HELPER_NODE_PORT, IMAGES, KUBECONFIG_FILE, ROOT } from "./kube/layout";
import type { StackState, Summary } from "./engine/state";

export type StackName = "primary" | "helper";
export const STATE_DIR = path.join(E2E_DIR, "state");
export const NAMESPACES = { vault: "vault", vaultUnlock: "vault-unlock", helper: "vault-helper" };
export const PROJECT = "vault-mutual-unseal";
const stackRef = (stack: StackName) => `organization/${PROJECT}/${stack}`;

/** What both stacks set alike: OpenBao on Raft from the local image. */
const BOTH = { flavour: "openbao", storage: "raft", image: IMAGES.openbao, keyShares: 3, keyThreshold: 2 };

/** The primary's config; `overrides` replace top-level keys (emergency, a bad context, another image). */
export function primaryConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ...BOTH,
    replicas: 3,
    vault: { context: "primary", namespace: NAMESPACES.vault },
    vaultUnlock: { context: "primary", namespace: NAMESPACES.vaultUnlock },
    helperAddress: `https://${HELPER_HOST}:${HELPER_NODE_PORT}`,
    helperNamespace: NAMESPACES.helper,
    helperStack: stackRef("helper"),
    emergency: false,
    ...overrides,
  };
}

const primaryCluster = CLUSTERS.find((c) => c.name === "primary")!;

export function helperConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ...BOTH,
    replicas: 1,
    context: "helper",
    primaryStack: stackRef("primary"),
    // No load balancer in this lab: a NodePort on the helper machine, which `vault`'s pods reach
    // over the WAN link (opted in: no other way here). Its NetworkPolicy admits the primary's
    // pods and its machine's WAN address; the bridge CNI enforces none, so it is only rendered.
    expose: { type: "NodePort", nodePort: HELPER_NODE_PORT, allowNodePort: true },
    peerCidrs: [`${primaryCluster.podPrefix}.0.0/16`, `${primaryCluster.wanIp}/32`],
    ...overrides,
  };
}

export interface RunResult {
  ok: boolean;
  ms: number;
  summary: Summary;
  log: string;
}

/**
 * One `pulumi up` of `stack` through the engine stand-in (e2e/engine/cli.ts), with the
 * kubeconfig as the stack's secret config key. The log holds no secret (the stand-in prints
 * none); it is kept for the report.
 */
export async function runStack(
  stack: StackName,
  config: Record<string, unknown>,
  o: { stateDir?: string; kubeconfig?: string } = {},
): Promise<RunResult> {
  const stateDir = o.stateDir ?? STATE_DIR;
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const configFile = path.join(stateDir, `${stack}.config.json`);
  fs.writeFileSync(
    configFile,
    JSON.stringify({ config, secretConfig: { kubeconfig: o.kubeconfig ?? fs.readFileSync(KUBECONFIG_FILE, "utf8") } }),
    { mode: 0o600 },
  );
  const summaryFile = path.join(stateDir, `${stack}.summary.json`);
  // A run that dies before writing its summary must not be read as the previous run's.
  fs.rmSync(summaryFile, { force: true });
  const t0 = Date.now();
  const log: string[] = [];
  const code = await new Promise<number>((resolve) => {
    const child = spawn(
      process.execPath,
      [
        require.resolve("ts-node/dist/bin"),
        "--transpile-only",
        path.join(ROOT, "e2e/engine/cli.ts"),
        "up",
        "--stack",
        stack,
        "--config",
        configFile,
        "--state",
        stateDir,
      ],
      {
        cwd: ROOT,
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, KUBECONFIG: "/nonexistent" },
      },
    );
    const take = (d: Buffer) => {
      for (const line of d.toString().split("\n").filter(Boolean)) {
        log.push(line);
        if (process.env.E2E_VERBOSE) process.stdout.write(`    [${stack}] ${line}\n`);
      }
    };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    child.on("close", (c) => resolve(c ?? 1));
  });
  const summary: Summary = fs.existsSync(summaryFile)
    ? JSON.parse(fs.readFileSync(summaryFile, "utf8"))
    : {
        ok: false,
        error: `the stand-in exited with ${code} before writing its summary:\n${log.slice(-8).join("\n")}`,
        resources: [],
        outputs: {},
      };
  return { ok: code === 0 && summary.ok, ms: Date.now() - t0, summary, log: log.join("\n") };
}

function stateOf(stack: StackName, stateDir: string): StackState {
  const file = path.join(stateDir, `${stack}.json`);
  if (!fs.existsSync(file)) throw new Error(`stack ${stack} has no recorded state in ${stateDir}: run it first`);
  return JSON.parse(fs.readFileSync(file, "utf8")) as StackState;
}

/** A stack's outputs as its last run recorded them, secrets included (never print these). */
export function outputsOf(stack: StackName, stateDir = STATE_DIR): Record<string, unknown> {
  return Object.fromEntries(Object.entries(stateOf(stack, stateDir).outputs).map(([k, v]) => [k, v.value]));
}

/** One resource's outputs in a stack's state, secrets included (never print these). */
function resourceOutputsOf(stack: StackName, name: string, stateDir: string): Record<string, unknown> {
  const found = Object.values(stateOf(stack, stateDir).resources).filter((r) => r.name === name && r.custom);
  if (found.length !== 1) throw new Error(`stack ${stack} has ${found.length} resources named ${name} in its state, not one`);
  return found[0].outputs as Record<string, unknown>;
}

/**
 * The keys (and the revoked root token) of one init resource (`vault-init`,
 * `vault-unlock-init`, `helper-init`), read from the state as an operator reads them from
 * `pulumi stack export --show-secrets` (README "Secrets: what, where, who can read"): no stack
 * outputs them.
 */
export function initOf(stack: StackName, initName: string, stateDir = STATE_DIR): { rootToken: string; keys: string[] } {
  const { rootToken, keys } = resourceOutputsOf(stack, initName, stateDir) as { rootToken: string; keys: string[] };
  return { rootToken, keys };
}

/** A cluster's operator token (`vault-operator-token`, …), from the state the same way. */
export function operatorTokenOf(stack: StackName, name: string, stateDir = STATE_DIR): string {
  return String(resourceOutputsOf(stack, name, stateDir).token);
}
