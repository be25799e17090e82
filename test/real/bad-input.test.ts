/**
 * Bad input on a live 3-node cluster: each gets an error that names the problem and what to
 * do, and nothing is lost — the cluster still serves the secret written before.
 */
import { randomBytes } from "crypto";
import { LocalCluster } from "../../adapters/local/local-cluster";
import { AlreadyInitializedError, InputError, NotInMigrationModeError, UnsealKeyRejectedError } from "../../core/errors";
import { initCluster } from "../../core/steps/init";
import { unsealNode, waitClusterUnsealed } from "../../core/steps/unseal";
import { ShamirCluster, shamirClusterWithSecret } from "../support/pair";
import { Lab, newLab } from "../support/servers";

jest.setTimeout(120_000);

let lab: Lab;
let sc: ShamirCluster;
let c: LocalCluster;
let keys: string[];

async function secretIntact(): Promise<void> {
  await sc.secretIntact();
}

beforeAll(async () => {
  lab = await newLab("bad-input");
  sc = await shamirClusterWithSecret(lab, "vault-unlock");
  ({ cluster: c, keys } = sc);
});
afterAll(() => lab?.destroy());

test("a wrong unseal key is rejected, progress is reset, and the right keys still unseal the node", async () => {
  const id = c.nodeIds()[1];
  await c.restart(id);
  const wrong = randomBytes(33).toString("base64");
  const err = await unsealNode(c.client(id), [keys[0], wrong]).catch((e) => e);
  expect(err).toBeInstanceOf(UnsealKeyRejectedError);
  expect(err.message).toMatch(/rejected the unseal keys .* still sealed with its data untouched/);
  const status = await c.client(id).sealStatus();
  expect({ sealed: status.sealed, progress: status.progress }).toEqual({ sealed: true, progress: 0 });
  await unsealNode(c.client(id), keys);
  await waitClusterUnsealed(c);
  await secretIntact();
});

test("threshold greater than shares is refused with an InputError naming threshold, and the node stays uninitialized", async () => {
  const fresh = await lab.cluster({ name: "fresh", size: 1, seal: { stanzas: [] } });
  await fresh.startAll();
  const err = await initCluster(fresh.client(fresh.nodeIds()[0]), { kind: "shamir", shares: 2, threshold: 3 }).catch((e) => e);
  expect(err).toBeInstanceOf(InputError);
  expect(err.key).toBe("threshold");
  expect(err.message).toContain("(3) is greater than shares (2)");
  expect((await fresh.client(fresh.nodeIds()[0]).sealStatus()).initialized).toBe(false);
});

test("unsealing with migrate a node that is not in migration mode says the config still has the old seal", async () => {
  const id = c.nodeIds()[2];
  await c.restart(id);
  const err = await unsealNode(c.client(id), keys, { migrate: true }).catch((e) => e);
  expect(err).toBeInstanceOf(NotInMigrationModeError);
  expect(err.message).toMatch(/not in seal migration mode: the config it runs still has the seal it was initialized with/);
  await unsealNode(c.client(id), keys);
  await secretIntact();
});

test("init of an initialized cluster is refused with AlreadyInitializedError, and the cluster still serves its secret", async () => {
  const err = await initCluster(c.client(c.nodeIds()[0]), { kind: "shamir", shares: 3, threshold: 2 }).catch((e) => e);
  expect(err).toBeInstanceOf(AlreadyInitializedError);
  expect(err.message).toContain("already initialized: refusing to init again");
  await secretIntact();
});

test("a seal config with two enabled seals is refused before the node is stopped", async () => {
  const t = { type: "transit" as const, address: "https://127.0.0.1:1", keyName: "k", mountPath: "transit" };
  await c.applySeal({ stanzas: [t, { ...t, keyName: "k2" }] });
  const id = c.nodeIds()[0];
  const pid = c.pid(id);
  const err = await c.restart(id).catch((e) => e);
  expect(err).toBeInstanceOf(InputError);
  expect(err.message).toContain("2 seal blocks are enabled; only one may be");
  expect(c.pid(id)).toBe(pid);
  await c.applySeal({ stanzas: [] });
  await secretIntact();
});
