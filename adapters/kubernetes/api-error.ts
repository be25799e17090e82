/**
 * Failures of Kubernetes API calls, translated into messages that name the object, what the
 * API server said and what to check. Pure: takes the status and body client-node reports.
 */
import { VaultOpError } from "../../core/errors";

export class KubernetesApiError extends VaultOpError {
  constructor(
    /** e.g. "delete pod vault-unlock/vault-unlock-0" */
    readonly action: string,
    /** HTTP status, undefined when the API server was not reached. */
    readonly status: number | undefined,
    readonly detail: string,
    hint: string,
  ) {
    super(`${action} failed${status ? ` with HTTP ${status}` : ""}: ${detail}${hint ? `. ${hint}` : ""}`);
  }
}

/** The fields of client-node's HttpError (and of socket errors) this module reads. */
export interface ApiFailure {
  statusCode?: number;
  body?: unknown;
  code?: string;
  message?: string;
}

const RBAC =
  "the kubeconfig's user needs, in that namespace: get/create/update/patch on configmaps and secrets, get/list/delete/patch on pods, create on pods/portforward";

/** The message of a Kubernetes Status body, or of whatever else came back. */
function detailOf(f: ApiFailure): string {
  const b = f.body as { message?: unknown } | string | undefined;
  if (b && typeof b === "object" && typeof b.message === "string") return b.message;
  if (typeof b === "string" && b.length > 0) return b.slice(0, 300);
  return f.message || f.code || "no detail";
}

export function kubernetesApiError(action: string, e: unknown, where: { namespace: string; server?: string }): KubernetesApiError {
  const f = (typeof e === "object" && e !== null ? e : { message: String(e) }) as ApiFailure;
  const status = typeof f.statusCode === "number" ? f.statusCode : undefined;
  const detail = detailOf(f);
  let hint = "";
  if (status === undefined)
    hint = `the API server${where.server ? ` ${where.server}` : ""} was not reached: check the kubeconfig's cluster address, its CA and the network`;
  else if (status === 401)
    hint = "the API server refused the kubeconfig's credentials: renew them (an expired token or client certificate?)";
  else if (status === 403) hint = RBAC;
  else if (status === 404 && /namespaces? .*not found/i.test(detail))
    hint = `create the namespace ${where.namespace} first (the Pulumi stack does)`;
  else if (status === 409) hint = "the object was changed by someone else meanwhile: run the step again";
  else if (status === 422) hint = "the API server rejected the object as invalid";
  else if (status >= 500) hint = "the API server failed: retry, and check the control plane's health";
  return new KubernetesApiError(action, status, detail, hint);
}

export function statusOf(e: unknown): number | undefined {
  const s = (e as ApiFailure | undefined)?.statusCode;
  return typeof s === "number" ? s : undefined;
}
