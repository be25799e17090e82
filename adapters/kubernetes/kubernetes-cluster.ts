/**
 * The Kubernetes node adapter: the core reaches the pods of one Vault StatefulSet with only a
 * kubeconfig, as the article did with kubectl. A node's API is a port-forward through the API
 * server (port-forward.ts); a restart deletes the pod and waits for its replacement (the
 * StatefulSet uses OnDelete, so nothing else restarts pods on a seal change); the seal
 * settings are the optional ConfigMap and token Secret the pod template reads, with the
 * bookkeeping of seal-record.ts, which also states the rule for runningSealDigest.
 *
 * Kept thin on purpose: the decisions are in the pure modules beside it, which are unit
 * tested; this file only calls the API. It has not run against a live cluster here.
 */
import type { IncomingMessage } from "http";
import * as k8s from "@kubernetes/client-node";
import { InputError, TimeoutError, VaultApiError, WaitCannotHelpError, throwProblems } from "../../core/errors";
import { NodeControl, SealSettings, sealSettingsDigest } from "../../core/nodes";
import { VaultClient } from "../../core/vault-client";
import { sleep, waitFor } from "../../core/wait";
import { DEFAULT_DRAIN_SECONDS, DEFAULT_RESTART_TIMEOUT_MS, DEFAULT_SEAL_GRACE_SECONDS, assertValidAccess, podNames } from "./access";
import { KubernetesApiError, kubernetesApiError, statusOf } from "./api-error";
import { INIT_RECORD_KEY, vaultNames } from "./names";
import { KubernetesAccess, SERVING_LABEL } from "./options";
import { PodCannotStartError, PodRestartError, PodView, classifyPod, describePod, hintsFor, needsAChange } from "./pod-status";
import { ForwardedVaultClient, PodTunnel } from "./port-forward";
import {
  SealHistoryEntry,
  SealPlacement,
  UNKNOWN_SEAL_DIGEST,
  historyOf,
  planSealWrite,
  restartDelayMs,
  runningDigest,
  sealProblemsOnKubernetes,
  storedSeal,
} from "./seal-record";

/** A KubeConfig for `access`, with the context checked. */
export function loadKubeConfig(access: Pick<KubernetesAccess, "kubeconfig" | "context">): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  try {
    kc.loadFromString(access.kubeconfig);
  } catch (e) {
    throw new InputError("kubeconfig", `is not a readable kubeconfig: ${(e as Error).message}`);
  }
  const names = kc.getContexts().map((c) => c.name);
  if (access.context !== undefined) {
    if (!kc.getContextObject(access.context))
      throw new InputError("context", `the kubeconfig has no context "${access.context}" (it has: ${names.join(", ") || "none"})`);
    kc.setCurrentContext(access.context);
  }
  const current = kc.getCurrentContext();
  if (!current || !kc.getContextObject(current))
    throw new InputError("context", `the kubeconfig has no current context: name one (it has: ${names.join(", ") || "none"})`);
  if (!kc.getCurrentCluster()) throw new InputError("kubeconfig", `context "${current}" names a cluster the kubeconfig does not define`);
  return kc;
}

/** The API server's clock, from a response's Date header (our own clock when it has none). */
function serverTime(res: IncomingMessage | undefined): Date {
  const t = Date.parse(String(res?.headers?.date ?? ""));
  return Number.isNaN(t) ? new Date() : new Date(t);
}

interface Read<T> {
  body?: T;
  serverNow: Date;
}

export class KubernetesCluster implements NodeControl {
  readonly name: string;
  private readonly api: k8s.CoreV1Api;
  private readonly forward: k8s.PortForward;
  private readonly apiServer: string;
  private readonly tunnels = new Map<string, PodTunnel>();
  private readonly placement: SealPlacement;
  private readonly graceMs: number;
  private readonly restartTimeoutMs: number;

  constructor(private readonly access: KubernetesAccess) {
    assertValidAccess(access);
    const kc = loadKubeConfig(access);
    this.name = access.statefulSet;
    this.api = kc.makeApiClient(k8s.CoreV1Api);
    this.forward = new k8s.PortForward(kc);
    this.apiServer = kc.getCurrentCluster()?.server ?? "";
    this.placement = {
      namespace: access.namespace,
      configMap: access.sealConfigMap,
      secret: access.sealTokenSecret,
      labels: {
        "app.kubernetes.io/instance": access.statefulSet,
        "app.kubernetes.io/part-of": "vault-mutual-unseal",
        "app.kubernetes.io/managed-by": "vault-mutual-unseal-node-adapter",
      },
      serverConfigSeals: access.serverConfigSeals,
    };
    this.graceMs = (access.sealPropagationGraceSeconds ?? DEFAULT_SEAL_GRACE_SECONDS) * 1000;
    this.restartTimeoutMs = access.restartTimeoutMs ?? DEFAULT_RESTART_TIMEOUT_MS;
  }

  nodeIds(): string[] {
    return podNames(this.access);
  }

  private checkNode(id: string): void {
    if (!this.nodeIds().includes(id)) throw new Error(`${this.name} has no node ${id} (pods: ${this.nodeIds().join(", ")})`);
  }

  client(id: string, token?: string): VaultClient {
    this.checkNode(id);
    let tunnel = this.tunnels.get(id);
    if (!tunnel) {
      tunnel = new PodTunnel(this.forward, this.access.namespace, id, this.access.port);
      this.tunnels.set(id, tunnel);
    }
    const { caPem, serverName, certPem, keyPem } = this.access.tls;
    return new ForwardedVaultClient(tunnel, { token, timeoutMs: 10_000, tls: { caPem, serverName, certPem, keyPem } }, () =>
      this.cannotStart(id),
    );
  }

  /** Why the pod's API cannot answer, when waiting would not help (its image cannot be pulled, …). */
  private async cannotStart(id: string): Promise<Error | undefined> {
    const read = await this.readPod(id);
    const pod = read.body;
    const reasons = needsAChange(pod, read.serverNow);
    const where = { namespace: this.access.namespace, name: id, container: this.access.container };
    return reasons && new PodCannotStartError(this.where("pod", id), reasons, describePod(pod, where), hintsFor(pod, where));
  }

  /** Closes every port-forward listener and connection. */
  async close(): Promise<void> {
    const tunnels = [...this.tunnels.values()];
    this.tunnels.clear();
    await Promise.all(tunnels.map((t) => t.close()));
  }

  private where(kind: string, name: string): string {
    return `${kind} ${this.access.namespace}/${name}`;
  }

  private apiError(action: string, e: unknown): Error {
    return kubernetesApiError(action, e, { namespace: this.access.namespace, server: this.apiServer });
  }

  /** One GET; a 404 is an absent object, not an error. */
  private async read<T>(what: string, call: () => Promise<{ response: IncomingMessage; body: T }>): Promise<Read<T>> {
    try {
      const r = await call();
      return { body: r.body, serverNow: serverTime(r.response) };
    } catch (e) {
      if (statusOf(e) === 404) return { serverNow: serverTime((e as { response?: IncomingMessage }).response) };
      throw this.apiError(`read ${what}`, e);
    }
  }

  private readConfigMap(): Promise<Read<k8s.V1ConfigMap>> {
    return this.read(this.where("ConfigMap", this.access.sealConfigMap), () =>
      this.api.readNamespacedConfigMap(this.access.sealConfigMap, this.access.namespace),
    );
  }

  private readSecret(): Promise<Read<k8s.V1Secret>> {
    return this.read(this.where("Secret", this.access.sealTokenSecret), () =>
      this.api.readNamespacedSecret(this.access.sealTokenSecret, this.access.namespace),
    );
  }

  private readPod(id: string): Promise<Read<k8s.V1Pod>> {
    return this.read(this.where("pod", id), () => this.api.readNamespacedPod(id, this.access.namespace));
  }

  async appliedSeal(): Promise<SealSettings> {
    const [cm, secret] = await Promise.all([this.readConfigMap(), this.readSecret()]);
    return storedSeal(this.placement, cm.body, secret.body).settings;
  }

  /** Writes the token Secret, then the ConfigMap, each only when its content differs. */
  async applySeal(seal: SealSettings): Promise<void> {
    throwProblems(sealProblemsOnKubernetes(seal, this.access.serverConfigSeals));
    const ns = this.access.namespace;
    for (let attempt = 1; ; attempt++) {
      const [cm, secret] = await Promise.all([this.readConfigMap(), this.readSecret()]);
      const plan = planSealWrite(this.placement, seal, { configMap: cm.body, secret: secret.body }, cm.serverNow);
      let action = "";
      try {
        if (plan.secret) {
          action = `${secret.body ? "update" : "create"} ${this.where("Secret", this.access.sealTokenSecret)}`;
          const body = plan.secret as k8s.V1Secret;
          await (secret.body
            ? this.api.replaceNamespacedSecret(this.access.sealTokenSecret, ns, body)
            : this.api.createNamespacedSecret(ns, body));
        }
        if (plan.configMap) {
          action = `${cm.body ? "update" : "create"} ${this.where("ConfigMap", this.access.sealConfigMap)}`;
          const body = plan.configMap as k8s.V1ConfigMap;
          await (cm.body
            ? this.api.replaceNamespacedConfigMap(this.access.sealConfigMap, ns, body)
            : this.api.createNamespacedConfigMap(ns, body));
        }
        return;
      } catch (e) {
        // Changed (or created) by someone else between our read and write: read again.
        if (statusOf(e) === 409 && attempt < 3) continue;
        throw this.apiError(action, e);
      }
    }
  }

  /** See seal-record.ts for the rule; undefined when the pod's Vault container is not running. */
  async runningSealDigest(id: string): Promise<string | undefined> {
    this.checkNode(id);
    const [pod, cm, secret] = await Promise.all([this.readPod(id), this.readConfigMap(), this.readSecret()]);
    const view = classifyPod(pod.body, { apiPort: this.access.port, container: this.access.container });
    if (view.kind !== "running") return undefined;
    let stored;
    try {
      stored = storedSeal(this.placement, cm.body, secret.body);
    } catch (e) {
      if (e instanceof InputError) return UNKNOWN_SEAL_DIGEST;
      throw e;
    }
    return runningDigest(stored.history, sealSettingsDigest(stored.settings), view, this.graceMs);
  }

  private get initRecordSecret(): string {
    return vaultNames(this.access.statefulSet).initRecordSecret;
  }

  initRecordLocation(): string {
    return this.where("Secret", this.initRecordSecret);
  }

  /**
   * Creates the init record Secret, or replaces one left by an earlier init of a cluster of the
   * same name (its data were wiped since). A Secret, never a ConfigMap: it holds the keys. The
   * servers' Role grants no access to Secrets; the deployer's (docs/deployer-rbac.yaml) does.
   */
  async saveInitRecord(record: string): Promise<void> {
    const name = this.initRecordSecret;
    const body: k8s.V1Secret = {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name, namespace: this.access.namespace, labels: this.placement.labels },
      type: "Opaque",
      data: { [INIT_RECORD_KEY]: Buffer.from(record, "utf8").toString("base64") },
    };
    try {
      await this.api.createNamespacedSecret(this.access.namespace, body);
    } catch (e) {
      if (statusOf(e) !== 409) throw this.apiError(`create ${this.initRecordLocation()}`, e);
      try {
        await this.api.replaceNamespacedSecret(name, this.access.namespace, body);
      } catch (e2) {
        throw this.apiError(`update ${this.initRecordLocation()}`, e2);
      }
    }
  }

  async loadInitRecord(): Promise<string | undefined> {
    const read = await this.read(this.initRecordLocation(), () =>
      this.api.readNamespacedSecret(this.initRecordSecret, this.access.namespace),
    );
    const data = read.body?.data?.[INIT_RECORD_KEY];
    return data === undefined ? undefined : Buffer.from(data, "base64").toString("utf8");
  }

  async forgetInitRecord(): Promise<void> {
    try {
      await this.api.deleteNamespacedSecret(this.initRecordSecret, this.access.namespace);
    } catch (e) {
      if (statusOf(e) !== 404) throw this.apiError(`delete ${this.initRecordLocation()}`, e);
    }
  }

  /**
   * Takes the pod out of the client Services before its step-down (the serving label set
   * to "false"), then waits for the endpoints controller and kube-proxy to notice, so no
   * request is sent to a node on its way out (the lab's 0 failed probes). The pod keeps
   * running and stays in Raft; the restart that follows replaces it with a serving pod.
   */
  async drain(id: string): Promise<void> {
    if (await this.setServing(id, false)) await sleep((this.access.drainSeconds ?? DEFAULT_DRAIN_SECONDS) * 1000);
  }

  /** Back into its Services (the serving label "true"), e.g. after a failed step-down. */
  async undrain(id: string): Promise<void> {
    await this.setServing(id, true);
  }

  /** Patches the pod's serving label; false when the pod is gone (nothing routes to it then). */
  private async setServing(id: string, serving: boolean): Promise<boolean> {
    this.checkNode(id);
    const value = serving ? "true" : "false";
    try {
      await this.api.patchNamespacedPod(
        id,
        this.access.namespace,
        { metadata: { labels: { [SERVING_LABEL]: value } } },
        undefined,
        undefined,
        undefined,
        undefined,
        undefined,
        {
          headers: { "Content-Type": k8s.PatchUtils.PATCH_FORMAT_STRATEGIC_MERGE_PATCH },
        },
      );
      return true;
    } catch (e) {
      if (statusOf(e) === 404) return false;
      throw this.apiError(
        `${serving ? "put" : "take"} ${this.where("pod", id)} ${serving ? "back into" : "out of"} its Services (label ${SERVING_LABEL}=${value})`,
        e,
      );
    }
  }

  /**
   * Deletes the pod and waits for a new one (another uid) whose Vault container runs and
   * whose API answers through the port-forward. The delete waits until the last seal change
   * is older than the grace, so the new pod provably runs the applied settings.
   */
  async restart(id: string): Promise<void> {
    this.checkNode(id);
    const started = Date.now();
    const before = await this.readPod(id);
    const cm = await this.readConfigMap();
    let history: SealHistoryEntry[] = [];
    try {
      history = historyOf(cm.body);
    } catch {
      // An unreadable history: nothing to wait for; the restarted pod is reported "unknown" until applySeal rewrites it.
    }
    const delay = restartDelayMs(history, before.serverNow, this.graceMs);
    if (delay > 0) await sleep(delay);
    const previousUid = before.body?.metadata?.uid;
    if (previousUid) {
      try {
        await this.api.deleteNamespacedPod(id, this.access.namespace, undefined, undefined, undefined, undefined, undefined, {
          preconditions: { uid: previousUid },
        });
      } catch (e) {
        // 404: already gone; 409: the uid precondition failed, so it was replaced already.
        if (statusOf(e) !== 404 && statusOf(e) !== 409) throw this.apiError(`delete ${this.where("pod", id)}`, e);
      }
    }

    let last: { pod?: k8s.V1Pod; view?: PodView; api?: string } = {};
    let refused: Error | undefined;
    const timeoutMs = Math.max(1, this.restartTimeoutMs - (Date.now() - started));
    try {
      await waitFor(
        `${this.where("pod", id)} to be replaced`,
        async () => {
          let pod: k8s.V1Pod | undefined;
          try {
            pod = (await this.readPod(id)).body;
          } catch (e) {
            // Refused credentials or RBAC do not get better by waiting; anything else may be passing.
            if (e instanceof KubernetesApiError && (e.status === 401 || e.status === 403)) {
              refused = e;
              return { done: true, state: e.message };
            }
            throw e;
          }
          const view = classifyPod(pod, { apiPort: this.access.port, container: this.access.container, previousUid });
          last = { pod, view };
          if (view.kind !== "running") return { done: false, state: view.kind };
          try {
            await this.client(id).sealStatus();
          } catch (e) {
            // A refused port-forward, or a pod that cannot start: waiting does not help.
            if (e instanceof WaitCannotHelpError) throw e;
            // Any HTTP answer means the server process is up (a node mid-migration answers 500).
            if (!(e instanceof VaultApiError)) {
              last.api = (e as Error).message;
              return { done: false, state: "API not answering" };
            }
          }
          return { done: true, state: "running" };
        },
        { timeoutMs, intervalMs: 1000 },
      );
      if (refused) throw refused;
    } catch (e) {
      if (!(e instanceof TimeoutError)) throw e;
      const { pod, view, api } = last;
      const where = { namespace: this.access.namespace, name: id, container: this.access.container };
      const state =
        view?.kind === "previous"
          ? `the old pod (uid ${previousUid}) is still there: ${describePod(pod, where)}`
          : `${describePod(pod, where)}${api ? `; its Vault API did not answer: ${api}` : ""}`;
      throw new PodRestartError(
        this.where("pod", id),
        this.restartTimeoutMs,
        state,
        view?.kind === "previous"
          ? ["check the pod's finalizers and terminationGracePeriodSeconds (kubectl describe pod)"]
          : hintsFor(pod, where),
      );
    }
  }
}
