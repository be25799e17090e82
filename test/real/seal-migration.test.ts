/**
 * Seal migration of a live 3-node cluster, interrupted mid-way (the orchestrator stopped)
 * and finished by a second run: Shamir → transit, transit → transit (another unsealer),
 * then transit → Shamir. The secret written before stays readable and the keys keep working.
 *
 * Each migration starts from where the one before ended, so each is a `beforeAll` of a
 * `describe` nested in the one before, and each test asserts one thing about its result:
 * no test depends on another having run. Tests that restart nodes leave the cluster
 * unsealed on the same seal, as they found it.
 */
import { LocalCluster } from "../../adapters/local/local-cluster";
import { Seal } from "../../core/render/seal";
import { migrateSeal, MigrationOptions } from "../../core/steps/seal-migration";
import { unsealCluster, waitClusterUnsealed } from "../../core/steps/unseal";
import { Lab, newLab } from "../support/servers";
import { ShamirCluster, shamirClusterWithSecret, Unsealer, unsealer } from "../support/pair";

jest.setTimeout(240_000);

let lab: Lab;
let u: Unsealer;
let u2: Unsealer;
let sc: ShamirCluster;
let c: LocalCluster;
let keys: string[];
let root: string;

const transit = (by: Unsealer = u): Seal => ({
  type: "transit",
  address: by.cluster.address(by.cluster.nodeIds()[0]),
  keyName: by.link.keyName,
  mountPath: "transit",
  tlsCaCert: lab.pki.caFile,
  tlsClientCert: c.clientCert.certFile,
  tlsClientKey: c.clientCert.keyFile,
  tlsServerName: by.cluster.name,
});

async function secretIntact(): Promise<void> {
  await sc.secretIntact();
}

/** Runs the migration, stopping it (as a crash would) when a progress line matches `at`. */
async function interrupted(o: MigrationOptions, at: RegExp): Promise<string[]> {
  const seen: string[] = [];
  const err = await migrateSeal(c, {
    ...o,
    log: (m) => {
      seen.push(m);
      if (at.test(m)) throw new Error("orchestrator stopped");
    },
  }).catch((e) => e);
  expect(err?.message).toBe("orchestrator stopped");
  return seen;
}

async function sealTypes(): Promise<string[]> {
  return Promise.all(c.nodeIds().map(async (id) => (await c.client(id).sealStatus()).type));
}

beforeAll(async () => {
  lab = await newLab("migration");
  u = await unsealer(lab);
  u2 = await unsealer(lab, "unsealer-2", "autounseal-2");
  sc = await shamirClusterWithSecret(lab, "migrating");
  ({ cluster: c, keys, root } = sc);
});
afterAll(() => lab?.destroy());

describe("Shamir → transit, stopped after one standby is mid-migration", () => {
  const o = (): MigrationOptions => ({ from: { type: "shamir" }, to: transit(), toToken: u.link.token, keys, adminToken: root });
  let seen: string[];
  beforeAll(async () => {
    seen = await interrupted(o(), /restarting standby .*-2 /);
  });

  test("had unsealed a standby in migration mode when it stopped", () => {
    expect(seen.some((m) => /unsealing .*-1 in migration mode/.test(m))).toBe(true);
  });

  describe("then run again", () => {
    let result: Awaited<ReturnType<typeof migrateSeal>>;
    beforeAll(async () => {
      result = await migrateSeal(c, o());
    });

    test("completes: transit with recovery keys, no migration pending, the secret readable", async () => {
      expect(result).toEqual({ changed: true, sealType: "transit" });
      const status = await c.client(c.nodeIds()[0]).sealStatus();
      expect({ recovery: status.recovery_seal, migration: status.migration }).toEqual({ recovery: true, migration: false });
      await secretIntact();
    });

    test("a third run finds nothing to do", async () => {
      expect(await migrateSeal(c, o())).toEqual({ changed: false, sealType: "transit" });
    });

    test("every node restarted at once auto-unseals by transit, the secret readable", async () => {
      await c.stopAll();
      await c.startAll();
      await waitClusterUnsealed(c, { timeoutMs: 60_000 });
      expect(await sealTypes()).toEqual(["transit", "transit", "transit"]);
      await secretIntact();
    });

    describe("then transit → transit to another unsealer, each block with its own token", () => {
      let result2: Awaited<ReturnType<typeof migrateSeal>>;
      beforeAll(async () => {
        result2 = await migrateSeal(c, {
          from: transit(u),
          fromToken: u.link.token,
          to: transit(u2),
          toToken: u2.link.token,
          keys,
          adminToken: root,
          flavour: lab.flavour,
        });
      });

      test("completes with one seal block, pointing at the new unsealer, no token in the file, the secret readable", async () => {
        expect(result2).toEqual({ changed: true, sealType: "transit" });
        const config = c.renderConfig(c.nodeIds()[0]);
        expect(config).toContain(u2.cluster.address(u2.cluster.nodeIds()[0]));
        expect(config).not.toContain(u.cluster.address(u.cluster.nodeIds()[0]));
        expect(config).not.toContain(u2.link.token);
        await secretIntact();
      });

      test("with the old unsealer stopped, every node restarted at once auto-unseals, the secret readable", async () => {
        await u.cluster.stopAll();
        await c.stopAll();
        await c.startAll();
        await waitClusterUnsealed(c, { timeoutMs: 60_000 });
        await secretIntact();
      });

      describe("then transit → Shamir, stopped right after the step-down, and run again", () => {
        let result3: Awaited<ReturnType<typeof migrateSeal>>;
        beforeAll(async () => {
          const o3: MigrationOptions = { from: transit(u2), fromToken: u2.link.token, to: { type: "shamir" }, keys, adminToken: root };
          await interrupted(o3, /is active and migrates the stored keys/);
          result3 = await migrateSeal(c, o3);
        });

        test("completes with no seal block left in the config, the secret readable", async () => {
          expect(result3).toEqual({ changed: true, sealType: "shamir" });
          expect((await c.appliedSeal()).stanzas).toEqual([]);
          await secretIntact();
        });

        test("every node restarted at once stays sealed until the former recovery keys unseal it as Shamir, the secret readable", async () => {
          await c.stopAll();
          await c.startAll();
          expect((await c.client(c.nodeIds()[0]).sealStatus()).sealed).toBe(true);
          await unsealCluster(c, keys);
          expect(await sealTypes()).toEqual(["shamir", "shamir", "shamir"]);
          await secretIntact();
        });
      });
    });
  });
});
