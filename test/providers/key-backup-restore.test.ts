/**
 * TransitKeyBackup (primary stack, on the unsealer) and TransitKeyRestore (helper stack)
 * through their provider objects on real servers: the backup restored on a helper decrypts
 * what the unsealer encrypted; after a rotation both diffs see it with no refresh, the
 * backup's update takes a new backup and the restore's update restores it; a backup older
 * than the helper's copy is refused (it would lose versions); a copy that stays behind the
 * key's latest version fails the run loudly; delete keeps the key and the copy; another key
 * under the same name on the helper is refused, not overwritten.
 */
import { backupVersion, checkKeyDrift } from "../../core/steps/key-copy";
import { activeClient } from "../../core/steps/node-state";
import { provisionTransitLink, rotateTransitKey } from "../../core/steps/transit-link";
import { VaultClient } from "../../core/vault-client";
import { sleep } from "../../core/wait";
import { TransitKeyBackupInputs, TransitKeyBackupOutputs, transitKeyBackupProvider as backups } from "../../providers/transit-key-backup";
import {
  TransitKeyRestoreInputs,
  TransitKeyRestoreOutputs,
  transitKeyRestoreProvider as restores,
} from "../../providers/transit-key-restore";
import { shamirNode } from "../support/pair";
import { Lab, newLab } from "../support/servers";
import { checkNew, create, LocalAccess, read, State, update } from "./harness";

jest.setTimeout(120_000);

let lab: Lab;
let unsealerAdmin: VaultClient;
let helperAdmin: VaultClient;
let backupInputs: TransitKeyBackupInputs;
let restoreInputs: TransitKeyRestoreInputs;
const access = new LocalAccess();

beforeAll(async () => {
  lab = await newLab("prov-backup");
  const u = await shamirNode(lab, "backup-unsealer");
  // Unsealed is not yet active: a single Raft node takes a moment (longer under load) to lead.
  unsealerAdmin = await activeClient(u.cluster, u.rootToken);
  await provisionTransitLink(unsealerAdmin, { mountPath: "transit", keyName: "autounseal", allowBackup: true });
  const h = await shamirNode(lab, "backup-helper");
  helperAdmin = await activeClient(h.cluster, h.rootToken);
  backupInputs = await checkNew(backups, {
    version: 1,
    nodes: access.of(u.cluster),
    token: u.admin.token!,
    mountPath: "transit",
    keyName: "autounseal",
  });
  restoreInputs = {
    version: 1,
    nodes: access.of(h.cluster),
    token: h.admin.token!,
    mountPath: "transit",
    keyName: "autounseal",
    backup: "",
    latestVersion: 1,
  };
});
afterAll(async () => {
  access.clear();
  await lab?.destroy();
});

const helperVersion = async () =>
  (await helperAdmin.read<{ data: { latest_version: number } }>("transit/keys/autounseal")).body.data.latest_version;

let backup: State<TransitKeyBackupOutputs>;
let restore: State<TransitKeyRestoreOutputs>;
let firstBackup: string;

test("the backup restored on the helper is the key: it decrypts what the unsealer encrypted", async () => {
  backup = await create(backups, backupInputs);
  expect(backup.outs).toMatchObject({ keyVersion: 1, latestVersion: 1 });
  expect(backupVersion(backup.outs.backup)).toBe(1);
  firstBackup = backup.outs.backup;

  restoreInputs = await checkNew(restores, { ...restoreInputs, backup: backup.outs.backup, latestVersion: backup.outs.latestVersion });
  restore = await create(restores, restoreInputs);
  expect(restore.outs).toMatchObject({ helperVersion: 1, inSync: true });
  expect(restore.outs.verdict).toMatch(/^in sync/);

  const ct = (
    await unsealerAdmin.write<{ data: { ciphertext: string } }>("transit/encrypt/autounseal", {
      plaintext: Buffer.from("root key").toString("base64"),
    })
  ).body.data.ciphertext;
  const pt = (await helperAdmin.write<{ data: { plaintext: string } }>("transit/decrypt/autounseal", { ciphertext: ct })).body.data
    .plaintext;
  expect(Buffer.from(pt, "base64").toString()).toBe("root key");

  expect(await backups.diff!(backup.id, backup.outs, backupInputs)).toEqual({ changes: false, replaces: [] });
  expect(await restores.diff!(restore.id, restore.outs, restoreInputs)).toEqual({ changes: false, replaces: [] });
});

test("after a rotation both diffs see it with no refresh; the updates carry the new version to the helper", async () => {
  await rotateTransitKey(unsealerAdmin, "transit", "autounseal");
  expect(await backups.diff!(backup.id, backup.outs, backupInputs)).toEqual({ changes: true, replaces: [] });
  backup = await update(backups, backup, backupInputs);
  expect(backup.outs).toMatchObject({ keyVersion: 2, latestVersion: 2 });

  const news = await checkNew(restores, { ...restoreInputs, backup: backup.outs.backup, latestVersion: backup.outs.latestVersion });
  expect((await restores.diff!(restore.id, restore.outs, news)).changes).toBe(true);
  restore = await update(restores, restore, news);
  expect(restore.outs).toMatchObject({ helperVersion: 2, inSync: true });
  expect(await helperVersion()).toBe(2);
  restoreInputs = news;
});

test("an older backup is refused: restoring it would lose the helper's newer versions", async () => {
  await expect(update(restores, restore, { ...restoreInputs, backup: firstBackup })).rejects.toThrow(
    /holds version 1 but .* already has version 2: restoring it would lose the newer versions/,
  );
  expect(await helperVersion()).toBe(2);
});

test("a copy still behind the key's latest version fails the run loudly, naming what to run", async () => {
  // The primary saw version 3 but handed out a backup of version 2 (e.g. a rotation between the two).
  const behind = { ...restoreInputs, latestVersion: 3 };
  await expect(update(restores, restore, behind)).rejects.toThrow(
    /DRIFT: the helper holds version 2 of transit\/autounseal but the unsealer's key is at version 3.*`pulumi up` on the primary stack/,
  );
});

test("a copy lost on the helper is seen by diff and restored by the update; delete keeps key and copy", async () => {
  await helperAdmin.request("DELETE", "sys/mounts/transit");
  expect((await restores.diff!(restore.id, restore.outs, restoreInputs)).changes).toBe(true);
  restore = await update(restores, restore, restoreInputs);
  expect(await helperVersion()).toBe(2);

  await restores.delete!(restore.id, restore.outs);
  await backups.delete!(backup.id, backup.outs);
  expect(await helperVersion()).toBe(2);
  expect((await unsealerAdmin.read<{ data: { latest_version: number } }>("transit/keys/autounseal")).body.data.latest_version).toBe(2);
});

test("another key under the same name on the helper (a rebuilt unsealer) is seen by diff, refused by the update, and kept", async () => {
  await helperAdmin.write("transit/keys/autounseal/config", { deletion_allowed: true });
  await helperAdmin.request("DELETE", "transit/keys/autounseal");
  await sleep(1100); // another creation second than the unsealer's key
  await helperAdmin.write("transit/keys/autounseal", {});
  expect((await restores.diff!(restore.id, restore.outs, restoreInputs)).changes).toBe(true);
  // read records it in the core's words (copyVerdict), the same the lab's drift check uses.
  const seen = await read(restores, restore);
  expect(seen.outs).toMatchObject({ inSync: false, helperVersion: 1 });
  expect(seen.outs.verdict).toMatch(/^ANOTHER KEY: the helper holds a transit\/autounseal that is not a copy of the unsealer's key/);
  await expect(update(restores, restore, restoreInputs)).rejects.toThrow(
    /holds another key at transit\/autounseal than the backup's .* was the unsealer rebuilt\? .* refused/,
  );
  expect(await helperVersion()).toBe(1);
  // The core's drift check (the lab's) tells it apart too, by the versions' creation times.
  const drift = await checkKeyDrift(unsealerAdmin, { mountPath: "transit", keyName: "autounseal" }, helperAdmin);
  expect(drift.inSync).toBe(false);
  expect(drift.verdict).toMatch(/^ANOTHER KEY: .* is not a copy of the unsealer's key/);
});
