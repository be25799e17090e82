/**
 * TEST EQUIPMENT (engine stand-in for the e2e runs, not part of the product): when a
 * Kubernetes object counts as ready, after the Kubernetes provider's await rules
 * (pulumi-kubernetes provider/pkg/await: deployment.go, statefulset.go, service.go, ingress.go,
 * job.go, pod.go, awaiters.go for PersistentVolumeClaims). Pure functions of the live objects,
 * so they are unit-tested without a cluster; kubernetes.ts polls them.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Obj = Record<string, any>;

export interface Readiness {
  ready: boolean;
  /** What it is still waiting for (said in the timeout error). */
  waitingFor: string;
  /** A state it cannot leave by waiting (a failed Job or Pod): fail now. */
  failed?: string;
}

const ok: Readiness = { ready: true, waitingFor: "" };
const waiting = (waitingFor: string): Readiness => ({ ready: false, waitingFor });

const condition = (o: Obj, type: string): Obj | undefined => (o.status?.conditions ?? []).find((c: Obj) => c.type === type);

/** The controller has seen the current spec (otherwise its status describes an older one). */
function observed(o: Obj): boolean {
  return (o.status?.observedGeneration ?? 0) >= (o.metadata?.generation ?? 0) && (o.metadata?.generation ?? 0) > 0;
}

export function deploymentReadiness(d: Obj): Readiness {
  if (!observed(d)) return waiting("the Deployment controller to observe the current generation");
  const replicas = d.spec?.replicas ?? 1;
  const progressing = condition(d, "Progressing");
  if (progressing?.reason === "ProgressDeadlineExceeded")
    return { ready: false, waitingFor: "the rollout", failed: `rollout stalled: ${progressing.message ?? "progress deadline exceeded"}` };
  if (condition(d, "Available")?.status !== "True")
    return waiting(`the Deployment to become available (${d.status?.availableReplicas ?? 0}/${replicas} available)`);
  if (progressing?.status !== "True" || progressing?.reason !== "NewReplicaSetAvailable")
    return waiting(`the new ReplicaSet to become available (${d.status?.updatedReplicas ?? 0}/${replicas} updated)`);
  if ((d.status?.updatedReplicas ?? 0) < replicas || (d.status?.readyReplicas ?? 0) < replicas)
    return waiting(`${replicas} updated ready replicas (${d.status?.readyReplicas ?? 0} ready)`);
  return ok;
}

export function statefulSetReadiness(s: Obj): Readiness {
  if (!observed(s)) return waiting("the StatefulSet controller to observe the current generation");
  const replicas = s.spec?.replicas ?? 1;
  const st = s.status ?? {};
  const counts = `${st.readyReplicas ?? 0}/${replicas} ready`;
  // As statefulset.go: after the first generation, OnDelete only counts ready replicas
  // (the pods take the new revision when something deletes them).
  if ((s.metadata?.generation ?? 0) > 1 && s.spec?.updateStrategy?.type === "OnDelete") {
    return (st.replicas ?? 0) === replicas && (st.readyReplicas ?? 0) === replicas ? ok : waiting(`${replicas} ready replicas (${counts})`);
  }
  if (!st.currentRevision || st.currentRevision !== st.updateRevision)
    return waiting(`the rollout to revision ${st.updateRevision ?? "?"} (${st.updatedReplicas ?? 0}/${replicas} updated, ${counts})`);
  if ((st.replicas ?? 0) !== replicas || (st.readyReplicas ?? 0) !== replicas || (st.currentReplicas ?? 0) !== replicas)
    return waiting(`${replicas} ready replicas of the current revision (${counts})`);
  return ok;
}

export function daemonSetReadiness(d: Obj): Readiness {
  if (!observed(d)) return waiting("the DaemonSet controller to observe the current generation");
  const st = d.status ?? {};
  const want = st.desiredNumberScheduled ?? 0;
  return (st.updatedNumberScheduled ?? 0) >= want && (st.numberAvailable ?? 0) >= want
    ? ok
    : waiting(`${want} updated available pods (${st.numberAvailable ?? 0} available)`);
}

export function podReadiness(p: Obj): Readiness {
  const phase = p.status?.phase;
  if (phase === "Succeeded") return ok;
  if (phase === "Failed")
    return {
      ready: false,
      waitingFor: "the Pod to become ready",
      failed: `the Pod failed: ${p.status?.reason ?? ""} ${p.status?.message ?? ""}`.trim(),
    };
  return condition(p, "Ready")?.status === "True" ? ok : waiting("the Pod to become ready");
}

export function jobReadiness(j: Obj): Readiness {
  const failed = condition(j, "Failed");
  if (failed?.status === "True")
    return {
      ready: false,
      waitingFor: "the Job to complete",
      failed: `the Job failed: ${failed.reason ?? ""} ${failed.message ?? ""}`.trim(),
    };
  return condition(j, "Complete")?.status === "True"
    ? ok
    : waiting(`the Job to complete (${j.status?.succeeded ?? 0} succeeded, ${j.status?.active ?? 0} active)`);
}

/** `bindingMode` of the claim's StorageClass (WaitForFirstConsumer claims stay Pending until a pod uses them). */
export function pvcReadiness(c: Obj, bindingMode?: string): Readiness {
  const phase = c.status?.phase;
  if (phase === "Bound") return ok;
  if (bindingMode === "WaitForFirstConsumer" && phase === "Pending") return ok;
  return waiting(`the claim to be Bound (phase ${phase ?? "unknown"})`);
}

export function namespaceReadiness(n: Obj): Readiness {
  return n.status?.phase === "Active" ? ok : waiting(`the Namespace to be Active (phase ${n.status?.phase ?? "unknown"})`);
}

const hasIngress = (o: Obj) => (o.status?.loadBalancer?.ingress ?? []).some((i: Obj) => i.ip || i.hostname);

/** Whether the provider waits for the Service's pods (service.go shouldWaitForPods). */
export function serviceWaitsForPods(s: Obj): boolean {
  return s.spec?.type !== "ExternalName" && s.spec?.clusterIP !== "None" && Object.keys(s.spec?.selector ?? {}).length > 0;
}

/** `endpoints`: the Endpoints object of the same name, if any. */
export function serviceReadiness(s: Obj, endpoints?: Obj): Readiness {
  if (s.spec?.type === "LoadBalancer" && !hasIngress(s))
    return waiting("the LoadBalancer to get an address (.status.loadBalancer.ingress)");
  if (!serviceWaitsForPods(s)) return ok;
  const subsets: Obj[] = endpoints?.subsets ?? [];
  const readyAddresses = subsets.reduce((n, x) => n + (x.addresses?.length ?? 0), 0);
  const notReady = subsets.reduce((n, x) => n + (x.notReadyAddresses?.length ?? 0), 0);
  if (readyAddresses === 0)
    return waiting(
      "the Service to target ready Pods (no ready endpoint: the selected Pods may not be ready, or the selector matches none)",
    );
  if (notReady > 0) return waiting(`every selected Pod to be ready (${readyAddresses} ready, ${notReady} not ready endpoints)`);
  return ok;
}

export function ingressReadiness(i: Obj): Readiness {
  return hasIngress(i) ? ok : waiting("the Ingress controller to give the Ingress an address (.status.loadBalancer.ingress)");
}

/** The kinds the provider awaits (awaiters.go), keyed `apiVersion/Kind` minus the group's version. */
export function awaitedKind(apiVersion: string, kind: string): boolean {
  const group = apiVersion.includes("/") ? apiVersion.split("/")[0] : "core";
  return [
    "apps:Deployment",
    "apps:StatefulSet",
    "apps:DaemonSet",
    "core:Pod",
    "core:Service",
    "core:PersistentVolumeClaim",
    "core:Namespace",
    "batch:Job",
    "networking.k8s.io:Ingress",
  ].includes(`${group}:${kind}`);
}

export const skipsAwait = (o: Obj) => o.metadata?.annotations?.["pulumi.com/skipAwait"] === "true";

/** Go duration text ("10m", "1h30m", "45s") in seconds; undefined when empty or not a duration. */
export function durationSeconds(text: string | undefined): number | undefined {
  if (!text) return undefined;
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== text) return undefined;
  const unit: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 0.001 };
  return parts.reduce((t, p) => t + Number(p[1]) * unit[p[2]], 0);
}

export const DEFAULT_TIMEOUT_S = 600;
export const TIMEOUT_ENV = "E2E_ENGINE_AWAIT_TIMEOUT_SECONDS";

/**
 * How long to wait: the object's `pulumi.com/timeoutSeconds` annotation wins (as in the
 * provider), then the resource's customTimeouts, then $E2E_ENGINE_AWAIT_TIMEOUT_SECONDS, then 10 min.
 */
export function timeoutSeconds(o: Obj, customTimeout?: string, env: NodeJS.ProcessEnv = process.env): number {
  const annotation = Number(o.metadata?.annotations?.["pulumi.com/timeoutSeconds"]);
  if (Number.isFinite(annotation) && annotation > 0) return annotation;
  const custom = durationSeconds(customTimeout);
  if (custom) return custom;
  const fromEnv = Number(env[TIMEOUT_ENV]);
  return Number.isFinite(fromEnv) && fromEnv > 0 ? fromEnv : DEFAULT_TIMEOUT_S;
}

/** One line per pod saying why it is not ready: what a user would look for with kubectl describe. */
export function podProblems(pods: Obj[]): string[] {
  return pods.flatMap((p) => {
    if (podReadiness(p).ready) return [];
    const why: string[] = [`phase ${p.status?.phase ?? "unknown"}`];
    const sched = condition(p, "PodScheduled");
    if (sched?.status === "False") why.push(`unschedulable: ${sched.message ?? sched.reason}`);
    for (const c of [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])] as Obj[]) {
      const w = c.state?.waiting;
      const last = c.lastState?.terminated ?? c.state?.terminated;
      if (w) why.push(`container ${c.name} ${w.reason}${w.message ? `: ${w.message}` : ""}`);
      if (last && (last.exitCode ?? 0) !== 0)
        why.push(
          `container ${c.name} last exited ${last.exitCode} (${last.reason ?? ""})${last.message ? `: ${String(last.message).trim().split("\n").slice(-3).join(" | ")}` : ""}`,
        );
      if (!w && c.state?.running && c.ready === false) why.push(`container ${c.name} running, not ready (readiness probe)`);
    }
    return [`pod ${p.metadata?.name}: ${why.join("; ")}`];
  });
}
