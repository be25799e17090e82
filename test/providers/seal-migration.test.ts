/**
 * SealMigration through its provider object: a live 3-node Shamir cluster holding a secret
 * is migrated to transit by create; every node restarted afterwards auto-unseals. A re-run
 * changes nothing. A new transit token (the link's token rotated) is a re-pointing, not a
 * migration: the update rolls the nodes onto it, and they keep auto-unsealing once the old
 * token is revoked. Unseal then has nothing left to do on the cluster.
 */
import { LocalCluster } from "../../adapters/local/local-cluster";
import { TransitSeal } from "../../core/render/seal";
import { provisionTransitLink } from "../../core/steps/transit-link";
import { waitClusterUnsealed } from "../../core/steps/unseal";
import { SealMigrationInputs, SealMigrationOutputs, sealMigrationProvider as provider } from "../../providers/seal-migration";
import { unsealProvider } from "../../providers/unseal";
import { Lab, newLab } from "../support/servers";
import { sealTowards, ShamirCluster, shamirClusterWithSecret, Unsealer, unsealer } from "../support/pair";
import { checkNew, create, LocalAccess, State, update } from "./harness";

jest.setTimeout(300_000);

let lab: Lab;
let u: Unsealer;
let sc: ShamirCluster;
let c: LocalCluster;
let inputs: SealMigrationInputs;
const access = new LocalAccess();

beforeAll(async () => {
  lab = await newLab("prov-migration");
  u = await unsealer(lab, "migration-unsealer");
  sc = await shamirClusterWithSecret(lab, "migrating");
  c = sc.cluster;
  const to: TransitSeal = sealTowards(lab, u, c);
  inputs = {
    version: 1,
    nodes: access.of(c),
    from: { type: "shamir" },
    to,
    toToken: u.link.token,
    keys: sc.keys,
    adminToken: sc.root,
    flavour: lab.flavour,
  };
});
afterAll(async () => {
  access.clear();
  await lab?.destroy();
});

const sealTypes = () => Promise.all(c.nodeIds().map(async (id) => (await c.client(id).sealStatus()).type));

async function restartAllAndWait(): Promise<void> {
  await c.stopAll();
  await c.startAll();
  await waitClusterUnsealed(c, { timeoutMs: 60_000 });
}

let state: State<SealMigrationOutputs>;

test("create migrates Shamir → transit; every node restarted afterwards auto-unseals", async () => {
  state = await create(provider, await checkNew(provider, inputs));
  expect(state.id).toBe("seal-migration:local/migrating");
  expect(state.outs).toMatchObject({ sealType: "transit", changed: true });
  await sc.secretIntact();

  await restartAllAndWait();
  expect(await sealTypes()).toEqual(["transit", "transit", "transit"]);
  const status = await c.client(c.nodeIds()[0]).sealStatus();
  expect({ recovery: status.recovery_seal, migration: status.migration }).toEqual({ recovery: true, migration: false });
  await sc.secretIntact();
});

test("a re-run with the same inputs changes nothing", async () => {
  expect(await provider.diff!(state.id, state.outs, inputs)).toEqual({ changes: false, replaces: [] });
  const again = await update(provider, state, inputs);
  expect(again.outs).toMatchObject({ sealType: "transit", changed: false });
});

test("a new token for the same key rolls the nodes onto it; with the old token revoked they still auto-unseal", async () => {
  const admin = u.cluster.client(u.cluster.nodeIds()[0], u.rootToken);
  const rotated = await provisionTransitLink(admin, { mountPath: "transit", keyName: u.link.keyName, displayName: "seal-rotated" });
  expect(rotated.tokenCreated).toBe(true);
  const news = { ...inputs, toToken: rotated.token };
  expect((await provider.diff!(state.id, state.outs, news)).changes).toBe(true);

  const updated = await update(provider, state, news);
  expect(updated.outs).toMatchObject({ sealType: "transit", changed: true });
  expect((await c.appliedSeal()).transitToken).toBe(rotated.token);
  await sc.secretIntact();

  await admin.write("auth/token/revoke-accessor", { accessor: u.link.accessor });
  await restartAllAndWait();
  expect(await sealTypes()).toEqual(["transit", "transit", "transit"]);
  await sc.secretIntact();
});

test("Unseal has nothing to do on the auto-sealed cluster and leaves it alone", async () => {
  const nodes = inputs.nodes;
  const done = await create(unsealProvider, { version: 1, nodes, keys: sc.keys });
  expect(done.outs).toMatchObject({ sealType: "transit", sealedNodes: [], unsealedNodes: c.nodeIds() });
});
