/**
 * TEST EQUIPMENT (engine stand-in for the e2e runs, not part of the product): what the
 * Kubernetes provider does with a `kubernetes:<group>/<version>:<Kind>` resource, for real:
 * server-side apply through the explicit provider's kubeconfig and context, auto-naming as
 * pulumi-kubernetes does, then the provider's await rules (kube-await.ts), and deletes that
 * wait until the object is gone.
 */
import * as crypto from "crypto";
import * as k8s from "@kubernetes/client-node";
import {
  awaitedKind,
  daemonSetReadiness,
  deploymentReadiness,
  ingressReadiness,
  jobReadiness,
  namespaceReadiness,
  Obj,
  podProblems,
  podReadiness,
  pvcReadiness,
  Readiness,
  serviceReadiness,
  serviceWaitsForPods,
  skipsAwait,
  statefulSetReadiness,
} from "./kube-await";

export const FIELD_MANAGER = "pulumi-engine-stand-in";
const POLL_MS = 2000;

export interface KubeTarget {
  client: k8s.KubernetesObjectApi;
  core: k8s.CoreV1Api;
  storage: k8s.StorageV1Api;
  /** The context's namespace, or "default": where namespaced objects without one go. */
  namespace: string;
  context: string;
}

/** A client for the inputs of a `pulumi:providers:kubernetes` resource (kubeconfig text, context). */
export function kubeTarget(providerInputs: Record<string, unknown>): KubeTarget {
  const kc = new k8s.KubeConfig();
  const text = providerInputs.kubeconfig;
  if (typeof text === "string" && text.trim() !== "") kc.loadFromString(text);
  else kc.loadFromDefault();
  const context =
    typeof providerInputs.context === "string" && providerInputs.context !== "" ? providerInputs.context : kc.getCurrentContext();
  if (!kc.getContextObject(context))
    throw new Error(
      `the Kubernetes provider names context "${context}", which its kubeconfig does not have (it has: ${kc
        .getContexts()
        .map((c) => c.name)
        .join(", ")})`,
    );
  kc.setCurrentContext(context);
  const namespace =
    (typeof providerInputs.namespace === "string" && providerInputs.namespace) || kc.getContextObject(context)?.namespace || "default";
  return {
    client: k8s.KubernetesObjectApi.makeApiClient(kc),
    core: kc.makeApiClient(k8s.CoreV1Api),
    storage: kc.makeApiClient(k8s.StorageV1Api),
    namespace,
    context,
  };
}

/** `<resource name>-<8 random lowercase alphanumerics>`, as pulumi-kubernetes auto-names. */
export function autoName(resourceName: string): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  return `${resourceName}-${Array.from(crypto.randomBytes(8), (b) => alphabet[b % alphabet.length]).join("")}`;
}

/** Says why the API server refused, from its Status body. */
export function apiMessage(e: unknown): string {
  const err = e as { statusCode?: number; body?: { message?: string; reason?: string }; message?: string };
  if (err?.statusCode !== undefined)
    return `HTTP ${err.statusCode}${err.body?.reason ? ` ${err.body.reason}` : ""}: ${err.body?.message ?? String(err.body)}`;
  return err?.message ?? String(e);
}
const statusOf = (e: unknown) => (e as { statusCode?: number })?.statusCode;

export const describe = (o: Obj) => `${o.kind} ${o.metadata?.namespace ? `${o.metadata.namespace}/` : ""}${o.metadata?.name}`;

async function isNamespaced(t: KubeTarget, apiVersion: string, kind: string): Promise<boolean> {
  const r = await (t.client as unknown as { resource(a: string, k: string): Promise<k8s.V1APIResource | undefined> }).resource(
    apiVersion,
    kind,
  );
  if (!r) throw new Error(`the API server of context "${t.context}" does not serve ${apiVersion} ${kind} (a CRD not installed yet?)`);
  return r.namespaced;
}

/**
 * The object to apply: the inputs, named (the recorded name when it was auto-named earlier,
 * so a re-run targets the same object), in the provider's namespace when namespaced.
 */
export async function desiredObject(t: KubeTarget, resourceName: string, inputs: Obj, recorded?: Obj): Promise<Obj> {
  const obj: Obj = JSON.parse(JSON.stringify(inputs));
  obj.metadata = obj.metadata ?? {};
  if (!obj.metadata.name) {
    const earlier = recorded?.metadata?.annotations?.["pulumi.com/autonamed"] === "true" ? recorded.metadata.name : undefined;
    obj.metadata.name = earlier ?? autoName(resourceName);
    obj.metadata.annotations = { ...obj.metadata.annotations, "pulumi.com/autonamed": "true" };
  }
  if (await isNamespaced(t, obj.apiVersion, obj.kind)) obj.metadata.namespace = obj.metadata.namespace || t.namespace;
  else delete obj.metadata.namespace;
  return obj;
}

const IMMUTABLE = /immutable|Forbidden: updates to \w+ spec for fields other than/i;

/** Server-side apply; a change to an immutable field replaces the object (delete, then apply). */
export async function applyObject(
  t: KubeTarget,
  obj: Obj,
  timeoutS: number,
  allowReplace = true,
): Promise<{ live: Obj; replaced: boolean }> {
  const apply = async () =>
    (
      await t.client.patch(obj as k8s.KubernetesObject, undefined, undefined, FIELD_MANAGER, true, {
        headers: { "Content-Type": "application/apply-patch+yaml" },
      })
    ).body as Obj;
  try {
    return { live: await apply(), replaced: false };
  } catch (e) {
    if (statusOf(e) === 422 && IMMUTABLE.test(apiMessage(e))) {
      if (!allowReplace)
        throw new Error(`${describe(obj)}: the change needs a replacement (${apiMessage(e)}), but the resource is protected`, { cause: e });
      await deleteObject(t, obj, timeoutS);
      try {
        return { live: await apply(), replaced: true };
      } catch (e2) {
        throw new Error(`${describe(obj)}: server-side apply after replacing it refused (${apiMessage(e2)})`, { cause: e2 });
      }
    }
    throw new Error(`${describe(obj)}: server-side apply refused (${apiMessage(e)})`, { cause: e });
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Deletes the object (background propagation, as the provider) and waits until it is gone. */
export async function deleteObject(t: KubeTarget, obj: Obj, timeoutS: number): Promise<void> {
  const ref = { apiVersion: obj.apiVersion, kind: obj.kind, metadata: { name: obj.metadata.name, namespace: obj.metadata.namespace } };
  try {
    await t.client.delete(ref, undefined, undefined, undefined, undefined, "Background");
  } catch (e) {
    if (statusOf(e) === 404) return;
    throw new Error(`${describe(obj)}: delete refused (${apiMessage(e)})`, { cause: e });
  }
  const deadline = Date.now() + timeoutS * 1000;
  for (;;) {
    try {
      await t.client.read(ref);
    } catch (e) {
      if (statusOf(e) === 404) return;
      throw new Error(`${describe(obj)}: reading it while waiting for its deletion failed (${apiMessage(e)})`, { cause: e });
    }
    if (Date.now() > deadline)
      throw new Error(
        `${describe(obj)}: still present ${timeoutS}s after its deletion (finalizers: ${JSON.stringify((await t.client.read(ref)).body.metadata?.finalizers ?? [])})`,
      );
    await sleep(POLL_MS);
  }
}

const labelSelector = (sel: Obj | undefined) =>
  Object.entries(sel?.matchLabels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(",");

/** The pods a workload runs (for the reasons in a timeout error). */
async function podsOf(t: KubeTarget, o: Obj): Promise<Obj[]> {
  if (o.kind === "Pod") return [o];
  const selector = labelSelector(o.spec?.selector);
  if (!selector) return [];
  const res = await t.core.listNamespacedPod(o.metadata.namespace, undefined, undefined, undefined, undefined, selector);
  return res.body.items as Obj[];
}

async function storageBindingMode(t: KubeTarget, claim: Obj): Promise<string | undefined> {
  const name = claim.spec?.storageClassName;
  if (name) return (await t.storage.readStorageClass(name)).body.volumeBindingMode;
  const classes = (await t.storage.listStorageClass()).body.items;
  return classes.find((c) => c.metadata?.annotations?.["storageclass.kubernetes.io/is-default-class"] === "true")?.volumeBindingMode;
}

async function readiness(t: KubeTarget, o: Obj): Promise<Readiness> {
  switch (o.kind) {
    case "Deployment":
      return deploymentReadiness(o);
    case "StatefulSet":
      return statefulSetReadiness(o);
    case "DaemonSet":
      return daemonSetReadiness(o);
    case "Pod":
      return podReadiness(o);
    case "Job":
      return jobReadiness(o);
    case "Namespace":
      return namespaceReadiness(o);
    case "Ingress":
      return ingressReadiness(o);
    case "PersistentVolumeClaim":
      return pvcReadiness(o, await storageBindingMode(t, o));
    case "Service": {
      let endpoints: Obj | undefined;
      try {
        endpoints = (await t.core.readNamespacedEndpoints(o.metadata.name, o.metadata.namespace)).body as Obj;
      } catch (e) {
        if (statusOf(e) !== 404) throw e;
      }
      return serviceReadiness(o, endpoints);
    }
    default:
      return { ready: true, waitingFor: "" };
  }
}

/**
 * Waits as the Kubernetes provider would, polling the live object; returns its last state.
 * Service endpoints must read ready twice in a row (the provider lets them settle first).
 */
export async function awaitObject(t: KubeTarget, live: Obj, timeoutS: number): Promise<Obj> {
  if (skipsAwait(live) || !awaitedKind(live.apiVersion, live.kind)) return live;
  const deadline = Date.now() + timeoutS * 1000;
  let current = live;
  let streak = 0;
  for (;;) {
    const r = await readiness(t, current);
    streak = r.ready ? streak + 1 : 0;
    if (r.ready && (current.kind !== "Service" || !serviceWaitsForPods(current) || streak >= 2)) return current;
    if (r.failed || Date.now() > deadline) {
      const pods = ["Deployment", "StatefulSet", "DaemonSet", "Job", "Pod"].includes(current.kind)
        ? podProblems(await podsOf(t, current).catch(() => []))
        : [];
      const head = r.failed
        ? `${describe(current)} failed: ${r.failed}`
        : `${describe(current)}: timed out after ${timeoutS}s waiting for ${r.waitingFor}`;
      throw new Error([head, ...pods.map((p) => `  ${p}`)].join("\n"));
    }
    await sleep(POLL_MS);
    current = (
      await t.client.read({
        apiVersion: current.apiVersion,
        kind: current.kind,
        metadata: { name: current.metadata.name, namespace: current.metadata.namespace },
      })
    ).body as Obj;
  }
}
