/**
 * Reading a Vault pod's status: is it the pod we deleted, still starting, failing (and why),
 * or running with its Vault container up since when. Pure functions over the pod object the
 * API returns (client-node's V1Pod fits these shapes), so error messages can be tested
 * without a cluster.
 */
import { VaultOpError, WaitCannotHelpError } from "../../core/errors";

type Time = Date | string;

export interface ContainerStatusLike {
  name: string;
  ready?: boolean;
  restartCount?: number;
  containerID?: string;
  state?: ContainerStateLike;
  lastState?: ContainerStateLike;
}
export interface ContainerStateLike {
  running?: { startedAt?: Time };
  waiting?: { reason?: string; message?: string };
  terminated?: { exitCode?: number; reason?: string; message?: string; finishedAt?: Time };
}
export interface PodLike {
  metadata?: { name?: string; namespace?: string; uid?: string; creationTimestamp?: Time; deletionTimestamp?: Time };
  spec?: { containers?: { name: string; ports?: { containerPort: number }[] }[] };
  status?: {
    phase?: string;
    reason?: string;
    message?: string;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
    containerStatuses?: ContainerStatusLike[];
    initContainerStatuses?: ContainerStatusLike[];
  };
}

/** Waiting reasons that mean the container will not start by itself soon. */
export const FAILING_REASONS = new Set([
  "CrashLoopBackOff",
  "ImagePullBackOff",
  "ErrImagePull",
  "InvalidImageName",
  "CreateContainerConfigError",
  "CreateContainerError",
  "RunContainerError",
  "ErrImageNeverPull",
]);

/** Reasons that only a change of the pod (its image name) fixes. */
const NEVER_BY_ITSELF = new Set(["InvalidImageName", "ErrImageNeverPull"]);
/** Reasons that can pass by themselves for a while (a registry's rate limit, a Secret cache not synced yet). */
const MAYBE_PASSING = new Set(["ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError"]);
/** How long a pod may show a MAYBE_PASSING reason before a wait stops on it. */
export const PASSING_GRACE_MS = 60_000;

/** The pod's containers wait for something only a change fixes (or that has lasted past the grace), or undefined. */
export function needsAChange(pod: PodLike | undefined, now = new Date()): string[] | undefined {
  const age = now.getTime() - (toDate(pod?.metadata?.creationTimestamp)?.getTime() ?? now.getTime());
  const reasons = [...(pod?.status?.initContainerStatuses ?? []), ...(pod?.status?.containerStatuses ?? [])]
    .filter(
      (c) =>
        NEVER_BY_ITSELF.has(c.state?.waiting?.reason ?? "") ||
        (MAYBE_PASSING.has(c.state?.waiting?.reason ?? "") && age >= PASSING_GRACE_MS),
    )
    .map((c) => `${c.name}: ${c.state!.waiting!.reason}`);
  return reasons.length ? reasons : undefined;
}

export type PodView =
  | { kind: "absent" }
  /** Still the pod that restart() deleted (same uid). */
  | { kind: "previous" }
  | { kind: "terminating" }
  | { kind: "starting" }
  | { kind: "failing"; reasons: string[] }
  | { kind: "running"; podCreated?: Date; containerStarted?: Date };

const toDate = (t: Time | undefined): Date | undefined => (t === undefined ? undefined : t instanceof Date ? t : new Date(t));

/** The Vault container: the one exposing the API port (`preferred` wins when given). */
export function vaultContainerName(pod: PodLike, apiPort: number, preferred?: string): string | undefined {
  if (preferred) return preferred;
  const containers = pod.spec?.containers ?? [];
  return (containers.find((c) => (c.ports ?? []).some((p) => p.containerPort === apiPort)) ?? containers[0])?.name;
}

function failingReasons(pod: PodLike): string[] {
  const reasons: string[] = [];
  for (const c of [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]) {
    const r = c.state?.waiting?.reason;
    if (r && FAILING_REASONS.has(r)) reasons.push(`${c.name}: ${r}`);
  }
  return reasons;
}

/**
 * What a pod is doing, for restart(): `previousUid` is the uid of the pod that was deleted
 * (its replacement has the same name and another uid).
 */
export function classifyPod(pod: PodLike | undefined, o: { apiPort: number; container?: string; previousUid?: string }): PodView {
  if (!pod) return { kind: "absent" };
  if (o.previousUid !== undefined && pod.metadata?.uid === o.previousUid) return { kind: "previous" };
  if (pod.metadata?.deletionTimestamp) return { kind: "terminating" };
  const phase = pod.status?.phase;
  if (phase === "Failed" || phase === "Succeeded")
    return { kind: "failing", reasons: [`pod ${phase}${pod.status?.reason ? ` (${pod.status.reason})` : ""}`] };
  const reasons = failingReasons(pod);
  if (reasons.length > 0) return { kind: "failing", reasons };
  const name = vaultContainerName(pod, o.apiPort, o.container);
  const vault = pod.status?.containerStatuses?.find((c) => c.name === name);
  if (phase === "Running" && vault?.state?.running) {
    return {
      kind: "running",
      podCreated: toDate(pod.metadata?.creationTimestamp),
      containerStarted: toDate(vault.state.running.startedAt),
    };
  }
  return { kind: "starting" };
}

function describeState(s: ContainerStateLike | undefined): string {
  if (!s) return "no state yet";
  if (s.running) return `running since ${toDate(s.running.startedAt)?.toISOString() ?? "?"}`;
  if (s.waiting) return `waiting (${s.waiting.reason ?? "no reason"}${s.waiting.message ? `: ${clip(s.waiting.message)}` : ""})`;
  if (s.terminated)
    return `terminated (exit ${s.terminated.exitCode ?? "?"}${s.terminated.reason ? `, ${s.terminated.reason}` : ""}${s.terminated.message ? `: ${clip(s.terminated.message)}` : ""})`;
  return "no state yet";
}

const clip = (s: string, n = 200) => (s.length > n ? `${s.slice(0, n)}…` : s);

function describeContainer(c: ContainerStatusLike, init: boolean): string {
  const restarts = c.restartCount ? `, restarted ${c.restartCount} times, last: ${describeState(c.lastState)}` : "";
  return `${init ? "init container" : "container"} ${c.name} ${describeState(c.state)}${restarts}`;
}

/** One line for messages: phase, unmet conditions, every container's state. */
export function describePod(pod: PodLike | undefined, where: { namespace: string; name: string }): string {
  if (!pod) return `pod ${where.namespace}/${where.name} does not exist`;
  const parts = [`pod ${where.namespace}/${where.name} (uid ${pod.metadata?.uid ?? "?"}) phase ${pod.status?.phase ?? "unknown"}`];
  if (pod.metadata?.deletionTimestamp) parts.push("terminating");
  if (pod.status?.reason || pod.status?.message) parts.push(clip([pod.status.reason, pod.status.message].filter(Boolean).join(": ")));
  for (const c of pod.status?.conditions ?? []) {
    if (c.status !== "True" && (c.type === "PodScheduled" || c.type === "Initialized"))
      parts.push(`${c.type}=${c.status}${c.reason ? ` (${c.reason}${c.message ? `: ${clip(c.message)}` : ""})` : ""}`);
  }
  for (const c of pod.status?.initContainerStatuses ?? []) parts.push(describeContainer(c, true));
  for (const c of pod.status?.containerStatuses ?? []) parts.push(describeContainer(c, false));
  return parts.join("; ");
}

/** What to check next, from what the pod shows. */
export function hintsFor(pod: PodLike | undefined, where: { namespace: string; name: string; container?: string }): string[] {
  if (!pod)
    return [
      `the StatefulSet controller did not recreate ${where.name}: check the StatefulSet's events (kubectl describe statefulset -n ${where.namespace})`,
    ];
  const hints: string[] = [];
  const all = [
    ...(pod.status?.initContainerStatuses ?? []).map((c) => ({ c, init: true })),
    ...(pod.status?.containerStatuses ?? []).map((c) => ({ c, init: false })),
  ];
  const reason = (c: ContainerStatusLike) => c.state?.waiting?.reason ?? "";
  for (const { c, init } of all) {
    const r = reason(c);
    if (r === "CrashLoopBackOff" || ((c.restartCount ?? 0) > 0 && !c.state?.running)) {
      hints.push(
        `read its log: kubectl logs -n ${where.namespace} ${where.name} -c ${c.name} --previous (a transit seal that cannot reach its unsealer at startup exits with status 1)`,
      );
    } else if (r === "ImagePullBackOff" || r === "ErrImagePull" || r === "InvalidImageName" || r === "ErrImageNeverPull") {
      hints.push(`the image of ${c.name} cannot be pulled: check the image name and the pod's imagePullSecrets`);
    } else if (r === "CreateContainerConfigError") {
      hints.push(
        `${c.name} references a ConfigMap or Secret key that does not exist: kubectl describe pod -n ${where.namespace} ${where.name}`,
      );
    } else if (init && c.name === "peer-gate" && c.state?.running) {
      hints.push("the peer gate is holding the pod until its transit peer answers: unseal the peer cluster (or the helper) first");
    }
  }
  const unscheduled = (pod.status?.conditions ?? []).find((c) => c.type === "PodScheduled" && c.status === "False");
  if (unscheduled)
    hints.push(
      `the pod is not scheduled (${unscheduled.message ?? unscheduled.reason ?? "no reason given"}): check node capacity and the anti-affinity rules`,
    );
  return [...new Set(hints)];
}

/** A pod's API cannot answer because the pod cannot start until something changes (its image, a missing key). */
export class PodCannotStartError extends WaitCannotHelpError {
  constructor(
    readonly pod: string,
    readonly reasons: string[],
    description: string,
    hints: string[],
  ) {
    super(`${pod} cannot start (${reasons.join(", ")}): ${description}.${hints.length ? ` Next: ${hints.join("; ")}.` : ""}`);
  }
}

/** restart() gave up: the replacement pod did not come up, or its Vault API did not answer. */
export class PodRestartError extends VaultOpError {
  constructor(
    readonly pod: string,
    readonly timeoutMs: number,
    readonly state: string,
    readonly hints: string[],
  ) {
    super(
      `restarting ${pod}: no new pod with a Vault API answering within ${Math.round(timeoutMs / 1000)} s. Last seen: ${state}.${hints.length ? ` Next: ${hints.join("; ")}.` : ""}`,
    );
  }
}
