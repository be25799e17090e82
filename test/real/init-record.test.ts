/**
 * The init record against real servers: a crash between sys/init and Pulumi's checkpoint
 * (simulated by dropping create's result) no longer loses the keys: the next create adopts
 * the recorded keys and root token, which really unseal and authenticate. Without a record,
 * or once it is forgotten, an initialized cluster is still refused with the adopt message.
 */
import * as fs from "fs";
import { LocalCluster } from "../../adapters/local/local-cluster";
import { AlreadyInitializedError } from "../../core/errors";
import { NodeControl } from "../../core/nodes";
import { encodeInitRecord, initCluster } from "../../core/steps/init";
import { unsealCluster } from "../../core/steps/unseal";
import { operatorTokenProvider } from "../../providers/operator-token";
import { forgetInitRecord, VaultInitInputs, vaultInitProvider as provider } from "../../providers/vault-init";
import { checkNew, create, LocalAccess, update } from "../providers/harness";
import { Lab, newLab } from "../support/servers";

jest.setTimeout(120_000);

let lab: Lab;
const access = new LocalAccess();

beforeAll(async () => {
  lab = await newLab("init-record");
});
afterAll(async () => {
  access.clear();
  await lab?.destroy();
});

/** A started one-node Shamir cluster and VaultInit's inputs for it. */
async function freshCluster(name: string): Promise<{ c: LocalCluster; inputs: VaultInitInputs }> {
  const c = await lab.cluster({ name, size: 1, seal: { stanzas: [] } });
  await c.startAll();
  return { c, inputs: { version: 1, nodes: access.of(c), kind: "shamir", shares: 3, threshold: 2 } };
}

async function rootPolicies(c: LocalCluster, token: string): Promise<string[]> {
  return (await c.client(c.nodeIds()[0], token).read<{ data: { policies: string[] } }>("auth/token/lookup-self")).body.data.policies;
}

test("after a create whose outputs never reached the checkpoint, the next create returns the same keys and root token, not adopted", async () => {
  const { inputs } = await freshCluster("rec-lost");
  const lost = await create(provider, await checkNew(provider, inputs));
  // The engine died here: nothing of `lost` was saved. The re-run creates again.
  const again = await create(provider, await checkNew(provider, inputs));
  expect(again.outs).toMatchObject({ keys: lost.outs.keys, rootToken: lost.outs.rootToken, adopted: false });
});

test("the keys and root token taken from the record really unseal the cluster and authenticate as root", async () => {
  const { c, inputs } = await freshCluster("rec-works");
  await create(provider, inputs);
  const again = await create(provider, inputs);
  await unsealCluster(c, again.outs.keys.slice(0, 2));
  expect((await c.client(c.nodeIds()[0]).sealStatus()).sealed).toBe(false);
  expect(await rootPolicies(c, again.outs.rootToken)).toContain("root");
});

test("the record is written at init, readable by its owner only, and holds the init's answer", async () => {
  const { c, inputs } = await freshCluster("rec-file");
  const created = await create(provider, inputs);
  const file = c.initRecordLocation().replace(/^file /, "");
  expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  expect(JSON.parse((await c.loadInitRecord())!)).toEqual({
    format: 1,
    kind: "shamir",
    keys: created.outs.keys,
    rootToken: created.outs.rootToken,
  });
});

test("a record saved by hand after an init outside the provider (initCluster + saveInitRecord) is adopted the same way", async () => {
  const { c, inputs } = await freshCluster("rec-by-hand");
  const answer = await initCluster(c.client(c.nodeIds()[0]), { kind: "shamir", shares: 3, threshold: 2 });
  await c.saveInitRecord(encodeInitRecord(answer));
  const adopted = await create(provider, inputs);
  expect(adopted.outs).toMatchObject({ keys: answer.keys, rootToken: answer.rootToken, adopted: false });
});

test("an initialized cluster without a record is still refused, pointing at adopt", async () => {
  const { c, inputs } = await freshCluster("rec-none");
  await initCluster(c.client(c.nodeIds()[0]), { kind: "shamir", shares: 3, threshold: 2 });
  const err = await provider.create(inputs).catch((e: Error) => e);
  expect(err).toBeInstanceOf(AlreadyInitializedError);
  expect((err as Error).message).toContain("is already initialized: refusing to init again");
  expect((err as Error).message).toContain("No init record is left either (file ");
  expect((err as Error).message).toContain("pass those keys and root token as adopt: { keys, rootToken }");
});

test("forgetInitRecord deletes the record, and a create after it refuses the initialized cluster", async () => {
  const { c, inputs } = await freshCluster("rec-forget");
  await create(provider, inputs);
  await forgetInitRecord(inputs.nodes);
  expect(await c.loadInitRecord()).toBeUndefined();
  await expect(provider.create(inputs)).rejects.toThrow("pass those keys and root token as adopt");
  // Forgetting twice is no error.
  await expect(forgetInitRecord(inputs.nodes)).resolves.toBeUndefined();
});

test("a record whose root token is not the cluster's is refused under initRecord.rootToken, saying what to do", async () => {
  const { c, inputs } = await freshCluster("rec-stale");
  const real = await initCluster(c.client(c.nodeIds()[0]), { kind: "shamir", shares: 3, threshold: 2 });
  await unsealCluster(c, real.keys.slice(0, 2));
  await c.saveInitRecord(encodeInitRecord({ ...real, rootToken: "s.not-this-clusters-token" }));
  await expect(provider.create(inputs)).rejects.toThrow(
    /^initRecord\.rootToken: is not a valid token on .* \(keys and root token from the init record file .*\)\. If the record is stale, delete it and pass the cluster's keys and root token as adopt/,
  );
});

test("a record of another kind is refused under kind, naming the kind the cluster was initialized with", async () => {
  const { c, inputs } = await freshCluster("rec-kind");
  const real = await initCluster(c.client(c.nodeIds()[0]), { kind: "shamir", shares: 3, threshold: 2 });
  await c.saveInitRecord(encodeInitRecord({ ...real, kind: "recovery" }));
  await expect(provider.create(inputs)).rejects.toThrow(
    /^kind: .* was initialized with kind "recovery" \(its init record, file .*\), not "shamir"/,
  );
});

test("an update (its keys read from the checkpoint) deletes a record holding exactly those keys", async () => {
  const { c, inputs } = await freshCluster("rec-update");
  const created = await create(provider, inputs);
  await update(provider, created, { ...inputs });
  expect(await c.loadInitRecord()).toBeUndefined();
});

test("an update keeps a record that holds other keys than the checkpoint's", async () => {
  const { c, inputs } = await freshCluster("rec-other");
  const created = await create(provider, inputs);
  const other = encodeInitRecord({ kind: "shamir", keys: ["b3RoZXI="], rootToken: "s.other" });
  await c.saveInitRecord(other);
  await update(provider, created, { ...inputs });
  expect(await c.loadInitRecord()).toBe(other);
});

test("when the record cannot be written, create still returns the keys (for the checkpoint) and warns without quoting them", async () => {
  const { c } = await freshCluster("rec-unwritable");
  // The same cluster behind an adapter whose store refuses (a deployer without access to Secrets).
  const refusing: NodeControl = {
    name: "rec-unwritable-refusing",
    nodeIds: () => c.nodeIds(),
    client: (id, token) => c.client(id, token),
    appliedSeal: () => c.appliedSeal(),
    applySeal: (s) => c.applySeal(s),
    runningSealDigest: (id) => c.runningSealDigest(id),
    restart: (id) => c.restart(id),
    saveInitRecord: async () => {
      throw new Error("secrets is forbidden");
    },
    loadInitRecord: () => c.loadInitRecord(),
    forgetInitRecord: () => c.forgetInitRecord(),
    initRecordLocation: () => c.initRecordLocation(),
  };
  const inputs: VaultInitInputs = { version: 1, nodes: access.of(refusing), kind: "shamir", shares: 3, threshold: 2 };
  const written: string[] = [];
  const spy = jest.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  });
  let created;
  try {
    created = await create(provider, inputs);
  } finally {
    spy.mockRestore();
  }
  expect(created.outs.keys).toHaveLength(3);
  expect(await c.loadInitRecord()).toBeUndefined();
  const warning = written.join("");
  expect(warning).toContain("its init record could not be written to file ");
  expect(warning).toContain("secrets is forbidden");
  for (const secret of [...created.outs.keys, created.outs.rootToken]) expect(warning).not.toContain(secret);
});

test("the operator-token step, the first to take the init's outputs, deletes the record once the operator token exists", async () => {
  const { c, inputs } = await freshCluster("rec-operator");
  const init = await create(provider, inputs);
  expect(await c.loadInitRecord()).toBeDefined();
  await unsealCluster(c, init.outs.keys.slice(0, 2));
  const made = await create(
    operatorTokenProvider,
    await checkNew(operatorTokenProvider, {
      version: 1,
      nodes: inputs.nodes,
      rootToken: init.outs.rootToken,
      flavour: lab.flavour,
      seals: [],
    }),
  );
  expect(made.outs.token).not.toBe("");
  expect(await c.loadInitRecord()).toBeUndefined();
});
