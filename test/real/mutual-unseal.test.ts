/**
 * The article's story on real servers: two 3-node Raft clusters over TLS that unseal each
 * other, full and rolling restarts, the deadlock and its one-call recovery through the
 * helper, and key rotation with the helper's copy kept current.
 *
 * Two topologies (a bootstrap costs about 30-40 s here), each built by its top-level
 * `describe`, so no test depends on another having run. Within one, tests that only read
 * run first; the restarts come next, each leaving both clusters unsealed as it found them
 * and checking that first; a state built in steps (a deadlock, then a recovery) is built by
 * the `beforeAll` hooks of nested `describe`s, after every test that reads the earlier
 * state, and each test asserts one thing about the result.
 */
import { LocalCluster, NodeExitedError } from "../../adapters/local/local-cluster";
import { sealSettingsDigest } from "../../core/nodes";
import { checkKeyDrift, copyTransitKey, KeyDrift } from "../../core/steps/key-copy";
import { NotDeadlockedError, recoverFromDeadlock, RecoveryReport } from "../../core/steps/deadlock-recovery";
import { findActive } from "../../core/steps/node-state";
import { rollingRestart, stepDown } from "../../core/steps/rollout";
import { rotateTransitKey } from "../../core/steps/transit-link";
import { renewToken, tokenHealth } from "../../core/steps/token-health";
import { waitClusterUnsealed } from "../../core/steps/unseal";
import { BootstrapState } from "../../core/steps/bootstrap";
import { sleep, waitFor } from "../../core/wait";
import { Topology, TopologyOptions } from "../../lab/topology";
import { labOptions } from "../support/servers";

jest.setTimeout(180_000);

const SECRET = { value: `written-at-start-${Date.now()}` };

async function sealStates(c: LocalCluster): Promise<string[]> {
  return Promise.all(
    c.nodeIds().map(async (id) => {
      const s = await c.client(id).sealStatus();
      return `${s.type}/${s.initialized ? "init" : "uninit"}/${s.sealed ? "sealed" : "unsealed"}`;
    }),
  );
}

async function bootstrapped(prefix: string, opts: Partial<TopologyOptions> = {}): Promise<Topology> {
  const t = await Topology.create({ ...labOptions(prefix), ...opts });
  await t.bootstrap();
  return t;
}

/** Writes SECRET to kv/probe on vault and waits until vault's Service serves it. */
async function writeSecret(t: Topology): Promise<void> {
  const active = await t.activeAdmin("vault");
  await active.write("sys/mounts/kv", { type: "kv" });
  await active.write("kv/probe", SECRET);
  // Standbys learn the new mount from Raft a moment after the active node.
  await waitFor(
    "the secret to be readable through vault's Service",
    async () => ({ done: (await readSecret(t)) === SECRET.value, state: "not yet" }),
    {
      timeoutMs: 30_000,
    },
  );
}

/**
 * Reads the secret through vault's Service. Like a Kubernetes Service, it routes to a node
 * only after its readiness probe (every 100 ms) saw it unsealed, so a read right after a
 * restart may find no ready node yet: allow the Service that moment (a few seconds at most).
 */
async function readSecret(t: Topology): Promise<string> {
  let value = "";
  await waitFor(
    "the secret through vault's Service",
    async () => {
      value = (await t.admin("vault").read<{ data: { value: string } }>("kv/probe")).body.data.value;
      return { done: true, state: "read" };
    },
    { timeoutMs: 5_000, intervalMs: 100 },
  );
  return value;
}

/** What the start attempts of a deadlock produced: the nodes that exited (status, end of log), any other failure, and the nodes that run. */
interface Deadlock {
  exits: { node: string; code: number | null; logTail: string }[];
  otherFailures: string[];
  running: { node: string; sealed: boolean }[];
}

/** Both clusters stopped, then every node started without its peer gate: neither peer answers, so neither can unseal. */
async function deadlock(t: Topology): Promise<Deadlock> {
  await Promise.all([t.vault.stopAll(), t.vaultUnlock.stopAll()]);
  const nodes = [t.vault, t.vaultUnlock].flatMap((c) => c.nodeIds().map((id) => ({ c, id })));
  const attempts = await Promise.allSettled(nodes.map(({ c, id }) => c.start(id, { skipPeerGate: true })));
  const out: Deadlock = { exits: [], otherFailures: [], running: [] };
  for (const [i, a] of attempts.entries()) {
    const { c, id } = nodes[i];
    const node = `${c.name}/${id}`;
    if (a.status === "rejected") {
      const e = a.reason as Error;
      if (e instanceof NodeExitedError) out.exits.push({ node, code: e.code, logTail: e.logTail });
      else out.otherFailures.push(`${node}: ${e.message}`);
    } else if (c.isRunning(id)) {
      out.running.push({ node, sealed: (await c.client(id).sealStatus()).sealed });
    } else {
      out.otherFailures.push(`${node}: started, then exited`);
    }
  }
  return out;
}

function recover(t: Topology, log?: (m: string) => void): Promise<RecoveryReport> {
  return recoverFromDeadlock({
    vault: t.vault,
    vaultUnlock: t.vaultUnlock,
    helper: t.admin("helper"),
    helperUnsealKeys: t.state.helper!.unsealKeys,
    emergencyLink: t.state.helper!.link,
    normal: t.normalSeal(),
    emergency: t.emergencySeal(),
    vaultAdminToken: t.state.vault!.operatorToken,
    log,
  });
}

/** Each node of vault as it would start now: its seal's address, and whether its process runs those settings. */
async function vaultSealOnEveryNode(t: Topology): Promise<{ pointsAtVaultUnlock: boolean; running: boolean }[]> {
  const applied = sealSettingsDigest(await t.vault.appliedSeal());
  return Promise.all(
    t.vault.nodeIds().map(async (id) => ({
      pointsAtVaultUnlock: t.vault.renderConfig(id).includes(t.linkToVaultUnlock.address),
      running: (await t.vault.runningSealDigest(id)) === applied,
    })),
  );
}
const ALL_ON_VAULT_UNLOCK = Array(3).fill({ pointsAtVaultUnlock: true, running: true });

const destroy = (t: Topology | undefined) => t?.destroy(Boolean(process.env.VMU_KEEP_LOGS));

/** What every finished recovery must leave, asserted the same way after each one. */
function recoveredPairTests(topology: () => Topology): void {
  test("leaves every node of both clusters unsealed", async () => {
    const t = topology();
    expect([...(await sealStates(t.vaultUnlock)), ...(await sealStates(t.vault))]).toEqual(Array(6).fill("transit/init/unsealed"));
  });

  test("leaves every node of vault running its usual seal, pointing at vault-unlock", async () => {
    expect(await vaultSealOnEveryNode(topology())).toEqual(ALL_ON_VAULT_UNLOCK);
  });

  test("leaves the secret written before the deadlock readable", async () => {
    expect(await readSecret(topology())).toBe(SECRET.value);
  });
}

describe("a bootstrapped pair", () => {
  let t: Topology;
  const vaultUnlockDuringBootstrap: string[] = [];
  beforeAll(async () => {
    t = await Topology.create({
      ...labOptions("mutual-boot"),
      // The lab's preStop delay: an active node leaves the Service before it steps down.
      preStopMs: 300,
      onSave: async (s: BootstrapState, top) => {
        // When vault's init result is saved, vault-unlock has not been migrated yet.
        if (s.vault && !s.linkToVaultUnlock && vaultUnlockDuringBootstrap.length === 0) {
          vaultUnlockDuringBootstrap.push(...(await sealStates(top.vaultUnlock)));
        }
      },
    });
    await t.bootstrap();
    await writeSecret(t);
  });
  afterAll(() => destroy(t));

  test("vault-unlock was Shamir-initialized (3 unseal keys) and unsealed before vault was initialized", async () => {
    expect(vaultUnlockDuringBootstrap).toEqual(["shamir/init/unsealed", "shamir/init/unsealed", "shamir/init/unsealed"]);
    expect(t.state.vaultUnlock!.unsealKeys).toHaveLength(3);
  });

  test("every node of vault is sealed by its transit seal, unsealed, with 3 recovery keys (threshold 2)", async () => {
    expect(t.state.vault!.recoveryKeys).toHaveLength(3);
    const vault = await Promise.all(t.vault.nodeIds().map((id) => t.vault.client(id).sealStatus()));
    for (const s of vault)
      expect({ type: s.type, recovery: s.recovery_seal, sealed: s.sealed, n: s.n, t: s.t }).toEqual({
        type: "transit",
        recovery: true,
        sealed: false,
        n: 3,
        t: 2,
      });
  });

  test("vault-unlock is migrated to transit with recovery keys, no migration pending", async () => {
    const vu = await t.vaultUnlock.client(t.vaultUnlock.nodeIds()[0]).sealStatus();
    expect({ type: vu.type, recovery: vu.recovery_seal, migration: vu.migration }).toEqual({
      type: "transit",
      recovery: true,
      migration: false,
    });
  });

  test("the helper's copy of vault's transit key is at the latest version", async () => {
    const drift = await checkKeyDrift(await t.activeAdmin("vault-unlock"), t.sealOfVault, t.admin("helper"));
    expect(drift.inSync).toBe(true);
  });

  test("each transit token is an orphan periodic token (720h) with no max TTL, reported healthy with its TTL", async () => {
    for (const [admin, accessor] of [
      [await t.activeAdmin("vault-unlock"), t.state.linkToVault!.accessor],
      [await t.activeAdmin("vault"), t.state.linkToVaultUnlock!.accessor],
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
    }
  });

  test("renewing each transit token by its accessor raises its TTL", async () => {
    // The tokens were created during the bootstrap, seconds ago at least: a renewal puts
    // their TTL back at the full period, above what it had run down to.
    for (const [admin, accessor] of [
      [await t.activeAdmin("vault-unlock"), t.state.linkToVault!.accessor],
      [await t.activeAdmin("vault"), t.state.linkToVaultUnlock!.accessor],
    ] as const) {
      const before = await tokenHealth(admin, accessor);
      const renewed = await renewToken(admin, accessor);
      expect(renewed.ttlSeconds).toBeGreaterThan(before.ttlSeconds);
    }
  });

  test("recoverFromDeadlock on this healthy pair is refused with NotDeadlockedError, and no node of vault is restarted or re-pointed", async () => {
    const seal = sealSettingsDigest(await t.vault.appliedSeal());
    const pids = t.vault.nodeIds().map((id) => t.vault.pid(id));
    const err = await recover(t).catch((e) => e);
    expect(err).toBeInstanceOf(NotDeadlockedError);
    expect(err.message).toMatch(/^not a deadlock, nothing changed: both clusters are unsealed/);
    expect(sealSettingsDigest(await t.vault.appliedSeal())).toBe(seal);
    expect(t.vault.nodeIds().map((id) => t.vault.pid(id))).toEqual(pids);
    expect(await vaultSealOnEveryNode(t)).toEqual(ALL_ON_VAULT_UNLOCK);
  });

  describe("restarted", () => {
    beforeEach(async () => {
      // Every test here leaves both clusters unsealed; this checks it, whatever ran before.
      await Promise.all([waitClusterUnsealed(t.vaultUnlock, { timeoutMs: 60_000 }), waitClusterUnsealed(t.vault, { timeoutMs: 60_000 })]);
    });

    for (const which of ["vault-unlock", "vault"] as const) {
      test(`every node of ${which} restarted at once auto-unseals by transit with no keys given, and vault still serves the secret`, async () => {
        const cluster = which === "vault" ? t.vault : t.vaultUnlock;
        await cluster.stopAll();
        await cluster.startAll();
        await waitClusterUnsealed(cluster, { timeoutMs: 60_000 });
        expect(await sealStates(cluster)).toEqual(["transit/init/unsealed", "transit/init/unsealed", "transit/init/unsealed"]);
        expect(await readSecret(t)).toBe(SECRET.value);
      });
    }

    for (const [down, up] of [
      ["vault", "vault-unlock"],
      ["vault-unlock", "vault"],
    ] as const) {
      test(`with every node of ${down} stopped and ${up} unsealed, recoverFromDeadlock is refused with NotDeadlockedError, starting nothing and re-pointing nothing`, async () => {
        const stopped = down === "vault" ? t.vault : t.vaultUnlock;
        const running = up === "vault" ? t.vault : t.vaultUnlock;
        const seal = sealSettingsDigest(await t.vault.appliedSeal());
        await stopped.stopAll();
        try {
          const pids = running.nodeIds().map((id) => running.pid(id));
          const err = await recover(t).catch((e) => e);
          expect(err).toBeInstanceOf(NotDeadlockedError);
          expect(err.message).toContain(`not a deadlock, nothing changed: ${up} is unsealed: ${down}'s nodes auto-unseal from it`);
          expect(sealSettingsDigest(await t.vault.appliedSeal())).toBe(seal);
          expect(stopped.nodeIds().filter((id) => stopped.isRunning(id))).toEqual([]);
          expect(running.nodeIds().map((id) => running.pid(id))).toEqual(pids);
        } finally {
          await stopped.startAll();
          await waitClusterUnsealed(stopped, { timeoutMs: 60_000 });
        }
      });
    }

    test("during a rolling restart of every node of both clusters, a read of the secret every 100 ms through vault's Service never fails", async () => {
      const failed: string[] = [];
      let ok = 0;
      let done = false;
      const reader = (async () => {
        for (let i = 0; !done; i++) {
          // One try per read, no retry: a read the Service cannot serve counts as failed.
          await t
            .admin("vault")
            .read<{ data: { value: string } }>("kv/probe")
            .then(
              (r) => (r.body.data.value === SECRET.value ? ok++ : failed.push(`read ${i}: another value`)),
              (e: Error) => failed.push(`read ${i}: ${e.message.slice(0, 200)}`),
            );
          await sleep(100);
        }
      })();
      try {
        // Standbys first, the active last: drained, stepped down, restarted.
        await rollingRestart(t.vaultUnlock, { adminToken: t.state.vaultUnlock!.operatorToken });
        await rollingRestart(t.vault, { adminToken: t.state.vault!.operatorToken });
      } finally {
        done = true;
        await reader;
      }
      expect({ failed, anyRead: ok > 0 }).toEqual({ failed: [], anyRead: true });
    });
  });

  describe("then deadlocked, and a recovery interrupted once vault runs on the helper", () => {
    let interruption: Error;
    beforeAll(async () => {
      await deadlock(t);
      // Stopped as a crash of the caller would stop it, at the start of the third phase.
      interruption = await recover(t, (m) => {
        if (m === "vault-unlock unseals from vault") throw new Error("caller stopped");
      }).catch((e) => e);
    });

    test("the interrupted call left vault's applied seal pointing at the helper", async () => {
      expect(interruption.message).toBe("caller stopped");
      const applied = await t.vault.appliedSeal();
      expect(applied.stanzas.map((s) => s.address)).toEqual([t.emergencySeal().address]);
    });

    describe("then a second call", () => {
      let report: RecoveryReport;
      beforeAll(async () => {
        report = await recover(t);
      });

      test("reports that it found vault on the helper", () => {
        expect(report.found).toBe("on the helper");
      });

      recoveredPairTests(() => t);
    });
  });

  describe("then deadlocked again, and a recovery interrupted while pointing vault back at vault-unlock", () => {
    let interruption: Error;
    beforeAll(async () => {
      await deadlock(t);
      let pointingBack = false;
      // Stopped as a crash of the caller would stop it, after the last phase applied vault's
      // usual seal and before it restarted any node onto it.
      interruption = await recover(t, (m) => {
        if (m === "point vault's seal back at vault-unlock") pointingBack = true;
        else if (pointingBack && m.startsWith("vault: restarting")) throw new Error("caller stopped");
      }).catch((e) => e);
    });

    test("the interrupted call left vault's applied seal pointing at vault-unlock, its nodes still running the helper's", async () => {
      expect(interruption.message).toBe("caller stopped");
      expect(await vaultSealOnEveryNode(t)).toEqual(Array(3).fill({ pointsAtVaultUnlock: true, running: false }));
    });

    describe("then a second call", () => {
      let report: RecoveryReport;
      beforeAll(async () => {
        report = await recover(t);
      });

      test("reports that it found vault switching back, and ran only the last phase", () => {
        expect({ found: report.found, phases: report.phases.map((p) => p.name) }).toEqual({
          found: "switching back",
          phases: ["point vault's seal back at vault-unlock"],
        });
      });

      recoveredPairTests(() => t);
    });
  });
});

describe("a rotation of vault's transit key on vault-unlock", () => {
  let t: Topology;
  let before: KeyDrift;
  let latest: number;
  beforeAll(async () => {
    t = await bootstrapped("mutual-rotation");
    await writeSecret(t);
    before = await checkKeyDrift(await t.activeAdmin("vault-unlock"), t.sealOfVault, t.admin("helper"));
    latest = await rotateTransitKey(await t.activeAdmin("vault-unlock"), t.sealOfVault.mountPath, t.sealOfVault.keyName);
  });
  afterAll(() => destroy(t));

  test("makes the key one version newer", () => {
    expect(latest).toBe(before.latestVersion + 1);
  });

  test("is reported as drift: the helper's copy is at the older version", async () => {
    const drift = await checkKeyDrift(await t.activeAdmin("vault-unlock"), t.sealOfVault, t.admin("helper"));
    expect({ inSync: drift.inSync, helper: drift.helperVersion, latest: drift.latestVersion }).toEqual({
      inSync: false,
      helper: before.latestVersion,
      latest,
    });
    expect(drift.verdict).toMatch(/DRIFT/);
  });

  describe("then a copy of the key to the helper", () => {
    beforeAll(async () => {
      await copyTransitKey(await t.activeAdmin("vault-unlock"), t.admin("helper"), t.sealOfVault);
    });

    test("brings the helper's copy to the latest version", async () => {
      expect((await checkKeyDrift(await t.activeAdmin("vault-unlock"), t.sealOfVault, t.admin("helper"))).inSync).toBe(true);
    });

    describe("then vault's leader changed, and both clusters deadlocked", () => {
      let d: Deadlock;
      beforeAll(async () => {
        // The leader change makes vault re-wrap its keys with the newest key version, which
        // only the re-synced copy on the helper can unwrap.
        await stepDown(t.vault, (await findActive(t.vault))!, t.state.vault!.operatorToken);
        d = await deadlock(t);
      });

      test("every node exits with status 1 at start, its last log line saying its transit seal could not reach its peer", () => {
        // vault's seal reaches vault-unlock through linkToVaultUnlock, and back through linkToVault.
        const peer = (node: string) => (node.startsWith("vault/") ? t.linkToVaultUnlock : t.linkToVault).address;
        const lastLine = (log: string) => log.split("\n").pop() ?? "";
        expect({ running: d.running, otherFailures: d.otherFailures }).toEqual({ running: [], otherFailures: [] });
        expect(
          d.exits.map((e) => ({
            node: e.node,
            code: e.code,
            saysPeerUnreachable: lastLine(e.logTail).startsWith(
              `Error configuring seal "transit": Put "${peer(e.node)}/v1/transit/encrypt/`,
            ),
          })),
        ).toEqual(
          [...t.vault.nodeIds().map((id) => `vault/${id}`), ...t.vaultUnlock.nodeIds().map((id) => `vault-unlock/${id}`)].map((node) => ({
            node,
            code: 1,
            saysPeerUnreachable: true,
          })),
        );
      });

      describe("then one recovery call through the helper", () => {
        let report: RecoveryReport;
        beforeAll(async () => {
          report = await recover(t);
        });

        test("reports that it found a deadlock and ran its 4 phases", () => {
          expect({ found: report.found, phases: report.phases.length }).toEqual({ found: "deadlock", phases: 4 });
        });

        recoveredPairTests(() => t);
      });
    });
  });
});
