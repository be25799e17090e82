/**
 * What a node is doing, read from its API. Health is the source of truth for sealed and
 * standby. One transitional state needs care: a node unsealed in migration mode, and an
 * old active after the new one migrated, answer health and seal-status with HTTP 500
 * ("barrier seal type of X does not match ...") until the migration completes or they are
 * restarted. Such a node is unsealed but cannot serve: it is reported as `mismatch`.
 */
import { TimeoutError, VaultApiError, VaultTlsError, VaultUnreachableError, WaitCannotHelpError } from "../errors";
import { NodeControl } from "../nodes";
import { VaultClient } from "../vault-client";
import { waitFor } from "../wait";

/**
 * Why a node gave no state:
 * - "unreachable": nothing answered, or not in time (a node restarting, a port-forward not up
 *   yet): asking again later may work;
 * - "tls": the connection was made but TLS failed (an untrusted CA, a name the certificate does
 *   not hold, a refused client certificate): waiting will not fix it, the settings must change;
 * - "failing": the node answered with an error (e.g. a 5xx while it starts).
 * A refused way in (AccessDeniedError: a port-forward RBAC forbids) is no state at all: it is
 * thrown, since it ends every wait.
 */
export type NodeDownReason = "unreachable" | "tls" | "failing";

export interface NodeState {
  id: string;
  reachable: boolean;
  /** Set exactly when `reachable` is false. */
  reason?: NodeDownReason;
  /** The error behind `reason`, for a caller that must raise it (see activeForLook). */
  failure?: Error;
  initialized?: boolean;
  sealed?: boolean;
  standby?: boolean;
  /** Unsealed with a seal that differs from the stored one (mid-migration). */
  mismatch?: boolean;
  migration?: boolean;
  type?: string;
  error?: string;
}

export async function nodeState(id: string, client: VaultClient): Promise<NodeState> {
  try {
    const h = await client.health();
    const s = await client.sealStatus().catch(() => undefined);
    return {
      id,
      reachable: true,
      initialized: h.initialized,
      sealed: h.sealed,
      standby: h.standby,
      migration: s?.migration,
      type: s?.type,
    };
  } catch (e) {
    // Not "unreachable for now": a refused way in or a pod that cannot start ends every wait.
    if (e instanceof WaitCannotHelpError) throw e;
    if (e instanceof VaultApiError && e.status === 500) {
      const why = await client.sealStatus().then(
        () => "",
        (err: Error) => err.message,
      );
      if (why.includes("does not match"))
        return { id, reachable: true, initialized: true, sealed: false, standby: true, mismatch: true, error: why };
    }
    return { id, reachable: false, reason: downReason(e), failure: e as Error, error: (e as Error).message };
  }
}

function downReason(e: unknown): NodeDownReason {
  if (e instanceof VaultTlsError) return "tls";
  if (e instanceof VaultUnreachableError || e instanceof TimeoutError) return "unreachable";
  return "failing";
}

/** What every node says now (unreachable nodes included). */
export async function observe(cluster: NodeControl): Promise<NodeState[]> {
  return Promise.all(cluster.nodeIds().map((id) => nodeState(id, cluster.client(id))));
}

export function describe(states: NodeState[]): string {
  const one = (s: NodeState) => {
    if (!s.reachable) return `${s.id}:down${s.reason === "tls" ? "(TLS failed)" : ""}`;
    if (s.mismatch) return `${s.id}:unsealed(seal mismatch, mid-migration)`;
    return `${s.id}:${s.sealed ? "sealed" : s.standby ? "standby" : "active"}${s.migration ? "(migration)" : ""}`;
  };
  return states.map(one).join(" ");
}

/** The active node, or undefined. */
export async function findActive(cluster: NodeControl): Promise<string | undefined> {
  return (await observe(cluster)).find((s) => s.reachable && !s.sealed && !s.standby)?.id;
}

/**
 * The active node for a look that may be put off (a provider's read, a diff's live look):
 * undefined when no node is active now (sealed, restarting, not answering), so that the caller
 * keeps what it knows. A TLS failure is raised instead: it does not pass by itself, and
 * keeping the recorded state would hide it.
 */
export async function activeForLook(cluster: NodeControl): Promise<string | undefined> {
  const states = await observe(cluster);
  const active = states.find((s) => s.reachable && !s.sealed && !s.standby)?.id;
  if (active) return active;
  throwTlsFailure(states);
  return undefined;
}

/** Throws the TLS failure of the first node down for reason "tls", if any: a setting to fix, not a state to record. */
export function throwTlsFailure(states: NodeState[]): void {
  const tls = states.find((s) => s.reason === "tls");
  if (tls?.failure) throw tls.failure;
}

/**
 * A client for the active node, waiting for one. Use it for reads that must see the latest
 * writes: OpenBao standbys may answer reads themselves, from a state a moment behind.
 */
export async function activeClient(cluster: NodeControl, token?: string, timeoutMs = 60_000): Promise<VaultClient> {
  let active: string | undefined;
  await waitFor(
    `an active node in ${cluster.name}`,
    async () => {
      const states = await observe(cluster);
      active = states.find((s) => s.reachable && !s.sealed && !s.standby)?.id;
      return { done: active !== undefined, state: describe(states) };
    },
    { timeoutMs },
  );
  return cluster.client(active!, token);
}
