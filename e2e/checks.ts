/**
 * Test equipment: what the end-to-end run must show on the real clusters (README "The
 * end-to-end run"), one function per check. Each returns the figures it measured and throws
 * with every pod's state when the deployment does not do what a user would expect.
 */
import { execFileSync } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as k8s from "@kubernetes/client-node";
import * as yaml from "js-yaml";
import { vaultNames } from "../adapters/kubernetes/names";
import { decodeRootToken, GENERATE_ROOT, GenerateRootStatus } from "../core/steps/recovery-keys";
import { bodyOf } from "../core/vault-client";
import { CLUSTERS, KUBECONFIG_FILE, nodeDir, nodeName as layoutNodeName } from "./kube/layout";
import {
  initOf,
  NAMESPACES,
  operatorTokenOf,
  outputsOf,
  primaryConfig,
  helperConfig,
  runStack,
  RunResult,
  StackName,
  STATE_DIR,
} from "./deployment";
import {
  adminApi,
  adminKubectl,
  deploymentTargets,
  describe,
  deletePods,
  PodView,
  podsOf,
  sealStatuses,
  Target,
  throughService,
  waitUnsealed,
  isUnsealed,
} from "./observe";

export type Figures = Record<string, string | number>;

const KV = "e2e-kv";
const CLI = "bao";

function mustSucceed(stack: StackName, r: RunResult, what: string): void {
  if (!r.ok)
    throw new Error(
      `${what}: the ${stack} program failed: ${r.summary.error ?? "(no error recorded)"}\n--- stand-in log (last lines) ---\n${r.log.split("\n").slice(-15).join("\n")}`,
    );
}

const seconds = (ms: number) => Number((ms / 1000).toFixed(1));

async function everyPodUnsealed(what: string, sealType = "transit"): Promise<void> {
  const t = await deploymentTargets();
  for (const target of [t.vault, t.vaultUnlock]) {
    const seals = await sealStatuses(target);
    const pods = await podsOf(target.context, target.namespace, target.cluster);
    const bad = pods.filter((p) => !p.ready || !seals[p.name] || !isUnsealed(seals[p.name], sealType));
    if (pods.length !== target.replicas || bad.length)
      throw new Error(`${what}: ${target.cluster} is not all Ready and unsealed by ${sealType}:\n${await describe(target)}`);
  }
}

type PairCluster = "vault" | "vault-unlock";

/** A call through `cluster`'s active Service (with a client certificate of its CA, which vault-unlock requires). */
async function throughActive(cluster: PairCluster, token: string, method: "GET" | "POST" | "DELETE", apiPath: string, body?: unknown) {
  const t = (await deploymentTargets())[cluster === "vault" ? "vault" : "vaultUnlock"];
  return throughService({
    context: "primary",
    namespace: t.namespace,
    service: vaultNames(cluster).services.active,
    caPem: t.caPem,
    client: cluster === "vault" ? undefined : t.client,
    token,
    method,
    path: apiPath,
    body,
  });
}

const breakGlassTokens = new Map<PairCluster, string>();

/**
 * An admin token for `cluster`, the way the README's break-glass makes one: the bootstrap
 * revoked the root token, so generate-root with the init's keys (the e2e sets no PGP keys) and,
 * on OpenBao, the cluster's operator token, which may run it. Made once per run.
 */
async function breakGlassRoot(cluster: PairCluster): Promise<string> {
  const made = breakGlassTokens.get(cluster);
  if (made) return made;
  const operator = operatorTokenOf("primary", `${cluster}-operator-token`);
  const base = GENERATE_ROOT.openbao;
  const call = async (method: "GET" | "POST" | "DELETE", p: string, body?: unknown) => {
    const r = await throughActive(cluster, operator, method, `${base}/${p}`, body);
    if (r.status >= 300) throw new Error(`break-glass on ${cluster}: ${method} ${base}/${p}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
    return bodyOf((r.body || {}) as GenerateRootStatus & { data?: GenerateRootStatus });
  };
  // An attempt left by an earlier run that stopped half-way is cancelled first.
  if ((await call("GET", "attempt")).started) await call("DELETE", "attempt");
  const attempt = await call("POST", "attempt", {});
  for (const key of initOf("primary", `${cluster}-init`).keys) {
    const r = await call("POST", "update", { key, nonce: attempt.nonce });
    const encoded = r.encoded_token || r.encoded_root_token;
    if (r.complete && encoded) {
      const token = decodeRootToken(encoded, attempt.otp!);
      breakGlassTokens.set(cluster, token);
      return token;
    }
  }
  throw new Error(`break-glass on ${cluster}: the init's keys did not complete root generation`);
}

/** The probe secret, through vault's Service with a break-glass root token of vault. */
async function secretThroughService(method: "GET" | "POST", value?: string): Promise<{ status: number; body: unknown }> {
  const out = outputsOf("primary");
  return throughService({
    context: "primary",
    namespace: NAMESPACES.vault,
    service: "vault",
    caPem: String(out.vaultCaCertPem),
    token: await breakGlassRoot("vault"),
    method,
    path: `${KV}/probe`,
    body: value === undefined ? undefined : { value },
  });
}

/** The probe secret's value (test data, not a secret), kept with the state so that a later `--only` run can check it. */
const probeFile = () => path.join(STATE_DIR, "probe-value");

export async function assertSecretIntact(what: string): Promise<void> {
  const r = await secretThroughService("GET");
  const got = (r.body as { data?: { value?: string } })?.data?.value;
  if (r.status !== 200 || got !== fs.readFileSync(probeFile(), "utf8"))
    throw new Error(`${what}: the secret written through vault's Service is not there (HTTP ${r.status})`);
}

/**
 * vault-unlock and the helper answer only a client with a certificate from their own CA (the
 * handshake fails without one: curl's status 0), so a certificate another cluster accepts is
 * refused there too; vault answers its users without one.
 */
async function clientCertsEnforced(): Promise<void> {
  const t = await deploymentTargets();
  const health = (target: Target, client?: Target["client"]) =>
    throughService({
      context: target.context,
      namespace: target.namespace,
      service: vaultNames(target.cluster).services.unsealed,
      caPem: target.caPem,
      token: "",
      method: "GET",
      // A standby answers 429 without standbyok; the Service may pick one.
      path: "sys/health?standbyok=true",
      client,
    }).status;
  // Each cluster's CA is its own; the other clusters' client certificates are refused.
  if (new Set([t.vault.caPem, t.vaultUnlock.caPem, t.helper.caPem]).size !== 3)
    throw new Error("vault, vault-unlock and the helper do not each have a CA of their own");
  for (const [target, foreign] of [
    [t.vaultUnlock, t.helper.client],
    [t.helper, t.vaultUnlock.client],
  ] as const) {
    const status = health(target, foreign);
    if (status !== 0)
      throw new Error(
        `${target.cluster} answered HTTP ${status} to a client certificate of another cluster's CA (expected the handshake refused)`,
      );
  }
  for (const target of [t.vault, t.vaultUnlock, t.helper]) {
    const [without, withCert] = [health(target), health(target, target.client)];
    const requires = target.cluster !== "vault";
    if (withCert !== 200 || (requires ? without !== 0 : without !== 200))
      throw new Error(
        `${target.cluster} through its Service: HTTP ${without} without a client certificate, ${withCert} with one ` +
          `(expected ${requires ? "no answer (handshake refused)" : "200"} and 200)`,
      );
  }
}

/** No standing root token: each init's root token is refused (revoked), each operator token accepted. */
async function rootTokensRevoked(): Promise<void> {
  const t = await deploymentTargets();
  for (const [target, stack, prefix] of [
    [t.vault, "primary", "vault"],
    [t.vaultUnlock, "primary", "vault-unlock"],
    [t.helper, "helper", "helper"],
  ] as const) {
    const lookup = (token: string) =>
      throughService({
        context: target.context,
        namespace: target.namespace,
        service: vaultNames(target.cluster).services.unsealed,
        caPem: target.caPem,
        token,
        method: "GET",
        path: "auth/token/lookup-self",
        client: target.client,
      }).status;
    const [root, operator] = [
      lookup(initOf(stack, `${prefix}-init`).rootToken),
      lookup(operatorTokenOf(stack, `${prefix}-operator-token`)),
    ];
    if (root !== 403 || operator !== 200)
      throw new Error(
        `${target.cluster}: its init's root token answers HTTP ${root} (expected 403: revoked), its operator token ${operator} (expected 200)`,
      );
  }
}

/**
 * The init records: each init wrote its answer to a Secret before returning (a lost checkpoint
 * loses no key) and each operator-token step deleted it once the state held the keys.
 */
async function initRecordsWrittenAndGone(runs: Record<StackName, RunResult>): Promise<void> {
  for (const [stack, r] of Object.entries(runs))
    if (/init record could not be written/.test(r.log)) throw new Error(`the ${stack} run could not write an init record:\n${r.log}`);
  for (const [context, ns, cluster] of [
    ["primary", NAMESPACES.vault, "vault"],
    ["primary", NAMESPACES.vaultUnlock, "vault-unlock"],
    ["helper", NAMESPACES.helper, "vault-helper"],
  ] as const) {
    const name = vaultNames(cluster).initRecordSecret;
    const left = await adminApi(context)
      .readNamespacedSecret(name, ns)
      .then(
        () => true,
        (e: { response?: { statusCode?: number } }) => {
          if (e.response?.statusCode === 404) return false;
          throw e;
        },
      );
    if (left)
      throw new Error(`the init record ${ns}/${name} is still there after the bootstrap: its operator-token step did not delete it`);
  }
}

/** 1. Both programs, once each, on empty clusters. */
export async function bootstrap(): Promise<Figures> {
  const primary = await runStack("primary", primaryConfig());
  mustSucceed("primary", primary, "bootstrap");
  const helper = await runStack("helper", helperConfig());
  mustSucceed("helper", helper, "bootstrap");
  await everyPodUnsealed("after the bootstrap");
  for (const [context, ns] of [
    ["primary", NAMESPACES.vault],
    ["primary", NAMESPACES.vaultUnlock],
    ["helper", NAMESPACES.helper],
  ] as const) {
    const labels = (await adminApi(context).readNamespace(ns)).body.metadata?.labels ?? {};
    if (labels["pod-security.kubernetes.io/enforce"] !== "restricted")
      throw new Error(`namespace ${ns} does not enforce Pod Security restricted (labels: ${JSON.stringify(labels)})`);
  }
  await clientCertsEnforced();
  await rootTokensRevoked();
  await initRecordsWrittenAndGone({ primary, helper });
  const unlockType = outputsOf("primary").vaultUnlockSealType;
  if (unlockType !== "transit") throw new Error(`vault-unlock was not migrated Shamir → transit (seal type output: ${String(unlockType)})`);
  const h = outputsOf("helper");
  if (h.transitKeyInSync !== true) throw new Error(`the helper's copy of the key is not current: ${String(h.transitKeyVerdict)}`);
  const out = outputsOf("primary");
  const mount = throughService({
    context: "primary",
    namespace: NAMESPACES.vault,
    service: "vault",
    caPem: String(out.vaultCaCertPem),
    token: await breakGlassRoot("vault"),
    method: "POST",
    path: `sys/mounts/${KV}`,
    body: { type: "kv" },
  });
  if (mount.status !== 204 && !JSON.stringify(mount.body).includes("already in use"))
    throw new Error(`enabling a kv mount through vault's Service: HTTP ${mount.status} ${JSON.stringify(mount.body)}`);
  const probeValue = randomBytes(12).toString("hex");
  fs.writeFileSync(probeFile(), probeValue);
  const w = await secretThroughService("POST", probeValue);
  if (w.status !== 204) throw new Error(`writing a secret through vault's Service: HTTP ${w.status} ${JSON.stringify(w.body)}`);
  await assertSecretIntact("right after writing it");
  return {
    "primary program (s)": seconds(primary.ms),
    "helper program (s)": seconds(helper.ms),
    ...stepTimes(primary, "primary"),
    ...stepTimes(helper, "helper"),
  };
}

/** The slowest steps of a run, by resource name: where the bootstrap's time goes. */
function stepTimes(r: RunResult, stack: string): Figures {
  return Object.fromEntries(r.summary.resources.filter((s) => s.ms >= 2000).map((s) => [`${stack}: ${s.name} (s)`, seconds(s.ms)]));
}

interface Snapshot {
  objects: Record<string, string>;
  pods: Record<string, string>;
}

/** generation (or resourceVersion, for objects without a spec) of everything in the stacks' namespaces, and each pod's uid and restarts. */
async function snapshot(): Promise<Snapshot> {
  const snap: Snapshot = { objects: {}, pods: {} };
  for (const [context, namespaces] of [
    ["primary", [NAMESPACES.vault, NAMESPACES.vaultUnlock]],
    ["helper", [NAMESPACES.helper]],
  ] as const) {
    for (const ns of namespaces) {
      const kinds = "statefulsets,services,configmaps,secrets,serviceaccounts,roles,rolebindings,poddisruptionbudgets,networkpolicies";
      const list = JSON.parse(adminKubectl(context, ["-n", ns, "get", kinds, "-o", "json"])) as {
        items: { kind: string; metadata: k8s.V1ObjectMeta }[];
      };
      for (const o of list.items) {
        if (o.kind === "ConfigMap" && o.metadata.name === "kube-root-ca.crt") continue;
        snap.objects[`${context}/${ns}/${o.kind}/${o.metadata.name}`] = String(o.metadata.generation ?? o.metadata.resourceVersion);
      }
      for (const cluster of ns === NAMESPACES.helper ? ["vault-helper"] : [ns]) {
        for (const p of await podsOf(context, ns, cluster)) snap.pods[`${context}/${ns}/${p.name}`] = `${p.uid} restarts=${p.restarts}`;
      }
    }
  }
  return snap;
}

function differences(a: Record<string, string>, b: Record<string, string>): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])]
    .filter((k) => a[k] !== b[k])
    .map((k) => `${k}: ${a[k] ?? "absent"} → ${b[k] ?? "absent"}`);
}

/** 2. Both programs again with the same config: nothing changes. */
export async function secondRun(): Promise<Figures> {
  const before = await snapshot();
  const primary = await runStack("primary", primaryConfig());
  mustSucceed("primary", primary, "second run");
  const helper = await runStack("helper", helperConfig());
  mustSucceed("helper", helper, "second run");
  // A StackReference is read on every run; anything else must be "same".
  const changed = [...primary.summary.resources, ...helper.summary.resources].filter((s) => s.op !== "same" && s.op !== "read");
  if (changed.length)
    throw new Error(
      `a second run with the same config changed resources:\n${changed.map((s) => `  ${s.op} ${s.type} ${s.name}`).join("\n")}`,
    );
  const after = await snapshot();
  const moved = [...differences(before.objects, after.objects), ...differences(before.pods, after.pods)];
  if (moved.length) throw new Error(`a second run with the same config moved Kubernetes objects or pods:\n  ${moved.join("\n  ")}`);
  return {
    "primary second run (s)": seconds(primary.ms),
    "helper second run (s)": seconds(helper.ms),
    "resources unchanged": primary.summary.resources.length + helper.summary.resources.length,
    "objects unchanged": Object.keys(after.objects).length,
  };
}

/** 3. Every pod of one cluster deleted at once comes back unsealed with no program run; then the other. */
export async function autoUnseal(): Promise<Figures> {
  const t = await deploymentTargets();
  const figures: Figures = {};
  for (const target of [t.vault, t.vaultUnlock]) {
    const pods = await podsOf(target.context, target.namespace, target.cluster);
    const t0 = Date.now();
    await deletePods(target.context, target.namespace, pods);
    await waitUnsealed(target, { sealType: "transit", replacedFrom: pods });
    figures[`${target.cluster}: all pods deleted → all Ready and unsealed (s)`] = seconds(Date.now() - t0);
    await assertSecretIntact(`after every pod of ${target.cluster} was deleted`);
  }
  return figures;
}

/** Once every old pod is gone, the new ones sealed and held (peer gate) for `holdMs`: the deadlock, shown. */
async function assertStaysSealed(target: Target, old: PodView[], holdMs: number): Promise<void> {
  const uids = new Set(old.map((p) => p.uid));
  await waitFor(
    async () => (await podsOf(target.context, target.namespace, target.cluster)).every((p) => !uids.has(p.uid)),
    120_000,
    `the old pods of ${target.cluster} to be gone`,
  );
  const deadline = Date.now() + holdMs;
  while (Date.now() < deadline) {
    const pods = await podsOf(target.context, target.namespace, target.cluster);
    if (pods.length !== target.replicas)
      throw new Error(
        `${target.cluster} has ${pods.length} pods, not ${target.replicas}: the StatefulSet did not recreate them:\n${await describe(target)}`,
      );
    if (pods.some((p) => p.ready))
      throw new Error(
        `${target.cluster} became Ready with its peer gone: there was no deadlock to recover from:\n${await describe(target)}`,
      );
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/**
 * 4. The deadlock runbook of the README, step by step: both clusters' pods deleted at once
 * (each waits for the other), the helper unsealed by hand with kubectl exec, the primary
 * program with emergency: true, then with emergency: false.
 */
export async function deadlockRunbook(label = ""): Promise<Figures> {
  const t = await deploymentTargets();
  const [vaultPods, unlockPods, helperPods] = await Promise.all(
    [t.vault, t.vaultUnlock, t.helper].map((x) => podsOf(x.context, x.namespace, x.cluster)),
  );
  await Promise.all([
    deletePods("primary", NAMESPACES.vault, vaultPods),
    deletePods("primary", NAMESPACES.vaultUnlock, unlockPods),
    deletePods("helper", NAMESPACES.helper, helperPods),
  ]);
  await Promise.all([assertStaysSealed(t.vault, vaultPods, 30_000), assertStaysSealed(t.vaultUnlock, unlockPods, 30_000)]);
  const t0 = Date.now();
  // Runbook step 1: unseal the helper by hand, one key per call up to the threshold, as an
  // operator whose user may exec into the helper's pods (the deployer may not, on purpose).
  // The key goes in on stdin (`operator unseal` reads it only from a terminal), never in argv.
  await waitHelperAnswers(t.helper);
  const keys = initOf("helper", "helper-init").keys;
  for (const key of keys.slice(0, Number(helperConfig().keyThreshold))) {
    adminKubectl(
      "helper",
      ["-n", NAMESPACES.helper, "exec", "-i", vaultNames("vault-helper").pod(0), "-c", CLI, "--", CLI, "write", "sys/unseal", "-"],
      JSON.stringify({ key }),
    );
  }
  await waitUnsealed(t.helper, { sealType: "shamir", timeoutMs: 60_000 });
  const unsealedHelper = Date.now();
  // Step 2: the helper's program checks its copy and renews (or re-issues) the emergency token.
  const helper = await runStack("helper", helperConfig());
  mustSucceed("helper", helper, "runbook step 2");
  // Step 3: emergency on: vault's seal points at the helper; vault-unlock follows vault.
  const on = await runStack("primary", primaryConfig({ emergency: true }));
  mustSucceed("primary", on, "runbook step 3 (emergency: true)");
  await waitUnsealed(t.vault, { sealType: "transit", timeoutMs: 180_000 });
  await waitUnsealed(t.vaultUnlock, { sealType: "transit", timeoutMs: 180_000 });
  const serving = Date.now();
  await assertSecretIntact("after the emergency switch");
  // Step 4: back onto vault-unlock.
  const off = await runStack("primary", primaryConfig({ emergency: false }));
  mustSucceed("primary", off, "runbook step 4 (emergency: false)");
  // The rollout ends when the last pod is unsealed; its readiness probe (every 2 s) follows.
  await waitUnsealed(t.vault, { sealType: "transit", timeoutMs: 60_000 });
  await waitUnsealed(t.vaultUnlock, { sealType: "transit", timeoutMs: 60_000 });
  const sealAddress = String(outputsOf("primary").vaultSealAddress);
  if (!sealAddress.includes("vault-unlock")) throw new Error(`after emergency: false vault's seal still points at ${sealAddress}`);
  await assertSecretIntact("after switching back");
  return {
    [`${label}helper unsealed by hand (s)`]: seconds(unsealedHelper - t0),
    [`${label}emergency run → both serving (s)`]: seconds(serving - unsealedHelper),
    [`${label}deadlock → both serving (s)`]: seconds(serving - t0),
    [`${label}switch back run (s)`]: seconds(off.ms),
  };
}

async function waitHelperAnswers(helper: Target): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const s = (await sealStatuses(helper))[vaultNames("vault-helper").pod(0)];
    if (s && "sealed" in s) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(`the helper pod never answered:\n${await describe(helper)}`);
}

/** The containerd socket of the node a pod runs on (the harness's own node folders). */
function containerdOf(nodeName: string): string {
  for (const c of CLUSTERS)
    for (let n = 1; n <= c.nodes; n++)
      if (layoutNodeName(c, n) === nodeName) return path.join(nodeDir(c, n), "containerd", "containerd.sock");
  throw new Error(`no node ${nodeName} in the harness`);
}

/** kill -9 of a pod's server process, as a crash would: the kubelet restarts the container, not the pod. */
async function killServer(context: "primary" | "helper", namespace: string, pod: string): Promise<void> {
  const core = adminApi(context);
  const p = (await core.readNamespacedPod(pod, namespace)).body;
  const status = (p.status?.containerStatuses ?? []).find((c) => c.name === CLI);
  const id = status?.containerID?.replace(/^containerd:\/\//, "");
  if (!id) throw new Error(`${pod} has no running ${CLI} container to kill`);
  execFileSync("ctr", ["-a", containerdOf(p.spec!.nodeName!), "-n", "k8s.io", "tasks", "kill", "-s", "SIGKILL", id]);
}

function scale(namespace: string, statefulSet: string, replicas: number): void {
  adminKubectl("primary", ["-n", namespace, "scale", "statefulset", statefulSet, `--replicas=${replicas}`]);
}

/**
 * 3b. The server process of a vault pod killed while vault-unlock is down: its container
 * restarts, waits at the peer gate (no crash loop), and unseals as soon as vault-unlock is back.
 */
export async function containerKilledWhilePeerDown(): Promise<Figures> {
  const t = await deploymentTargets();
  const waitMs = 45_000;
  scale(NAMESPACES.vaultUnlock, vaultNames("vault-unlock").statefulSet, 0);
  try {
    await waitFor(
      async () => (await podsOf("primary", NAMESPACES.vaultUnlock, "vault-unlock")).length === 0,
      120_000,
      "vault-unlock's pods to stop",
    );
    await killServer("primary", NAMESPACES.vault, vaultNames("vault").pod(0));
    await new Promise((r) => setTimeout(r, waitMs));
    const p = (await podsOf("primary", NAMESPACES.vault, "vault")).find((x) => x.name === vaultNames("vault").pod(0))!;
    if (p.restarts > 1 || /CrashLoopBackOff/.test(p.why))
      throw new Error(`vault-0 crash-loops while its peer is down (restarts ${p.restarts}${p.why ? `, ${p.why}` : ""})`);
  } finally {
    scale(NAMESPACES.vaultUnlock, vaultNames("vault-unlock").statefulSet, 3);
  }
  const back = Date.now();
  await waitUnsealed(t.vaultUnlock, { sealType: "transit" });
  const unlockBack = Date.now();
  await waitUnsealed(t.vault, { sealType: "transit" });
  await assertSecretIntact("after vault-0's server was killed while vault-unlock was down");
  const p = (await podsOf("primary", NAMESPACES.vault, "vault")).find((x) => x.name === vaultNames("vault").pod(0))!;
  return {
    [`vault-0 restarts after ${waitMs / 1000} s with its peer down`]: p.restarts,
    "vault-unlock scaled back → vault-unlock unsealed (s)": seconds(unlockBack - back),
    "vault-unlock unsealed → vault-0 unsealed (s)": seconds(Date.now() - unlockBack),
  };
}

async function waitFor(ok: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
}

/**
 * 5. The key rotated on vault-unlock: the primary's next run takes a new backup, the helper's
 * restores it; then the runbook again, after vault's leader changed (vault re-wraps its keys
 * to the new version only then, so a stale copy would fail here).
 */
export async function keyRotation(): Promise<Figures> {
  const out = outputsOf("primary");
  const before = Number(out.transitKeyLatestVersion);
  const rotate = throughService({
    context: "primary",
    namespace: NAMESPACES.vaultUnlock,
    service: vaultNames("vault-unlock").services.unsealed,
    caPem: String(out.vaultUnlockCaCertPem),
    client: (await deploymentTargets()).vaultUnlock.client,
    token: await breakGlassRoot("vault-unlock"),
    method: "POST",
    path: "transit/keys/autounseal/rotate",
    body: {},
  });
  if (rotate.status !== 200 && rotate.status !== 204)
    throw new Error(`rotating the key on vault-unlock: HTTP ${rotate.status} ${JSON.stringify(rotate.body)}`);
  const primary = await runStack("primary", primaryConfig());
  mustSucceed("primary", primary, "the run after the rotation");
  const backupStep = primary.summary.resources.find((r) => r.name === "vault-transit-key-backup");
  const after = outputsOf("primary");
  if (!backupStep || Number(after.transitKeyVersion) !== before + 1 || backupStep.op === "same")
    throw new Error(
      `the primary's run after the rotation did not take a new backup (version ${String(after.transitKeyVersion)}, step ${backupStep?.op})`,
    );
  const helper = await runStack("helper", helperConfig());
  mustSucceed("helper", helper, "the helper's run after the new backup");
  const h = outputsOf("helper");
  if (h.transitKeyInSync !== true || Number(h.transitKeyVersion) !== before + 1)
    throw new Error(`the helper's copy is not current after its run: ${String(h.transitKeyVerdict)}`);
  // vault's leader changes: it re-wraps its stored keys to the new version.
  const down = throughService({
    context: "primary",
    namespace: NAMESPACES.vault,
    service: vaultNames("vault").services.active,
    caPem: String(out.vaultCaCertPem),
    // The operator token may step down (the providers' rollouts do).
    token: operatorTokenOf("primary", "vault-operator-token"),
    method: "POST",
    path: "sys/step-down",
    body: {},
  });
  if (down.status !== 204) throw new Error(`stepping vault's leader down: HTTP ${down.status} ${JSON.stringify(down.body)}`);
  await new Promise((r) => setTimeout(r, 15_000));
  await everyPodUnsealed("after vault's leader changed");
  return {
    "key version": `${before} → ${before + 1}`,
    "primary run after rotation (s)": seconds(primary.ms),
    "helper run (s)": seconds(helper.ms),
    ...(await deadlockRunbook("after rotation: ")),
  };
}

/** The kubeconfig with the deployer of context `primary` swapped for one that lacks pods/portforward. */
function kubeconfigWithoutPortForward(): string {
  const kc = yaml.load(fs.readFileSync(KUBECONFIG_FILE, "utf8")) as { contexts: { name: string; context: { user: string } }[] };
  const weak = kc.contexts.find((c) => c.name === "primary-no-portforward")!;
  kc.contexts.find((c) => c.name === "primary")!.context.user = weak.context.user;
  return yaml.dump(kc);
}

/** 6. Bad input on the real clusters: each a clear error, nothing changed. */
export async function badInput(): Promise<Figures> {
  const figures: Figures = {};
  const before = await snapshot();
  // A user lacking pods/portforward: the providers' port-forwards are refused by RBAC.
  const weak = await runStack("primary", primaryConfig(), { kubeconfig: kubeconfigWithoutPortForward() });
  if (weak.ok || !/portforward/.test(weak.summary.error ?? ""))
    throw new Error(
      `a user lacking pods/portforward: expected a failure naming pods/portforward, got ${weak.ok ? "success" : weak.summary.error}`,
    );
  figures["no pods/portforward"] = firstLine(weak.summary.error);
  // A context that does not exist: a config error before any resource.
  const ghost = await runStack("primary", primaryConfig({ vault: { context: "no-such-context", namespace: NAMESPACES.vault } }));
  if (ghost.ok || !/no-such-context/.test(ghost.summary.error ?? "") || ghost.summary.resources.length)
    throw new Error(
      `a context that does not exist: expected a config error before any resource, got ${ghost.ok ? "success" : ghost.summary.error}`,
    );
  figures["no such context"] =
    (ghost.summary.error ?? "")
      .split("\n")
      .find((l) => l.includes("no-such-context"))
      ?.trim() ?? "";
  const afterRefused = await snapshot();
  const moved = [...differences(before.objects, afterRefused.objects), ...differences(before.pods, afterRefused.pods)];
  if (moved.length) throw new Error(`a refused run changed the deployment:\n  ${moved.join("\n  ")}`);
  // The right kubeconfig again: the run succeeds and the cluster still does not move. (The
  // refused run had recorded the other kubeconfig in the resources it reached, as the engine
  // would: this run records the right one back, and nothing else.)
  const again = await runStack("primary", primaryConfig());
  mustSucceed("primary", again, "the run after the refused ones");
  const afterGood = await snapshot();
  const movedAgain = [...differences(before.objects, afterGood.objects), ...differences(before.pods, afterGood.pods)];
  if (movedAgain.length) throw new Error(`the good run after the refused ones changed the deployment:\n  ${movedAgain.join("\n  ")}`);
  figures["good run after them: resources updated back"] =
    again.summary.resources
      .filter((r) => r.op === "update")
      .map((r) => r.name)
      .join(", ") || "none";
  // An image that does not exist, in namespaces of its own: the wait ends with the pod's reason.
  // Its registry is a closed port on the node's own loopback: the pull fails there, and no
  // test traffic leaves for a registry on the internet.
  const stateDir = path.join(STATE_DIR, "bad-image");
  const t0 = Date.now();
  const bad = await runStack(
    "primary",
    primaryConfig({
      image: "127.0.0.1:9/vault-mutual-unseal/no-such-image:1",
      vault: { context: "primary", namespace: "vault-badimage" },
      vaultUnlock: { context: "primary", namespace: "vault-unlock-badimage" },
      helperAddress: undefined,
      helperStack: undefined,
    }),
    { stateDir },
  );
  try {
    if (bad.ok || !/ErrImagePull|ImagePullBackOff/.test(bad.summary.error ?? ""))
      throw new Error(
        `an image that does not exist: expected the pod's reason (ErrImagePull/ImagePullBackOff), got ${bad.ok ? "success" : bad.summary.error}`,
      );
    figures["image that does not exist"] = `${firstLine(bad.summary.error)} (after ${seconds(Date.now() - t0)} s)`;
  } finally {
    releaseBadImageVolumes(["vault-badimage", "vault-unlock-badimage"]);
    fs.rmSync(stateDir, { recursive: true, force: true });
  }
  return figures;
}

/**
 * The bad-image run's pods were scheduled, so their claims bound local PVs, which outlive the
 * namespaces (Retain) as Released: make them Available again (nothing was ever written to
 * them), so a later run of check 6 finds free volumes.
 */
function releaseBadImageVolumes(namespaces: string[]): void {
  const kubectl = (...args: string[]) => adminKubectl("primary", args);
  kubectl("delete", "namespace", ...namespaces, "--ignore-not-found", "--wait=true", "--timeout=120s");
  const pvs = JSON.parse(kubectl("get", "pv", "-o", "json")) as {
    items: { metadata: { name: string }; spec: { claimRef?: { namespace?: string } } }[];
  };
  for (const pv of pvs.items.filter((v) => namespaces.includes(v.spec.claimRef?.namespace ?? ""))) {
    kubectl("patch", "pv", pv.metadata.name, "--type", "json", "-p", '[{"op":"remove","path":"/spec/claimRef"}]');
  }
}

const firstLine = (s?: string) => (s ?? "").split("\n").find((l) => l.trim()) ?? "";
