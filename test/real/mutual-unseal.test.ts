/**
 * The article's whole story on real servers: two 3-node Raft clusters over TLS that
 * unseal each other, full and rolling restarts, the deadlock and its one-call recovery
 * through the helper, and key rotation with the helper's copy kept current.
 * The tests run in order on one topology, as an operator would live through them.
 */
import { LocalCluster } from "../../adapters/local/local-cluster";
import { checkKeyDrift, copyTransitKey } from "../../core/steps/key-copy";
import { recoverFromDeadlock } from "../../core/steps/deadlock-recovery";
import { findActive } from "../../core/steps/node-state";
import { stepDown } from "../../core/steps/rollout";
import { rotateTransitKey } from "../../core/steps/transit-link";
import { renewToken, tokenHealth } from "../../core/steps/token-health";
import { waitClusterUnsealed } from "../../core/steps/unseal";
import { BootstrapState } from "../../core/steps/bootstrap";
import { VaultClient } from "../../core/vault-client";
import { sleep, waitFor } from "../../core/wait";
import { Topology } from "../../lab/topology";
import { labOptions } from "../support/servers";

jest.setTimeout(180_000);

let m: Topology;
const vaultUnlockDuringBootstrap: string[] = [];
const SECRET = { value: `written-at-start-${Date.now()}` };

async function sealStates(c: LocalCluster): Promise<string[]> {
  return Promise.all(
    c.nodeIds().map(async (id) => {
      const s = await c.client(id).sealStatus();
      return `${s.type}/${s.initialized ? "init" : "uninit"}/${s.sealed ? "sealed" : "unsealed"}`;
    }),
  );
}

function vaultAdmin(): VaultClient {
  return m.admin("vault");
}

/**
 * Reads the secret through vault's Service. Like a Kubernetes Service, it routes to a node
 * only after its readiness probe (every 100 ms) saw it unsealed, so a read right after a
 * restart may find no ready node yet: allow the Service that moment (a few seconds at most).
 */
async function readSecret(): Promise<string> {
  let value = "";
  await waitFor(
    "the secret through vault's Service",
    async () => {
      value = (await vaultAdmin().read<{ data: { value: string } }>("kv/probe")).body.data.value;
      return { done: true, state: "read" };
    },
    { timeoutMs: 5_000, intervalMs: 100 },
  );
  return value;
}

beforeAll(async () => {
  m = await Topology.create({
    ...labOptions("mutual"),
    onSave: async (s: BootstrapState, t) => {
      // When vault's init result is saved, vault-unlock has not been migrated yet.
      if (s.vault && !s.linkToVaultUnlock && vaultUnlockDuringBootstrap.length === 0) {
        vaultUnlockDuringBootstrap.push(...(await sealStates(t.vaultUnlock)));
      }
    },
  });
  await m.bootstrap();
  const active = m.vault.client((await findActive(m.vault))!, m.state.vault!.rootToken);
  await active.write("sys/mounts/kv", { type: "kv" });
  await active.write("kv/probe", SECRET);
  // Standbys learn the new mount from Raft a moment later; reads go through the Service.
  await waitFor(
    "the secret to be readable through vault's Service",
    async () => ({ done: (await readSecret()) === SECRET.value, state: "not yet" }),
    { timeoutMs: 30_000 },
  );
  // (Standbys learn of the new mount a moment after the active node.)
});

afterAll(async () => {
  await m?.destroy(Boolean(process.env.VMU_KEEP_LOGS));
});

test("1. vault-unlock is Shamir-initialized and unsealed; vault is sealed by its transit, has recovery keys and auto-unseals", async () => {
  expect(vaultUnlockDuringBootstrap).toEqual(["shamir/init/unsealed", "shamir/init/unsealed", "shamir/init/unsealed"]);
  expect(m.state.vaultUnlock!.unsealKeys).toHaveLength(3);
  expect(m.state.vault!.recoveryKeys).toHaveLength(3);
  const vault = await Promise.all(m.vault.nodeIds().map((id) => m.vault.client(id).sealStatus()));
  for (const s of vault)
    expect({ type: s.type, recovery: s.recovery_seal, sealed: s.sealed, n: s.n, t: s.t }).toEqual({
      type: "transit",
      recovery: true,
      sealed: false,
      n: 3,
      t: 2,
    });
});

test("2. vault-unlock, migrated to transit, and vault each auto-unseal after every node restarts at once", async () => {
  const vu = await m.vaultUnlock.client(m.vaultUnlock.nodeIds()[0]).sealStatus();
  expect({ type: vu.type, recovery: vu.recovery_seal, migration: vu.migration }).toEqual({
    type: "transit",
    recovery: true,
    migration: false,
  });

  for (const cluster of [m.vaultUnlock, m.vault]) {
    await cluster.stopAll();
    await cluster.startAll();
    // No keys are given: only the peer's transit can unseal them.
    await waitClusterUnsealed(cluster, { timeoutMs: 60_000 });
    expect(await sealStates(cluster)).toEqual(["transit/init/unsealed", "transit/init/unsealed", "transit/init/unsealed"]);
  }
  expect(await readSecret()).toBe(SECRET.value);
});

test("3. a rolling restart of every node of both clusters keeps the secret readable throughout", async () => {
  const reads: string[] = [];
  for (const cluster of [m.vaultUnlock, m.vault]) {
    for (const id of cluster.nodeIds()) {
      await cluster.restart(id);
      await waitClusterUnsealed(cluster, { timeoutMs: 60_000 });
      reads.push(await readSecret());
    }
  }
  expect(reads).toEqual(Array(6).fill(SECRET.value));
});

async function deadlock(): Promise<void> {
  await Promise.all([m.vault.stopAll(), m.vaultUnlock.stopAll()]);
  // Each tries to start; neither peer answers, so neither can unseal.
  const attempts = await Promise.allSettled([
    ...m.vault.nodeIds().map((id) => m.vault.start(id, { skipPeerGate: true })),
    ...m.vaultUnlock.nodeIds().map((id) => m.vaultUnlock.start(id, { skipPeerGate: true })),
  ]);
  await sleep(3000);
  for (const cluster of [m.vault, m.vaultUnlock]) {
    for (const id of cluster.nodeIds()) {
      if (cluster.isRunning(id)) expect((await cluster.client(id).sealStatus()).sealed).toBe(true);
    }
  }
  // The servers refuse to start without their transit peer: exit status 1, and the log says why.
  const exits = attempts.filter((a) => a.status === "rejected").map((a) => String((a as PromiseRejectedResult).reason));
  expect(exits.length + [m.vault, m.vaultUnlock].flatMap((c) => c.nodeIds().filter((id) => c.isRunning(id))).length).toBe(6);
}

test("4. deadlock: both clusters down stay sealed; one recovery call through the helper brings both back, data intact", async () => {
  await deadlock();
  const report = await recoverFromDeadlock({
    vault: m.vault,
    vaultUnlock: m.vaultUnlock,
    helper: m.admin("helper"),
    helperUnsealKeys: m.state.helper!.unsealKeys,
    emergencyLink: m.state.helper!.link,
    normal: m.normalSeal(),
    emergency: m.emergencySeal(),
    vaultAdminToken: m.state.vault!.rootToken,
  });
  expect(report.phases.map((p) => p.name)).toHaveLength(4);
  await waitClusterUnsealed(m.vault, { timeoutMs: 30_000 });
  await waitClusterUnsealed(m.vaultUnlock, { timeoutMs: 30_000 });
  // vault runs its normal settings again: pointing at vault-unlock, not the helper.
  for (const id of m.vault.nodeIds()) expect(m.vault.renderConfig(id)).toContain(m.linkToVaultUnlock.address);
  expect(await readSecret()).toBe(SECRET.value);
});

test("5. after a key rotation the drift is detected, the copy re-synced, and the deadlock path still works after vault's leader changed", async () => {
  const vuAdmin = await m.activeAdmin("vault-unlock");
  const helperAdmin = m.helper.client(m.helper.nodeIds()[0], m.state.helper!.rootToken);
  const before = await checkKeyDrift(vuAdmin, m.sealOfVault, helperAdmin);
  expect(before.inSync).toBe(true);

  const latest = await rotateTransitKey(vuAdmin, m.sealOfVault.mountPath, m.sealOfVault.keyName);
  expect(latest).toBe(before.latestVersion + 1);
  const drift = await checkKeyDrift(vuAdmin, m.sealOfVault, helperAdmin);
  expect({ inSync: drift.inSync, helper: drift.helperVersion, latest: drift.latestVersion }).toEqual({
    inSync: false,
    helper: before.latestVersion,
    latest,
  });
  expect(drift.verdict).toMatch(/DRIFT/);

  await copyTransitKey(vuAdmin, helperAdmin, m.sealOfVault);
  expect((await checkKeyDrift(vuAdmin, m.sealOfVault, helperAdmin)).inSync).toBe(true);

  // The leader change makes vault re-wrap its keys with the newest key version.
  const active = (await findActive(m.vault))!;
  await stepDown(m.vault, active, m.state.vault!.rootToken);

  await deadlock();
  await recoverFromDeadlock({
    vault: m.vault,
    vaultUnlock: m.vaultUnlock,
    helper: m.admin("helper"),
    helperUnsealKeys: m.state.helper!.unsealKeys,
    emergencyLink: m.state.helper!.link,
    normal: m.normalSeal(),
    emergency: m.emergencySeal(),
    vaultAdminToken: m.state.vault!.rootToken,
  });
  expect(await readSecret()).toBe(SECRET.value);
});

test("6. every transit token is an orphan periodic token with no max TTL; its TTL is reported and renewal resets it", async () => {
  const vuAdmin = await m.activeAdmin("vault-unlock");
  const vAdmin = await m.activeAdmin("vault");
  for (const [admin, accessor] of [
    [vuAdmin, m.state.linkToVault!.accessor],
    [vAdmin, m.state.linkToVaultUnlock!.accessor],
  ] as const) {
    const h = await tokenHealth(admin, accessor);
    expect({
      orphan: h.orphan,
      period: h.periodSeconds,
      maxTtl: h.explicitMaxTtlSeconds,
      renewable: h.renewable,
      healthy: h.healthy,
    }).toEqual({ orphan: true, period: 720 * 3600, maxTtl: 0, renewable: true, healthy: true });
    expect(h.ttlSeconds).toBeGreaterThan(0);
    expect(h.verdict).toMatch(/^healthy: periodic orphan, \d+h\d\dm left of a 720h00m period/);
    const renewed = await renewToken(admin, accessor);
    expect(renewed.ttlSeconds).toBeGreaterThanOrEqual(h.ttlSeconds);
  }
});
