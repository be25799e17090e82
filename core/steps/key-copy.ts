/**
 * The helper's copy of a transit key and the check that it is current. The copy is what
 * breaks a deadlock; a stale copy breaks it silently after the sealed cluster's next
 * leader change (it re-wraps to the newest key version then), hence the drift check.
 */
import { InputError, TimeoutError } from "../errors";
import { NodeControl } from "../nodes";
import { VaultClient } from "../vault-client";
import { activeClient } from "./node-state";
import { ensureTransitMount, normMount, readTransitKey } from "./transit-link";

export interface KeyRef {
  mountPath: string;
  keyName: string;
}

/** An unsealed helper node, waiting as for any node; says plainly that the helper must be unsealed (by hand: it is Shamir by design). */
export async function unsealedHelper(helper: NodeControl, token: string): Promise<VaultClient> {
  try {
    return await activeClient(helper, token);
  } catch (e) {
    if (!(e instanceof TimeoutError)) throw e;
    throw new Error(
      `the helper ${helper.name} has no unsealed node: unseal it by hand (it is Shamir by design) so that it can receive the key copy. ${e.message}`,
      { cause: e },
    );
  }
}

/** Takes a plaintext backup of the key (secret: it is the key). Needs exportable + allow_plaintext_backup. */
export async function backupTransitKey(unsealer: VaultClient, ref: KeyRef): Promise<{ backup: string; version: number }> {
  const mount = normMount(ref.mountPath);
  const key = await readTransitKey(unsealer, mount, ref.keyName);
  if (!key) throw new InputError("keyName", `${unsealer.address} has no transit key ${mount}/${ref.keyName}`);
  if (!key.exportable || !key.allow_plaintext_backup) {
    throw new InputError(
      "allowBackup",
      `${mount}/${ref.keyName} on ${unsealer.address} cannot be backed up: provision the transit link with allowBackup (sets exportable and allow_plaintext_backup)`,
    );
  }
  const res = await unsealer.read<{ data: { backup: string } }>(`${mount}/backup/${ref.keyName}`);
  return { backup: res.body.data.backup, version: key.latest_version };
}

type BackupPolicy = { latest_version?: unknown; keys?: Record<string, { creation_time?: unknown }> };

/** The policy inside a backup (base64 of the transit engine's JSON `{ policy, archived_keys }`), if it has that shape. */
function backupPolicy(backup: string): BackupPolicy | undefined {
  try {
    const p = (JSON.parse(Buffer.from(backup, "base64").toString("utf8")) as { policy?: unknown }).policy;
    return typeof p === "object" && p !== null ? (p as BackupPolicy) : undefined;
  } catch {
    return undefined;
  }
}

/** The newest key version a backup holds; undefined when it is not in the expected shape (the server then judges it). */
export function backupVersion(backup: string): number | undefined {
  const v = backupPolicy(backup)?.latest_version;
  return typeof v === "number" && Number.isInteger(v) && v > 0 ? v : undefined;
}

/** Creation time (unix seconds) of each version a backup holds. */
export function backupKeyTimes(backup: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [v, k] of Object.entries(backupPolicy(backup)?.keys ?? {})) if (typeof k?.creation_time === "number") out[v] = k.creation_time;
  return out;
}

/**
 * The first version whose creation times differ between two views of a key (a key read's
 * `keys`, a backup's times): a copy keeps them, so a difference means another key, e.g. the
 * key of a rebuilt unsealer. Undefined when the versions both hold agree (or none is shared).
 */
export function differentKeyVersion(a: Record<string, unknown>, b: Record<string, unknown>): string | undefined {
  return Object.keys(b).find((v) => typeof a[v] === "number" && typeof b[v] === "number" && a[v] !== b[v]);
}

/**
 * Restores a backup on the helper under the same mount and name, replacing an older copy.
 * Refuses a backup older than the copy already there: `force` would replace the copy and
 * lose the newer versions, which the sealed cluster may already wrap its root key with.
 */
export async function restoreTransitKey(helper: VaultClient, ref: KeyRef, backup: string): Promise<number> {
  const mount = normMount(ref.mountPath);
  await ensureTransitMount(helper, mount);
  const current = await readTransitKey(helper, mount, ref.keyName);
  const other = current && differentKeyVersion(current.keys, backupKeyTimes(backup));
  if (other) {
    throw new InputError(
      "backup",
      `${helper.address} holds another key at ${mount}/${ref.keyName} than the backup's (version ${other} created at ${current.keys[other]} there, ` +
        `${backupKeyTimes(backup)[other]} in the backup): was the unsealer rebuilt? Restoring would replace the helper's copy for good, so it is refused. ` +
        `If that key is no longer needed, delete it on the helper (write ${mount}/keys/${ref.keyName}/config deletion_allowed=true, then delete ${mount}/keys/${ref.keyName}) and run again.`,
    );
  }
  const held = current?.latest_version;
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
  if (restored !== version)
    throw new Error(
      `restored ${ref.keyName} on ${helper.address} is at version ${restored}, the unsealer's at ${version}: run the copy again`,
    );
  return { version };
}

export interface CopyVerdict {
  inSync: boolean;
  /** Plain words: what is behind and what to do. */
  verdict: string;
}

export interface CopyView {
  ref: KeyRef;
  /** Who holds the copy, as the verdict names it: "the helper", "the helper https://…", "the last backup". */
  holder: string;
  /** Newest version the copy holds (0: none). */
  copyVersion: number;
  /** Newest version of the key on the unsealer. */
  latestVersion: number;
  /** A version whose creation time differs between copy and key (differentKeyVersion): the copy is of another key. */
  otherKeyVersion?: string;
  /** What to run when the copy is behind, e.g. "Copy the key again (copyTransitKey)". */
  remedy: string;
}

/**
 * The verdict on a copy of the transit key, in the same words for every caller (the lab's
 * drift check, TransitKeyRestore): another key, behind (DRIFT), or in sync. A copy behind
 * the key's latest version breaks the deadlock path silently: after the sealed cluster's
 * next leader change its root key is wrapped with a version the copy does not hold.
 */
export function copyVerdict(v: CopyView): CopyVerdict {
  const where = `${normMount(v.ref.mountPath)}/${v.ref.keyName}`;
  if (v.otherKeyVersion !== undefined) {
    return {
      inSync: false,
      verdict:
        `ANOTHER KEY: ${v.holder} holds a ${where} that is not a copy of the unsealer's key (version ${v.otherKeyVersion} was created at another time); ` +
        `copying or restoring over it is refused until it is removed there.`,
    };
  }
  if (v.copyVersion >= v.latestVersion)
    return {
      inSync: true,
      verdict: `in sync: ${v.holder} holds version ${v.copyVersion} of ${where}, the unsealer's latest is ${v.latestVersion}`,
    };
  return {
    inSync: false,
    verdict:
      `DRIFT: ${v.holder} holds version ${v.copyVersion} of ${where} but the unsealer's key is at version ${v.latestVersion}; ` +
      `the deadlock path breaks at the sealed cluster's next leader change. ${v.remedy}`,
  };
}

/**
 * The helper's copy judged against a backup of the unsealer's key and the key's latest
 * version, which is all a helper-side caller knows without access to the unsealer (the
 * TransitKeyRestore resource): another key when the versions both hold were created at other
 * times, behind, or in sync.
 */
export async function checkCopyAgainstBackup(
  helper: VaultClient,
  ref: KeyRef,
  backup: string,
  latestVersion: number,
  remedy: string,
): Promise<CopyVerdict & { helperVersion: number }> {
  const copy = await readTransitKey(helper, normMount(ref.mountPath), ref.keyName);
  const helperVersion = copy?.latest_version ?? 0;
  const otherKeyVersion = copy ? differentKeyVersion(copy.keys, backupKeyTimes(backup)) : undefined;
  return {
    helperVersion,
    ...copyVerdict({ ref, holder: "the helper", copyVersion: helperVersion, latestVersion, otherKeyVersion, remedy }),
  };
}

export interface KeyDrift extends CopyVerdict {
  /** Newest key version on the unsealer: what the sealed cluster wraps with after its next leader change. */
  latestVersion: number;
  /** Version of the unsealer's last backup (0 when never backed up). */
  backedUpVersion: number;
  /** Newest version on the helper, when the helper could be asked. */
  helperVersion?: number;
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
  let otherKeyVersion: string | undefined;
  if (helper) {
    const copy = await readTransitKey(helper, mount, ref.keyName);
    helperVersion = copy?.latest_version ?? 0;
    otherKeyVersion = copy ? differentKeyVersion(copy.keys, key.keys) : undefined;
  }
  const verdict = copyVerdict({
    ref,
    holder: helper ? `the helper ${helper.address}` : "the last backup",
    copyVersion: helperVersion ?? backedUpVersion,
    latestVersion,
    otherKeyVersion,
    remedy: "Copy the key again (copyTransitKey / pulumi up on the helper stack).",
  });
  return { latestVersion, backedUpVersion, helperVersion, ...verdict };
}
