/**
 * VaultInit through its provider object against real servers: a Shamir init, a recovery init
 * of a transit-sealed cluster, the refusal to init twice, adopting an initialized cluster,
 * and updates that never touch what init fixed.
 */
import { LocalCluster } from "../../adapters/local/local-cluster";
import { unsealCluster, waitClusterUnsealed } from "../../core/steps/unseal";
import { forgetInitRecord, VaultInitInputs, VaultInitOutputs, vaultInitProvider as provider } from "../../providers/vault-init";
import { Lab, newLab } from "../support/servers";
import { sealTowards, Unsealer, unsealer } from "../support/pair";
import { checkNew, create, LocalAccess, State, update } from "./harness";

jest.setTimeout(120_000);

let lab: Lab;
const access = new LocalAccess();

beforeAll(async () => {
  lab = await newLab("prov-init");
});
afterAll(async () => {
  access.clear();
  await lab?.destroy();
});

async function checkedCreate(inputs: VaultInitInputs): Promise<State<VaultInitOutputs>> {
  return create(provider, await checkNew(provider, inputs));
}

describe("shamir", () => {
  let c: LocalCluster;
  let inputs: VaultInitInputs;
  let created: State<VaultInitOutputs>;

  beforeAll(async () => {
    c = await lab.cluster({ name: "init-shamir", size: 1, seal: { stanzas: [] } });
    await c.startAll();
    inputs = { version: 1, nodes: access.of(c), kind: "shamir", shares: 3, threshold: 2 };
  });

  test("create inits the first node; its keys unseal it and its root token works", async () => {
    created = await checkedCreate(inputs);
    expect(created.id).toBe("vault-init:local/init-shamir");
    expect(created.outs).toMatchObject({ ...inputs, adopted: false });
    expect(created.outs.keys).toHaveLength(3);
    await unsealCluster(c, created.outs.keys.slice(1));
    const self = await c.client(c.nodeIds()[0], created.outs.rootToken).read<{ data: { policies: string[] } }>("auth/token/lookup-self");
    expect(self.body.data.policies).toContain("root");
  });

  test("once its init record is forgotten, a second create refuses with the core's message and points at adopt", async () => {
    // With the record still there, a second create takes its keys (test/real/init-record.test.ts).
    await forgetInitRecord(inputs.nodes);
    const err = await provider.create(inputs).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain("is already initialized: refusing to init again");
    expect((err as Error).message).toContain("pass those keys and root token as adopt: { keys, rootToken }");
  });

  test("adopt takes an initialized cluster over once its settings and root token check out", async () => {
    const adopt = { keys: created.outs.keys, rootToken: created.outs.rootToken };
    const adopted = await checkedCreate({ ...inputs, adopt });
    expect(adopted.outs).toMatchObject({ keys: adopt.keys, rootToken: adopt.rootToken, adopted: true });

    await expect(provider.create({ ...inputs, shares: 5, threshold: 3, adopt })).rejects.toThrow(
      "was initialized with 3 shares and threshold 2, not 5/3",
    );
    await expect(provider.create({ ...inputs, adopt: { ...adopt, rootToken: "s.not-a-token" } })).rejects.toThrow(
      /^adopt\.rootToken: is not a valid token/,
    );
    await expect(provider.create({ ...inputs, adopt: { ...adopt, keys: adopt.keys.slice(0, 1) } })).rejects.toThrow(
      "needs 2 keys to unseal or recover; adopt gives 1",
    );
    await expect(provider.create({ ...inputs, kind: "recovery", adopt })).rejects.toThrow(
      `has a shamir seal without recovery keys: adopt it with kind "shamir"`,
    );
  });

  test("update keeps the keys, refuses what init fixed, and delete leaves the cluster alone", async () => {
    const same = await update(provider, created, { ...inputs, nodes: { ...inputs.nodes } });
    expect(same.outs).toEqual(created.outs);
    await expect(provider.update!(created.id, created.outs, { ...inputs, shares: 4 })).rejects.toThrow("shares: cannot change after init");
    await provider.delete!(created.id, created.outs);
    const status = await c.client(c.nodeIds()[0]).sealStatus();
    expect({ initialized: status.initialized, sealed: status.sealed }).toEqual({ initialized: true, sealed: false });
  });

  test("adopt on a cluster that is not initialized is refused, and nothing is initialized", async () => {
    const fresh = await lab.cluster({ name: "init-fresh", size: 1, seal: { stanzas: [] } });
    await fresh.startAll();
    const adopt = { keys: created.outs.keys, rootToken: created.outs.rootToken };
    await expect(provider.create({ ...inputs, nodes: access.of(fresh), adopt })).rejects.toThrow(
      "is not initialized, so there is nothing to adopt",
    );
    expect((await fresh.client(fresh.nodeIds()[0]).sealStatus()).initialized).toBe(false);
  });
});

describe("recovery", () => {
  let u: Unsealer;
  let c: LocalCluster;

  beforeAll(async () => {
    u = await unsealer(lab, "init-unsealer", "seal-of-init-recovery");
    c = await lab.cluster({ name: "init-recovery", size: 1, seal: { stanzas: [] } });
    await c.applySeal({ stanzas: [sealTowards(lab, u, c)], transitToken: u.link.token });
    await c.startAll();
  });

  test("create inits a transit-sealed cluster with recovery keys; it unseals by itself", async () => {
    const inputs: VaultInitInputs = { version: 1, nodes: access.of(c), kind: "recovery", shares: 5, threshold: 3 };
    const created = await checkedCreate(inputs);
    expect(created.outs.keys).toHaveLength(5);
    await waitClusterUnsealed(c, { timeoutMs: 30_000 });
    const status = await c.client(c.nodeIds()[0]).sealStatus();
    expect({ type: status.type, recovery: status.recovery_seal }).toEqual({ type: "transit", recovery: true });

    // Adopting checks the recovery settings the cluster reports.
    const adopt = { keys: created.outs.keys, rootToken: created.outs.rootToken };
    expect((await create(provider, { ...inputs, adopt })).outs.adopted).toBe(true);
    await expect(provider.create({ ...inputs, threshold: 2, adopt })).rejects.toThrow("was initialized with 5 shares and threshold 3");
  });
});
