/**
 * Giving up on a whole operation: every Vault request made on its behalf is aborted, also
 * through clients the caller never sees. The diff's live look (providers/live-state.ts) calls a
 * provider's `read(id, props)`, whose signature is the engine's, and the read's clients are
 * made deep in the node adapters (NodeControl.client); passing a signal down by hand would
 * change every one of those layers. So the signal belongs to the operation's async context
 * (AsyncLocalStorage), and VaultClient looks it up at each request: a client made during the
 * look and used after it carries no stale signal.
 */
import { AsyncLocalStorage } from "async_hooks";

const scope = new AsyncLocalStorage<AbortSignal>();

/** Runs `fn` with `signal` aborting every VaultClient request made within it (an outer scope's signal still applies). */
export function withAbortSignal<T>(signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
  const outer = scope.getStore();
  return scope.run(outer ? AbortSignal.any([outer, signal]) : signal, fn);
}

/** The signal a request made now must honour: the client's own and the scope's, either aborting it. */
export function requestSignal(own?: AbortSignal): AbortSignal | undefined {
  const scoped = scope.getStore();
  if (own && scoped) return AbortSignal.any([own, scoped]);
  return own ?? scoped;
}
