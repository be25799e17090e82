/**
 * Unsealing with keys: a Shamir node, a node in seal migration mode (migrate: true), or a
 * Raft follower that joins its leader while being unsealed.
 */
import { InputError, NotInMigrationModeError, UnsealKeyRejectedError, VaultApiError } from "../errors";
import { NodeControl } from "../nodes";
import { SealStatus, VaultClient } from "../vault-client";
import { waitFor, WaitOptions } from "../wait";
import { nodeState } from "./node-state";

export interface UnsealOptions extends WaitOptions {
  /** Unseal in seal migration mode (the node runs a new seal config). */
  migrate?: boolean;
  log?: (msg: string) => void;
}

function rejected(e: unknown): boolean {
  return e instanceof VaultApiError && e.status === 400 && !e.mentions("must be a valid");
}

/**
 * Unseals one node with `keys` (as many as needed, in order). Resolves once the node reports
 * unsealed. Idempotent: an unsealed node is left alone, a half-done earlier attempt is reset.
 */
export async function unsealNode(client: VaultClient, keys: string[], opts: UnsealOptions = {}): Promise<void> {
  if (keys.length === 0)
    throw new InputError("keys", "no unseal keys given: pass the keys returned by init (or the recovery keys when migrating)");
  if (!(await nodeState(client.address, client)).sealed) return;
  let status = await client.sealStatus();
  if (opts.migrate && !status.migration) throw new NotInMigrationModeError(client.address);
  if (status.progress > 0) await client.request("PUT", "sys/unseal", { body: { reset: true } });

  for (const key of keys) {
    let res: SealStatus;
    try {
      res = (await client.request<SealStatus>("PUT", "sys/unseal", { body: { key, migrate: opts.migrate ?? false } })).body;
    } catch (e) {
      if (e instanceof VaultApiError && e.mentions("no migration seal found")) throw new NotInMigrationModeError(client.address);
      if (e instanceof VaultApiError && e.mentions("seal migration is pending")) {
        throw new InputError("migrate", `${client.address} is in seal migration mode: unseal it with migrate (its config has a new seal)`);
      }
      if (e instanceof VaultApiError && e.mentions("must be a valid"))
        throw new InputError("keys", `a key is not valid base64 or hex (server: ${e.errors.join("; ")})`);
      if (rejected(e)) {
        await client.request("PUT", "sys/unseal", { body: { reset: true } }).catch(() => undefined);
        throw new UnsealKeyRejectedError(client.address, (e as VaultApiError).errors.join("; "));
      }
      throw e;
    }
    status = res;
    if (!res.sealed) break;
    // Progress back at 0 after a key means the threshold was reached: a Raft follower
    // is now joining its leader and unseals when that finishes.
    if (res.progress === 0) break;
  }
  if (status.sealed && status.progress > 0) {
    throw new InputError("keys", `${client.address} needs ${status.t} keys and only ${keys.length} were given`);
  }
  // Not seal-status alone: a standby unsealed in migration mode answers it with an error
  // until the active node has migrated the stored keys (see node-state.ts).
  await waitFor(
    `${client.address} to unseal`,
    async () => {
      const s = await nodeState(client.address, client);
      return { done: s.reachable && !s.sealed, state: `${s.reachable ? `sealed=${s.sealed}` : s.error}` };
    },
    { timeoutMs: opts.timeoutMs ?? 60_000, intervalMs: opts.intervalMs },
  );
}

/**
 * Unseals every node of a Shamir cluster. The first node must already be initialized;
 * Raft followers join their leader through retry_join while being unsealed.
 */
export async function unsealCluster(cluster: NodeControl, keys: string[], opts: UnsealOptions = {}): Promise<void> {
  for (const id of cluster.nodeIds()) {
    const client = cluster.client(id);
    opts.log?.(`${cluster.name}/${id}: unsealing`);
    // A Raft follower reports "not initialized" until retry_join has reached its leader.
    await waitFor(
      `${cluster.name}/${id} to join its cluster`,
      async () => {
        const s = await client.sealStatus();
        return { done: s.initialized, state: `initialized=${s.initialized} sealed=${s.sealed}` };
      },
      { timeoutMs: opts.timeoutMs ?? 60_000 },
    );
    await unsealNode(client, keys, opts);
  }
}

/** Waits until every node of the cluster reports unsealed. */
export async function waitClusterUnsealed(cluster: NodeControl, opts: WaitOptions = {}): Promise<void> {
  await waitFor(
    `every node of ${cluster.name} to be unsealed`,
    async () => {
      const states = await Promise.all(
        cluster.nodeIds().map(async (id) => {
          const s = await nodeState(id, cluster.client(id));
          return s.reachable ? `${id}:${s.sealed ? "sealed" : "unsealed"}` : `${id}:unreachable (${(s.error ?? "").slice(0, 80)})`;
        }),
      );
      return { done: states.every((s) => s.endsWith(":unsealed")), state: states.join(" ") };
    },
    opts,
  );
}
