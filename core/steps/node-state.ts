/**
 * What a node is doing, read from its API. Health is the source of truth for sealed and
 * standby. One transitional state needs care: a node unsealed in migration mode, and an
 * old active after the new one migrated, answer health and seal-status with HTTP 500
 * ("barrier seal type of X does not match ...") until the migration completes or they are
 * restarted. Such a node is unsealed but cannot serve: it is reported as `mismatch`.
 */
import { VaultApiError, WaitCannotHelpError } from "../errors";
import { NodeControl } from "../nodes";
import { VaultClient } from "../vault-client";
import { waitFor } from "../wait";

export interface NodeState {
  id: string;
  reachable: boolean;
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
    return { id, reachable: false, error: (e as Error).message };
  }
}

/** What every node says now (unreachable nodes included). */
export async function observe(cluster: NodeControl): Promise<NodeState[]> {
  return Promise.all(cluster.nodeIds().map((id) => nodeState(id, cluster.client(id))));
}

export function describe(states: NodeState[]): string {
  const one = (s: NodeState) => {
    if (!s.reachable) return `${s.id}:down`;
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
