/**
 * The helper's copy of a transit key and the check that it is current. The copy is what
 * breaks a deadlock; a stale copy breaks it silently after the sealed cluster's next
 * leader change (it re-wraps to the newest key version then), hence the drift check.
 */
import { InputError } from "../errors";
import { VaultClient } from "../vault-client";
import { ensureTransitMount, normMount, readTransitKey } from "./transit-link";

export interface KeyRef {
  mountPath: string;
  keyName: string;
}

/** Takes a plaintext backup of the key (secret: it is the key). Needs exportable + allow_plaintext_backup. */
export async function backupTransitKey(unsealer: VaultClient, ref: KeyRef): Promise<{ backup: string; version: number }> {
  const mount = normMount(ref.mountPath);
  const key = await readTransitKey(unsealer, mount, ref.keyName);
  if (!key) throw new InputError("keyName", `${unsealer.address} has no transit key ${mount}/${ref.keyName}`);
  if (!key.exportable || !key.allow_plaintext_backup) {
    throw new InputError("allowBackup", `${mount}/${ref.keyName} on ${unsealer.address} cannot be backed up: provision the transit link with allowBackup (sets exportable and allow_plaintext_backup)`);
  }
  const res = await unsealer.read<{ data: { backup: string } }>(`${mount}/backup/${ref.keyName}`);
  return { backup: res.body.data.backup, version: key.latest_version };
}

/**
 * The newest key version a backup holds, read from the backup itself (base64 of the transit
 * engine's JSON `{ policy: { latest_version, ... }, archived_keys }`); undefined when it is
 * not in that shape (the server then judges the backup when it is restored).
 */
export function backupVersion(backup: string): number | undefined {
  try {
    const v = (JSON.parse(Buffer.from(backup, "base64").toString("utf8")) as { policy?: { latest_version?: unknown } }).policy?.latest_version;
    return typeof v === "number" && Number.isInteger(v) && v > 0 ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Restores a backup on the helper under the same mount and name, replacing an older copy.
 * Refuses a backup older than the copy already there: `force` would replace the copy and
 * lose the newer versions, which the sealed cluster may already wrap its root key with.
 */
export async function restoreTransitKey(helper: VaultClient, ref: KeyRef, backup: string): Promise<number> {
  const mount = normMount(ref.mountPath);
  await ensureTransitMount(helper, mount);
  const held = (await readTransitKey(helper, mount, ref.keyName))?.latest_version;
  const offered = backupVersion(backup);
  if (held !== undefined && offered !== undefined && offered < held) {
    throw new InputError(
      "backup",
      `the backup of ${mount}/${ref.keyName} holds version ${offered} but ${helper.address} already has version ${held}: restoring it would lose the newer versions. ` +
        `Take a fresh backup on the unsealer (\`pulumi up\` on the primary stack) and restore that.`,
    );
  }
  await helper.write(`${mount}/restore/${ref.keyName}`, { backup, force: true });
  return (await readTransitKey(helper, mount, ref.keyName))!.latest_version;
}

/** Backup on the unsealer, restore on the helper. Idempotent; returns the version now on both. */
export async function copyTransitKey(unsealer: VaultClient, helper: VaultClient, ref: KeyRef): Promise<{ version: number }> {
  const { backup, version } = await backupTransitKey(unsealer, ref);
  const restored = await restoreTransitKey(helper, ref, backup);
  if (restored !== version) throw new Error(`restored ${ref.keyName} on ${helper.address} is at version ${restored}, the unsealer's at ${version}: run the copy again`);
  return { version };
}

export interface KeyDrift {
  /** Newest key version on the unsealer: what the sealed cluster wraps with after its next leader change. */
  latestVersion: number;
  /** Version of the unsealer's last backup (0 when never backed up). */
  backedUpVersion: number;
  /** Newest version on the helper, when the helper could be asked. */
  helperVersion?: number;
  inSync: boolean;
  /** Plain words: what is behind and what to do. */
  verdict: string;
}

/**
 * Compares the helper's copy with the unsealer's key. Without a helper client (e.g. it is
 * sealed by design), the unsealer's own backup_info tells whether the last copy is current.
 */
export async function checkKeyDrift(unsealer: VaultClient, ref: KeyRef, helper?: VaultClient): Promise<KeyDrift> {
  const mount = normMount(ref.mountPath);
  const key = await readTransitKey(unsealer, mount, ref.keyName);
  if (!key) throw new InputError("keyName", `${unsealer.address} has no transit key ${mount}/${ref.keyName}`);
  const latestVersion = key.latest_version;
  const backedUpVersion = key.backup_info?.version ?? 0;
  let helperVersion: number | undefined;
  if (helper) helperVersion = (await readTransitKey(helper, mount, ref.keyName))?.latest_version ?? 0;
  const copyVersion = helperVersion ?? backedUpVersion;
  const inSync = copyVersion >= latestVersion;
  const where = helper ? `the helper ${helper.address} holds version ${helperVersion}` : `the last backup was of version ${backedUpVersion}`;
  return {
    latestVersion,
    backedUpVersion,
    helperVersion,
    inSync,
    verdict: inSync
      ? `in sync: ${where}, the unsealer's latest is ${latestVersion}`
      : `DRIFT: ${where} but the unsealer's key ${mount}/${ref.keyName} is at version ${latestVersion}; the deadlock path breaks at the sealed cluster's next leader change. Copy the key again (copyTransitKey / pulumi up on the helper stack).`,
  };
}
