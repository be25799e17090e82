/**
 * Why some `diff`s look at the servers.
 *
 * The engine calls `diff` on every `pulumi up` and `pulumi preview`, but `read` only with
 * `--refresh` (or `refresh: always`). Drift that only `read` records (a key rotated on the
 * unsealer, a copy on the helper that fell behind, a transit token that died) would stay
 * invisible to a plain `pulumi up`, and the deadlock path would break silently. So the
 * providers whose state can drift call their own `read` from `diff` when the inputs did not
 * change, and decide on what the servers say now.
 *
 * Best effort where it must be: a server that cannot be reached or asked within `timeoutMs`
 * (a sealed cluster, a preview run without cluster access or port-forward rights) leaves
 * the recorded state to decide. What the reads get as an error (a token the server refuses,
 * a kubeconfig that cannot be read or names no such context) fails the diff with its own
 * message: those are problems to fix, and hiding them would hide the drift this look
 * exists to show. The core's node states tell these apart (NodeState.reason): a node that
 * does not answer, or is sealed, is "cannot ask now"; one whose TLS does not verify fails the
 * read (activeForLook raises the VaultTlsError), as does a token the server no longer knows
 * (TokenGoneError). A port-forward that RBAC refuses is "cannot ask now": a preview may run
 * with a read-only kubeconfig, and the update that a real change brings fails with the RBAC error.
 */
import type * as pulumi from "@pulumi/pulumi";
import { KubernetesApiError } from "../adapters/kubernetes/api-error";
import { withAbortSignal } from "../core/abort";
import { TimeoutError, VaultApiError, VaultUnreachableError, WaitCannotHelpError } from "../core/errors";
import { NodesUnavailableError } from "./node-access";
import { changedKeys } from "./provider-inputs";

type Read<O> = (id: string, props: O) => Promise<pulumi.dynamic.ReadResult<O>>;

/** Default bound on a look from `diff`: ample for port-forwards to a few pods, short enough that a preview without cluster access is not held for minutes. */
export const LIVE_LOOK_TIMEOUT_MS = 20_000;

/** How long a look cancelled by its timeout gets to finish (its requests cut off, its port-forwards closed) before the diff goes on without it. */
export const LIVE_LOOK_CANCEL_GRACE_MS = 5_000;

/** What a look found (props: none when the servers cannot tell now), or the error that fails the diff. */
type Outcome<O> = { props?: O } | { error: unknown };

/** `p`'s value, or undefined when it has not settled within `ms`. */
async function settledWithin<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * What `read` would record now for `olds`, or `olds` itself when the servers cannot tell.
 * When the timeout wins, the look is cancelled, not left running next to the update that may
 * follow: every Vault request the read makes runs under an AbortSignal (core/abort.ts), which
 * the timeout fires; then the read gets `cancelGraceMs` to finish.
 */
export async function stateNow<O>(
  read: Read<O>,
  id: string,
  olds: O,
  timeoutMs = LIVE_LOOK_TIMEOUT_MS,
  cancelGraceMs = LIVE_LOOK_CANCEL_GRACE_MS,
): Promise<O> {
  const look = new AbortController();
  const outcome = withAbortSignal(look.signal, () => read(id, olds)).then(
    (r): Outcome<O> => ({ props: r.props }),
    (e: unknown): Outcome<O> => (cannotAskNow(e) ? {} : { error: e }),
  );
  const found = await settledWithin(outcome, timeoutMs);
  if (found === undefined) {
    look.abort(new Error(`the diff's look at the servers got no answer within ${timeoutMs} ms`));
    await settledWithin(outcome, cancelGraceMs);
    return olds;
  }
  if ("error" in found) throw found.error;
  return ("props" in found ? found.props : undefined) ?? olds;
}

/** Errors that say "not now" (unreachable, sealed, busy, not registered here), not "something is wrong". */
export function cannotAskNow(e: unknown): boolean {
  if (e instanceof VaultUnreachableError || e instanceof TimeoutError || e instanceof NodesUnavailableError) return true;
  // A port-forward RBAC refuses (a preview with a read-only kubeconfig), or a pod that cannot
  // start yet (the run that fixes its image): go by the recorded state.
  if (e instanceof WaitCannotHelpError) return true;
  // A sealed node (503), one mid-migration (500): ask again later.
  if (e instanceof VaultApiError) return e.status >= 500;
  // The API server not reached, or failing; 401/403/404 are for the operator to fix.
  if (e instanceof KubernetesApiError) return e.status === undefined || e.status >= 500;
  return false;
}

/**
 * The diff of a resource whose live state can drift (nothing it does replaces it): a change
 * of inputs is an update; otherwise an update exactly when what `read` finds now `drifted`.
 */
export async function driftDiff<I extends object, O extends I>(
  id: string,
  olds: O,
  news: I,
  inputKeys: readonly (keyof I & string)[],
  read: Read<O>,
  drifted: (now: O) => boolean,
): Promise<pulumi.dynamic.DiffResult> {
  if (changedKeys<I>(olds, news, inputKeys).length > 0) return { changes: true, replaces: [] };
  return { changes: drifted(await stateNow(read, id, olds)), replaces: [] };
}
