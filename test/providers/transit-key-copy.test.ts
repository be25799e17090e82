/**
 * TransitKeyCopy through its provider object: the key is copied to a helper; after a
 * rotation on the unsealer `diff` (no refresh) and `read` see the drift, and the
 * update copies the new version. With the helper sealed, read falls back to the unsealer's
 * record of its last backup. A key that may not be backed up fails with the core's advice.
 */
import { LocalCluster } from "../../adapters/local/local-cluster";
import { provisionTransitLink, rotateTransitKey } from "../../core/steps/transit-link";
import { VaultClient } from "../../core/vault-client";
import { TransitKeyCopyInputs, TransitKeyCopyOutputs, transitKeyCopyProvider as provider } from "../../providers/transit-key-copy";
import { unsealCluster } from "../../core/steps/unseal";
import { shamirNode } from "../support/pair";
import { Lab, newLab } from "../support/servers";
import { checkNew, create, LocalAccess, read, State, update } from "./harness";

jest.setTimeout(120_000);

let lab: Lab;
let unsealerAdmin: VaultClient;
let helper: LocalCluster;
let helperAdmin: VaultClient;
let inputs: TransitKeyCopyInputs;
const access = new LocalAccess();

let helperKeys: string[];

beforeAll(async () => {
  lab = await newLab("prov-keycopy");
  const u = await shamirNode(lab, "copy-unsealer");
  unsealerAdmin = u.admin;
  await provisionTransitLink(unsealerAdmin, { mountPath: "transit", keyName: "autounseal", allowBackup: true });
  const h = await shamirNode(lab, "copy-helper");
  ({ cluster: helper, admin: helperAdmin, keys: helperKeys } = h);
  inputs = await checkNew(provider, {
    version: 1,
    unsealer: access.of(u.cluster),
    unsealerToken: u.admin.token!,
    helper: access.of(helper),
    helperToken: h.admin.token!,
    mountPath: "transit",
    keyName: "autounseal",
  });
});
afterAll(async () => {
  access.clear();
  await lab?.destroy();
});

const helperVersion = async () =>
  (await helperAdmin.read<{ data: { latest_version: number } }>("transit/keys/autounseal")).body.data.latest_version;

let state: State<TransitKeyCopyOutputs>;

test("create copies the key to the helper, in sync", async () => {
  state = await create(provider, inputs);
  expect(state.id).toBe("transit-key-copy:local/copy-unsealer->local/copy-helper:transit/autounseal");
  expect(state.outs).toMatchObject({ keyVersion: 1, latestVersion: 1, helperVersion: 1, inSync: true });
  expect(await helperVersion()).toBe(1);
  // The copy is the same key: what the unsealer encrypts, the helper decrypts.
  const ct = (
    await unsealerAdmin.write<{ data: { ciphertext: string } }>("transit/encrypt/autounseal", {
      plaintext: Buffer.from("barrier").toString("base64"),
    })
  ).body.data.ciphertext;
  const pt = (await helperAdmin.write<{ data: { plaintext: string } }>("transit/decrypt/autounseal", { ciphertext: ct })).body.data
    .plaintext;
  expect(Buffer.from(pt, "base64").toString()).toBe("barrier");
});

test("after a rotation diff asks for an update with no refresh; read reports the drift; the update copies the new version", async () => {
  expect(await provider.diff!(state.id, state.outs, inputs)).toEqual({ changes: false, replaces: [] });
  await rotateTransitKey(unsealerAdmin, "transit", "autounseal");
  // The state still says "in sync": diff looks at the servers itself (a plain `pulumi up` sees the drift).
  expect(await provider.diff!(state.id, state.outs, inputs)).toEqual({ changes: true, replaces: [] });

  const found = await read(provider, state);
  expect(found.outs).toMatchObject({ latestVersion: 2, helperVersion: 1, inSync: false });
  expect(found.outs.verdict).toMatch(/^DRIFT: the helper .* holds version 1 but the unsealer's key transit\/autounseal is at version 2/);
  expect(await provider.diff!(state.id, found.outs, inputs)).toEqual({ changes: true, replaces: [] });

  const updated = await update(provider, found, inputs);
  expect(updated.outs).toMatchObject({ keyVersion: 2, latestVersion: 2, helperVersion: 2, inSync: true });
  expect(await helperVersion()).toBe(2);
  state = updated;
});

test("with the helper sealed, read judges by the unsealer's last backup", async () => {
  await helperAdmin.request("PUT", "sys/seal");
  const inSync = await read(provider, state);
  expect(inSync.outs).toMatchObject({ latestVersion: 2, backedUpVersion: 2, inSync: true });
  expect(inSync.outs.helperVersion).toBeUndefined();

  await rotateTransitKey(unsealerAdmin, "transit", "autounseal");
  const behind = await read(provider, state);
  expect(behind.outs).toMatchObject({ latestVersion: 3, backedUpVersion: 2, inSync: false });
  expect(behind.outs.verdict).toContain("the last backup was of version 2");

  await unsealCluster(helper, helperKeys);
  const updated = await update(provider, behind, inputs);
  expect(updated.outs).toMatchObject({ keyVersion: 3, inSync: true });
});

test("a key that may not be backed up fails with the core's advice; delete keeps the helper's copy", async () => {
  await provisionTransitLink(unsealerAdmin, { mountPath: "transit", keyName: "no-backup" });
  await expect(provider.create({ ...inputs, keyName: "no-backup" })).rejects.toThrow("provision the transit link with allowBackup");

  await provider.delete!(state.id, state.outs);
  expect(await helperVersion()).toBe(3);
});
