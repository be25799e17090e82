/**
 * Rolling a cluster onto its applied seal settings: every node that does not run them is
 * restarted, standbys first, the active node last after a step-down, so an HA cluster keeps
 * an active node throughout. Resumable: nodes already up to date are left alone.
 */
import { VaultApiError } from "../errors";
import { isUpToDate, NodeControl } from "../nodes";
import { waitFor } from "../wait";
import { describe, findActive, nodeState, observe } from "./node-state";
import { unsealNode } from "./unseal";

export interface RolloutOptions {
  /** Token allowed to step the active node down (root or sudo on sys/step-down). */
  adminToken: string;
  /** Keys for nodes that do not auto-unseal under the applied settings (Shamir, or a disabled block present). */
  keys?: string[];
  /** Pass when the restarted nodes are in seal migration mode and must be unsealed with migrate. */
  migrate?: boolean;
  timeoutMs?: number;
  log?: (msg: string) => void;
  /** Only (re)start the nodes, do not wait for them to unseal (a cluster not initialized yet). */
  startOnly?: boolean;
}

/** Waits until a restarted node is unsealed: by itself under an auto seal, else with the keys. */
export async function bringUp(cluster: NodeControl, id: string, o: Omit<RolloutOptions, "adminToken">): Promise<void> {
  const applied = await cluster.appliedSeal();
  const autoUnseals = applied.stanzas.length === 1 && !applied.stanzas[0].disabled;
  const client = cluster.client(id);
  if (!autoUnseals || o.migrate) {
    if (!o.keys) throw new Error(`${cluster.name}/${id} does not auto-unseal under the applied seal settings and no keys were given`);
    await unsealNode(client, o.keys, { migrate: o.migrate, timeoutMs: o.timeoutMs });
    return;
  }
  await waitFor(
    `${cluster.name}/${id} to auto-unseal`,
    async () => {
      const s = await nodeState(id, client);
      return { done: s.reachable && !s.sealed, state: describe([s]) };
    },
    { timeoutMs: o.timeoutMs ?? 60_000 },
  );
}

/**
 * With Raft, a step-down hands leadership to a voter; nodes that joined moments ago are
 * non-voters until autopilot promotes them (~10 s), and a step-down then fails ("cannot
 * find peer") and the old active takes the lock back. So wait for voters first.
 * Clusters on other storage (Consul) have no Raft configuration and pass at once.
 */
export async function waitRaftVoters(cluster: NodeControl, activeId: string, adminToken: string, timeoutMs = 60_000): Promise<void> {
  const client = cluster.client(activeId, adminToken);
  await waitFor(
    `the nodes of ${cluster.name} to be Raft voters`,
    async () => {
      let servers: { node_id: string; voter: boolean }[];
      try {
        servers = (
          await client.read<{ data: { config: { servers: { node_id: string; voter: boolean }[] } } }>("sys/storage/raft/configuration")
        ).body.data.config.servers;
      } catch (e) {
        if (e instanceof VaultApiError && (e.status === 404 || e.mentions("unsupported") || e.mentions("raft storage is not in use")))
          return { done: true, state: "not raft" };
        throw e;
      }
      const voters = servers.filter((x) => x.voter).length;
      return {
        done: voters === cluster.nodeIds().length,
        state: servers.map((x) => `${x.node_id}:${x.voter ? "voter" : "non-voter"}`).join(" "),
      };
    },
    { timeoutMs, intervalMs: 250 },
  );
}

/** Steps the active node down and waits until another node is active. Returns the new active. */
export async function stepDown(cluster: NodeControl, activeId: string, adminToken: string, timeoutMs = 60_000): Promise<string> {
  await waitRaftVoters(cluster, activeId, adminToken, timeoutMs);
  let next: string | undefined;
  // A step-down whose leadership transfer fails leaves the old node active again; retry it.
  for (let attempt = 1; ; attempt++) {
    try {
      await cluster.client(activeId, adminToken).request("PUT", "sys/step-down");
    } catch (e) {
      // HTTP 500 "local node not active but active cluster node not found": the node lost its
      // leadership between the look and the call (seen under load). Whoever is active now decides.
      if (!(e instanceof VaultApiError && e.status === 500)) throw e;
      const now = await activeAfter(cluster, activeId, timeoutMs);
      if (now !== activeId) return now;
      if (attempt >= 3) throw e;
      continue;
    }
    try {
      await waitFor(
        `another node of ${cluster.name} to become active after ${activeId} stepped down`,
        async () => {
          const states = await observe(cluster);
          next = states.find((s) => s.reachable && !s.sealed && !s.standby && s.id !== activeId)?.id;
          return { done: next !== undefined, state: describe(states) };
        },
        { timeoutMs: Math.min(timeoutMs, 15_000) },
      );
      return next!;
    } catch (e) {
      // Not within 15 s: either the transfer failed and the old node took the lock back, or it
      // is only slow (a new active that migrates the stored keys first: seen on Kubernetes).
      // Wait until some node is active, and retry only when it is the old one.
      const now = await activeAfter(cluster, activeId, timeoutMs);
      if (now !== activeId) return now;
      if (attempt >= 3) throw e;
    }
  }
}

/** The node active once some node is, after `activeId` was asked to step down. */
async function activeAfter(cluster: NodeControl, activeId: string, timeoutMs: number): Promise<string> {
  let now: string | undefined;
  await waitFor(
    `a node of ${cluster.name} to be active after ${activeId} stepped down`,
    async () => {
      now = await findActive(cluster);
      return { done: now !== undefined, state: describe(await observe(cluster)) };
    },
    { timeoutMs: Math.max(timeoutMs, 20_000) },
  );
  return now!;
}

/** Restarts every node not running the applied seal settings; see the file comment. */
export async function rolloutSeal(cluster: NodeControl, o: RolloutOptions): Promise<void> {
  await roll(
    cluster,
    async () => {
      const out: string[] = [];
      for (const id of cluster.nodeIds()) if (!(await isUpToDate(cluster, id))) out.push(id);
      return out;
    },
    o,
  );
}

/** Restarts every node, one at a time, the active last after a step-down (a rolling update without an outage). */
export async function rollingRestart(cluster: NodeControl, o: RolloutOptions): Promise<void> {
  const restarted = new Set<string>();
  await roll(cluster, async () => cluster.nodeIds().filter((id) => !restarted.has(id)), { ...o, onRestarted: (id) => restarted.add(id) });
}

async function roll(
  cluster: NodeControl,
  pending: () => Promise<string[]>,
  o: RolloutOptions & { onRestarted?: (id: string) => void },
): Promise<void> {
  const restart = async (id: string) => {
    await cluster.restart(id);
    o.onRestarted?.(id);
  };
  let todo = await pending();
  if (todo.length === 0) return;
  const active = await findActive(cluster);

  if (!active) {
    // Nothing serves anyway (a cold start or a deadlock): start them all at once, since
    // Raft needs a quorum of running nodes before any of them can become active.
    o.log?.(`${cluster.name}: no active node; starting ${todo.join(", ")} together`);
    await Promise.all(todo.map(restart));
    if (!o.startOnly) await Promise.all(todo.map((id) => bringUp(cluster, id, o)));
    return;
  }

  for (const id of todo.filter((n) => n !== active)) {
    o.log?.(`${cluster.name}: restarting standby ${id}`);
    await restart(id);
    await bringUp(cluster, id, o);
  }
  todo = await pending();
  if (!todo.includes(active)) return;
  if (cluster.nodeIds().length > 1) {
    await cluster.drain?.(active);
    let next: string;
    try {
      next = await stepDown(cluster, active, o.adminToken, o.timeoutMs);
    } catch (e) {
      // It is still the active node: serve again rather than leave the cluster without one behind its Services.
      try {
        await cluster.undrain?.(active);
      } catch (undrainError) {
        throw new Error(
          `${(e as Error).message}; and ${active} could not be put back into its Services: ${(undrainError as Error).message}`,
          { cause: undrainError },
        );
      }
      throw e;
    }
    o.log?.(`${cluster.name}: ${active} stepped down, ${next} is active`);
  }
  o.log?.(`${cluster.name}: restarting former active ${active}`);
  await restart(active);
  await bringUp(cluster, active, o);
}
