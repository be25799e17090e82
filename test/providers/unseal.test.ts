/**
 * Unseal through its provider object: a 3-node Raft cluster with a Shamir seal, unsealed by
 * create; a second run changes nothing; a node restarted since is found sealed by read,
 * which makes diff ask for an update, which unseals it.
 */
import { LocalCluster } from "../../adapters/local/local-cluster";
import { VaultTlsError } from "../../core/errors";
import { NodeControl } from "../../core/nodes";
import { initCluster } from "../../core/steps/init";
import { VaultClient } from "../../core/vault-client";
import { UnsealInputs, UnsealOutputs, unsealProvider as provider } from "../../providers/unseal";
import { Lab, newLab } from "../support/servers";
import { checkNew, create, LocalAccess, read, update } from "./harness";

jest.setTimeout(120_000);

let lab: Lab;
let c: LocalCluster;
let inputs: UnsealInputs;
const access = new LocalAccess();

beforeAll(async () => {
  lab = await newLab("prov-unseal");
  c = await lab.cluster({ name: "unseal", size: 3, seal: { stanzas: [] } });
  await c.startAll();
  const init = await initCluster(c.client(c.nodeIds()[0]), { kind: "shamir", shares: 3, threshold: 2 });
  inputs = { version: 1, nodes: access.of(c), keys: init.keys.slice(0, 2) };
});
afterAll(async () => {
  access.clear();
  await lab?.destroy();
});

const sealed = async () => Promise.all(c.nodeIds().map(async (id) => (await c.client(id).sealStatus()).sealed));

test("create unseals every node; a second run finds nothing to do", async () => {
  expect(await sealed()).toEqual([true, true, true]);
  const created = await create(provider, await checkNew(provider, inputs));
  expect(created.id).toBe("unseal:local/unseal");
  expect(created.outs).toMatchObject({ unsealedNodes: c.nodeIds(), sealedNodes: [], sealType: "shamir" });
  expect(await sealed()).toEqual([false, false, false]);

  const again = await update(provider, created, inputs);
  expect(again.outs).toEqual(created.outs);
  expect(await provider.diff!(created.id, again.outs, inputs)).toEqual({ changes: false, replaces: [] });
});

test("a node restarted since is found sealed by read; the update that diff asks for unseals it; delete seals nothing", async () => {
  const id = c.nodeIds()[1];
  await c.restart(id);
  const olds: UnsealOutputs = { ...inputs, unsealedNodes: c.nodeIds(), sealedNodes: [], sealType: "shamir" };
  const found = await read(provider, { id: "unseal:local/unseal", outs: olds });
  expect(found.outs).toMatchObject({ sealedNodes: [id], sealType: "shamir" });
  expect(found.outs.unsealedNodes).not.toContain(id);

  expect(await provider.diff!(found.id, found.outs, inputs)).toEqual({ changes: true, replaces: [] });
  const updated = await update(provider, found, inputs);
  expect(updated.outs).toMatchObject({ unsealedNodes: c.nodeIds(), sealedNodes: [] });
  expect(await sealed()).toEqual([false, false, false]);

  await provider.delete!(updated.id, updated.outs);
  expect(await sealed()).toEqual([false, false, false]);
});

test("wrong keys fail with the core's message and leave the node sealed", async () => {
  const id = c.nodeIds()[2];
  await c.restart(id);
  const wrong = { ...inputs, keys: [Buffer.alloc(33, 1).toString("base64"), Buffer.alloc(33, 2).toString("base64")] };
  await expect(
    provider.update!("unseal:local/unseal", { ...inputs, unsealedNodes: [], sealedNodes: [id], sealType: "shamir" }, wrong),
  ).rejects.toThrow("rejected the unseal keys");
  expect((await c.client(id).sealStatus()).sealed).toBe(true);
  await provider.update!("unseal:local/unseal", { ...inputs, unsealedNodes: [], sealedNodes: [id], sealType: "shamir" }, inputs);
  expect(await sealed()).toEqual([false, false, false]);
});

test("read through nodes whose TLS fails raises the TLS error instead of recording them in neither list", async () => {
  // The same cluster asked with a server name its certificates do not hold.
  const client = (node: string, token?: string) =>
    new VaultClient({ address: c.address(node), token, tls: { caFile: c.caFile, serverName: "not-this-server" } });
  const wrongName = { name: `${c.name}-wrong-name`, nodeIds: () => c.nodeIds(), client } as unknown as NodeControl;
  const olds: UnsealOutputs = { ...inputs, nodes: access.of(wrongName), unsealedNodes: c.nodeIds(), sealedNodes: [], sealType: "shamir" };
  await expect(provider.read!("unseal:local/unseal", olds)).rejects.toBeInstanceOf(VaultTlsError);
});
