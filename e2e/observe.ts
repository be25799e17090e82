/**
 * Test equipment: how the end-to-end run looks at the deployment, as an operator would with
 * kubectl and the Vault API: the pods of a cluster (ready, restarts, why not), each pod's
 * seal status through the project's own Kubernetes adapter (a port-forward through the API
 * server, TLS verified against the deployment's CA), and requests through a cluster's
 * Service, sent from inside its machine (ClusterIPs exist only there).
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as k8s from "@kubernetes/client-node";
import { KubernetesCluster } from "../adapters/kubernetes/kubernetes-cluster";
import { activeServiceHost, vaultNames } from "../adapters/kubernetes/names";
import type { SealStatus } from "../core/vault-client";
import { tlsSecretKeys } from "../components/pki";
import { EMERGENCY_TLS_PREFIX } from "../components/vault-config";
import { NAMESPACES } from "./deployment";
import { CLUSTERS, KUBECONFIG_FILE, netnsPath } from "./kube/layout";
import { run, sleep } from "./kube/processes";

export interface PodView {
  name: string;
  uid: string;
  ready: boolean;
  restarts: number;
  phase: string;
  why: string;
  node: string;
}

/** Admin access: observing is not what the deployer's permissions are checked on. */
export function adminApi(context: "primary" | "helper"): k8s.CoreV1Api {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(KUBECONFIG_FILE);
  kc.setCurrentContext(`${context}-admin`);
  return kc.makeApiClient(k8s.CoreV1Api);
}

/** kubectl as the admin of a cluster (the one kubectl of the checks). */
export function adminKubectl(context: "primary" | "helper", args: string[], input?: string): string {
  return run("kubectl", ["--kubeconfig", KUBECONFIG_FILE, "--context", `${context}-admin`, ...args], { input });
}

export async function podsOf(context: "primary" | "helper", namespace: string, cluster: string): Promise<PodView[]> {
  const list = await adminApi(context).listNamespacedPod(
    namespace,
    undefined,
    undefined,
    undefined,
    undefined,
    `app.kubernetes.io/instance=${cluster},app.kubernetes.io/component=server`,
  );
  return list.body.items
    .map((p) => {
      const statuses = [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])];
      const why = statuses
        .map((s) =>
          s.state?.waiting ? `${s.name}: ${s.state.waiting.reason}` : s.state?.running && !s.ready ? `${s.name}: running, not ready` : "",
        )
        .filter(Boolean)
        .join("; ");
      return {
        name: p.metadata!.name!,
        uid: p.metadata!.uid!,
        node: p.spec?.nodeName ?? "",
        ready: (p.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True"),
        restarts: (p.status?.containerStatuses ?? []).reduce((n, s) => n + s.restartCount, 0),
        phase: p.status?.phase ?? "",
        why,
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

export interface Target {
  context: "primary" | "helper";
  namespace: string;
  cluster: string;
  replicas: number;
  /** The cluster's own CA (each Vault cluster is a trust domain of its own). */
  caPem: string;
  /**
   * A client certificate the cluster accepts (from its CA), for the clusters that serve no
   * client without one (vault-unlock, the helper): the seal certificate of the cluster it
   * unseals, from that cluster's transit TLS Secret, as a user allowed to read Secrets there
   * would present it.
   */
  client: ClientCert;
}

export interface ClientCert {
  certPem: string;
  keyPem: string;
}

/** The fields of a Secret as text; none when it does not exist (yet: a program failed before making it). */
async function secretText(context: "primary" | "helper", namespace: string, name: string): Promise<(key: string) => string> {
  let data: Record<string, string> = {};
  try {
    data = (await adminApi(context).readNamespacedSecret(name, namespace)).body.data ?? {};
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode !== 404) throw e;
  }
  return (key) => Buffer.from(data[key] ?? "", "base64").toString("utf8");
}

/**
 * The client certificate a cluster's seal presents, from its transit TLS Secret: towards its
 * unsealer (`prefix` ""), or towards the helper (`vault`'s, EMERGENCY_TLS_PREFIX).
 */
export async function sealClientCert(cluster: "vault" | "vault-unlock", prefix = ""): Promise<ClientCert> {
  const ns = cluster === "vault" ? NAMESPACES.vault : NAMESPACES.vaultUnlock;
  const field = await secretText("primary", ns, vaultNames(cluster).transitTlsSecret);
  const k = tlsSecretKeys(prefix);
  return { certPem: field(k.cert), keyPem: field(k.key) };
}

/**
 * The three clusters of the deployment. Each CA comes from the cluster itself (its TLS
 * Secret), so pods can be described even when a program failed before recording its outputs.
 */
export async function deploymentTargets(): Promise<{ vault: Target; vaultUnlock: Target; helper: Target }> {
  const caOf = async (context: "primary" | "helper", namespace: string, cluster: string) =>
    (await secretText(context, namespace, vaultNames(cluster).tlsSecret))(tlsSecretKeys().ca);
  const target = async (context: "primary" | "helper", namespace: string, cluster: string, replicas: number, client: ClientCert) => ({
    context,
    namespace,
    cluster,
    replicas,
    caPem: await caOf(context, namespace, cluster),
    client,
  });
  return {
    vault: await target("primary", NAMESPACES.vault, "vault", 3, await sealClientCert("vault-unlock")),
    vaultUnlock: await target("primary", NAMESPACES.vaultUnlock, "vault-unlock", 3, await sealClientCert("vault")),
    helper: await target("helper", NAMESPACES.helper, "vault-helper", 1, await sealClientCert("vault", EMERGENCY_TLS_PREFIX)),
  };
}

function adapter(t: Target): KubernetesCluster {
  return new KubernetesCluster({
    kubeconfig: fs.readFileSync(KUBECONFIG_FILE, "utf8"),
    context: `${t.context}-admin`,
    namespace: t.namespace,
    statefulSet: vaultNames(t.cluster).statefulSet,
    replicas: t.replicas,
    port: 8200,
    tls: { caPem: t.caPem, serverName: activeServiceHost(t.cluster, t.namespace), certPem: t.client.certPem, keyPem: t.client.keyPem },
    sealConfigMap: vaultNames(t.cluster).sealConfigMap,
    sealTokenSecret: vaultNames(t.cluster).transitTokenSecret,
  });
}

/** Each pod's seal status, or the error that kept it from answering. */
export async function sealStatuses(t: Target): Promise<Record<string, SealStatus | { error: string }>> {
  const cluster = adapter(t);
  const out: Record<string, SealStatus | { error: string }> = {};
  try {
    for (const id of cluster.nodeIds()) {
      try {
        out[id] = await cluster.client(id).sealStatus();
      } catch (e) {
        // The first clause says enough here (unreachable, refused, TLS).
        out[id] = { error: (e as Error).message.split("\n")[0].split(": check")[0].slice(0, 160) };
      }
    }
  } finally {
    await cluster.close();
  }
  return out;
}

export const isUnsealed = (s: SealStatus | { error: string }, type?: string) =>
  "sealed" in s && s.initialized && !s.sealed && (!type || s.type === type);

/** A line per pod: ready, seal state, restarts, why not ready. */
export async function describe(t: Target): Promise<string> {
  const [pods, seals] = await Promise.all([
    podsOf(t.context, t.namespace, t.cluster),
    sealStatuses(t).catch(() => ({}) as Record<string, SealStatus | { error: string }>),
  ]);
  return (
    pods
      .map((p) => {
        const s = seals[p.name];
        const seal = !s ? "?" : "error" in s ? `no answer (${s.error})` : `${s.sealed ? "sealed" : "unsealed"} (${s.type})`;
        return `${p.name} on ${p.node}: ${p.ready ? "Ready" : "not Ready"}, ${seal}, restarts ${p.restarts}${p.why ? `, ${p.why}` : ""}`;
      })
      .join("\n") || `no pods of ${t.cluster}`
  );
}

/**
 * Until every pod of `t` is Ready and unsealed with `sealType` (and, given `replacedFrom`,
 * is a new pod). Polls every 500 ms; the error describes every pod.
 */
export async function waitUnsealed(
  t: Target,
  o: { sealType?: string; replacedFrom?: PodView[]; timeoutMs?: number } = {},
): Promise<number> {
  const t0 = Date.now();
  const deadline = t0 + (o.timeoutMs ?? 300_000);
  const old = new Set((o.replacedFrom ?? []).map((p) => p.uid));
  while (Date.now() < deadline) {
    const pods = await podsOf(t.context, t.namespace, t.cluster).catch(() => []);
    if (pods.length === t.replicas && pods.every((p) => p.ready && !old.has(p.uid))) {
      const seals = await sealStatuses(t);
      if (pods.every((p) => seals[p.name] && isUnsealed(seals[p.name], o.sealType))) return Date.now() - t0;
    }
    await sleep(500);
  }
  throw new Error(
    `${t.cluster} not all unsealed${o.sealType ? ` (${o.sealType})` : ""} after ${((Date.now() - t0) / 1000).toFixed(0)} s:\n${await describe(t)}`,
  );
}

export async function deletePods(context: "primary" | "helper", namespace: string, pods: PodView[]): Promise<void> {
  const core = adminApi(context);
  await Promise.all(pods.map((p) => core.deleteNamespacedPod(p.name, namespace)));
}

/**
 * The latest storage index each cluster answered with, whichever Service was asked. OpenBao's Raft standbys serve reads
 * from their own copy, which can lag the active node by a few milliseconds, so a read through
 * a Service right after a write may miss it. A client that needs read-after-write sends the
 * index of its last answer back (`X-Vault-Index`) and asks a standby that has not reached it
 * to forward to the active node (`X-Vault-Inconsistent: forward-active-node`), as these
 * requests do.
 */
const lastIndex = new Map<string, string>(); // by context/namespace: one Vault cluster each

/**
 * An API request through a cluster's Service (kube-proxy picks the pod), sent with curl from
 * inside the cluster's machine; TLS verified against the deployment's CA, the token in a
 * header file (never on a command line); read-after-write consistent (`lastIndex`).
 */
export function throughService(o: {
  context: "primary" | "helper";
  namespace: string;
  service: string;
  caPem: string;
  token: string;
  method: "GET" | "POST" | "DELETE";
  path: string;
  body?: unknown;
  /** Presented when given (vault-unlock and the helper serve no client without one). */
  client?: ClientCert;
}): { status: number; body: unknown } {
  const c = CLUSTERS.find((x) => x.name === o.context)!;
  const svc = JSON.parse(adminKubectl(o.context, ["-n", o.namespace, "get", "svc", o.service, "-o", "json"])) as {
    spec: { clusterIP: string };
  };
  const host = `${o.service}.${o.namespace}.svc`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vmu-e2e-"));
  try {
    fs.writeFileSync(path.join(dir, "ca.pem"), o.caPem);
    if (o.client) {
      fs.writeFileSync(path.join(dir, "client.pem"), o.client.certPem);
      fs.writeFileSync(path.join(dir, "client-key.pem"), o.client.keyPem, { mode: 0o600 });
    }
    const indexKey = `${o.context}/${o.namespace}`;
    const index = lastIndex.get(indexKey);
    const consistency = index ? `X-Vault-Index: ${index}\nX-Vault-Inconsistent: forward-active-node\n` : "";
    fs.writeFileSync(path.join(dir, "headers"), `X-Vault-Token: ${o.token}\n${consistency}`, { mode: 0o600 });
    const args = [
      "-s",
      "-o",
      path.join(dir, "out"),
      "-D",
      path.join(dir, "response-headers"),
      "-w",
      "%{http_code}",
      "--max-time",
      "5",
      "--cacert",
      path.join(dir, "ca.pem"),
      ...(o.client ? ["--cert", path.join(dir, "client.pem"), "--key", path.join(dir, "client-key.pem")] : []),
      "--resolve",
      `${host}:8200:${svc.spec.clusterIP}`,
      "-H",
      `@${path.join(dir, "headers")}`,
      "-X",
      o.method,
      ...(o.body !== undefined ? ["-H", "Content-Type: application/json", "--data", JSON.stringify(o.body)] : []),
      `https://${host}:8200/v1/${o.path}`,
    ];
    const status = Number(run("curl", args, { netns: netnsPath(c), allowFail: true }) || 0);
    const text = fs.existsSync(path.join(dir, "out")) ? fs.readFileSync(path.join(dir, "out"), "utf8") : "";
    const responseHeaders = fs.existsSync(path.join(dir, "response-headers"))
      ? fs.readFileSync(path.join(dir, "response-headers"), "utf8")
      : "";
    const answered = /^x-vault-index:\s*(\S+)/im.exec(responseHeaders)?.[1];
    if (answered) lastIndex.set(indexKey, answered);
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { status, body };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
