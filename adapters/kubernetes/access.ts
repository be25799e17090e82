/**
 * Checks of a KubernetesAccess before anything talks to a cluster, and the defaults of its
 * optional fields. Every problem is reported at once with its key path.
 */
import { InputError, throwProblems } from "../../core/errors";
import { sealProblems } from "../../core/render/seal";
import { KubernetesAccess } from "./options";

export const DEFAULT_RESTART_TIMEOUT_MS = 300_000;
export const DEFAULT_SEAL_GRACE_SECONDS = 5;
export const DEFAULT_DRAIN_SECONDS = 3;

/** Kubernetes object names (DNS-1123 subdomain) and namespaces / StatefulSets (DNS-1123 label). */
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function accessProblems(a: KubernetesAccess): InputError[] {
  const problems: InputError[] = [];
  const need = (ok: boolean, key: string, problem: string) => {
    if (!ok) problems.push(new InputError(key, problem));
  };
  need(typeof a.kubeconfig === "string" && a.kubeconfig.trim().length > 0, "kubeconfig", "is empty: give the kubeconfig file's content");
  need(
    typeof a.namespace === "string" && LABEL.test(a.namespace) && a.namespace.length <= 63,
    "namespace",
    `"${a.namespace}" is not a namespace name (lower-case letters, digits and '-', at most 63)`,
  );
  need(
    typeof a.statefulSet === "string" && LABEL.test(a.statefulSet) && a.statefulSet.length <= 52,
    "statefulSet",
    `"${a.statefulSet}" is not a StatefulSet name whose pods can be named (lower-case letters, digits and '-', at most 52)`,
  );
  need(Number.isInteger(a.replicas) && a.replicas >= 1, "replicas", `${a.replicas} is not a positive whole number of pods`);
  need(Number.isInteger(a.port) && a.port >= 1 && a.port <= 65535, "port", `${a.port} is not a TCP port`);
  for (const key of ["sealConfigMap", "sealTokenSecret"] as const) {
    need(typeof a[key] === "string" && SUBDOMAIN.test(a[key]) && a[key].length <= 253, key, `"${a[key]}" is not a Kubernetes object name`);
  }
  const tls = a.tls ?? ({} as KubernetesAccess["tls"]);
  need(
    typeof tls.caPem === "string" && tls.caPem.includes("-----BEGIN CERTIFICATE-----"),
    "tls.caPem",
    "is not a PEM certificate: give the CA that issued the pods' certificates (verification stays on)",
  );
  need(
    typeof tls.serverName === "string" && tls.serverName.length > 0,
    "tls.serverName",
    "is empty: give a name in the pods' certificates (e.g. the active Service's DNS name)",
  );
  need(
    Boolean(tls.certPem) === Boolean(tls.keyPem),
    "tls.certPem",
    "a client certificate needs its key and the key its certificate: set both certPem and keyPem",
  );
  if (a.context !== undefined) need(a.context.length > 0, "context", "is empty: leave it out to use the kubeconfig's current context");
  if (a.restartTimeoutMs !== undefined)
    need(
      Number.isFinite(a.restartTimeoutMs) && a.restartTimeoutMs > 0,
      "restartTimeoutMs",
      `${a.restartTimeoutMs} is not a positive number of milliseconds`,
    );
  if (a.sealPropagationGraceSeconds !== undefined) {
    need(
      Number.isInteger(a.sealPropagationGraceSeconds) && a.sealPropagationGraceSeconds >= 0,
      "sealPropagationGraceSeconds",
      `${a.sealPropagationGraceSeconds} is not a whole number of seconds (timestamps in Kubernetes have second resolution)`,
    );
  }
  if (a.drainSeconds !== undefined)
    need(Number.isInteger(a.drainSeconds) && a.drainSeconds >= 0, "drainSeconds", `${a.drainSeconds} is not a whole number of seconds`);
  if (a.serverConfigSeals !== undefined) problems.push(...sealProblems(a.serverConfigSeals, "serverConfigSeals"));
  return problems;
}

export function assertValidAccess(a: KubernetesAccess): void {
  throwProblems(accessProblems(a));
}

/** Pod names of the StatefulSet, `<statefulSet>-0` … */
export function podNames(a: Pick<KubernetesAccess, "statefulSet" | "replicas">): string[] {
  return Array.from({ length: a.replicas }, (_, i) => `${a.statefulSet}-${i}`);
}
