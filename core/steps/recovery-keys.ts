/**
 * Recovery keys held by operators, not by the state: a rotation of an auto-unsealed cluster's
 * recovery keys to new shares encrypted to the operators' PGP keys, and break-glass with
 * them (`generate-root`).
 *
 * Why a rotation: `vault-unlock` starts on Shamir, and its unseal keys must be plaintext until
 * its seal migration (the bootstrap submits them); the migration turns those same shares into
 * its recovery keys. Rotating them right after, to shares only the PGP keys' holders can
 * decrypt, leaves the plaintext ones in the state useless: that closes the window.
 *
 * A rotation cannot be undone, so it is made safe to repeat: one left half-way (the caller
 * stopped between the shares) is cancelled and started again (until it completes, the old
 * shares stay valid); one that completed but whose answer was lost is read back from the
 * server's backup of the encrypted shares (asked with `backup: true`), never rotated twice.
 */
import * as openpgp from "openpgp";
import { InputError, throwProblems, VaultApiError } from "../errors";
import { bodyOf, VaultClient } from "../vault-client";

/** Which API the server speaks: OpenBao's `sys/rotate/recovery/*` or Vault's `sys/rekey-recovery-key/*`. */
export type RecoveryApiFlavour = "openbao" | "vault";

/** The recovery key rotation paths of each flavour (the operator token's policy lists them). */
export const RECOVERY_PATHS: Record<RecoveryApiFlavour, { init: string; update: string; backup: string }> = {
  // OpenBao serves the unauthenticated sys/rekey-recovery-key/* only when a listener enables it.
  openbao: { init: "sys/rotate/recovery/init", update: "sys/rotate/recovery/update", backup: "sys/rotate/recovery/backup" },
  vault: { init: "sys/rekey-recovery-key/init", update: "sys/rekey-recovery-key/update", backup: "sys/rekey/recovery-key-backup" },
};

export interface RecoveryKeyRotationOptions {
  flavour: RecoveryApiFlavour;
  /** The recovery keys now (base64, plaintext): enough of them to reach the threshold. */
  currentKeys: string[];
  shares: number;
  threshold: number;
  /** Base64 PGP public keys (as `operator init -pgp-keys` takes them), one per share. */
  pgpKeys: string[];
}

export interface RotatedRecoveryKeys {
  /** The new shares, each base64 of a PGP message only its key's holder can decrypt. */
  keys: string[];
  /** Fingerprints of the PGP keys, in the order of `keys`. */
  pgpFingerprints: string[];
  /** True when the rotation had completed before and the keys were read back from the backup. */
  fromBackup: boolean;
}

interface RotationStatus {
  started: boolean;
  nonce?: string;
  complete?: boolean;
  keys_base64?: string[];
  pgp_fingerprints?: string[];
}

interface Backup {
  nonce: string;
  /** Encrypted shares by PGP fingerprint. */
  keys_base64?: Record<string, string[]>;
  keys?: Record<string, string[]>;
}

/** Every problem with the options, each naming its key. */
export function rotationProblems(o: RecoveryKeyRotationOptions): InputError[] {
  const p: InputError[] = [];
  if (!Number.isInteger(o.shares) || o.shares < 1) p.push(new InputError("shares", `must be a whole number ≥ 1, got ${o.shares}`));
  if (!Number.isInteger(o.threshold) || o.threshold < 1 || o.threshold > o.shares)
    p.push(new InputError("threshold", `must be between 1 and shares (${o.shares}), got ${o.threshold}`));
  if (o.pgpKeys.length !== o.shares)
    p.push(new InputError("pgpKeys", `needs one PGP key per share: ${o.shares} shares but ${o.pgpKeys.length} keys`));
  if (o.currentKeys.length === 0) p.push(new InputError("currentKeys", "is empty: the rotation needs the recovery keys it replaces"));
  return p;
}

/**
 * The fingerprint of a base64 PGP public key as the server reports it (lowercase hex), or an
 * InputError naming `pgpKeys[i]` when it is not one.
 */
export async function pgpFingerprint(base64Key: string, i = 0): Promise<string> {
  try {
    const key = await openpgp.readKey({ binaryKey: Buffer.from(base64Key, "base64") });
    return key.getFingerprint();
  } catch (e) {
    throw new InputError(
      `pgpKeys[${i}]`,
      `is not a PGP public key (${(e as Error).message}): give each as base64 of the binary key, e.g. gpg --export <id> | base64 -w0`,
    );
  }
}

/** The encrypted shares of the last completed rotation asked with `backup`, or undefined when there is none. */
async function readBackup(admin: VaultClient, path: string): Promise<Backup | undefined> {
  try {
    const res = await admin.read<{ data?: Backup } & Partial<Backup>>(path);
    const b = bodyOf(res.body as Backup & { data?: Backup });
    return b.keys_base64 || b.keys ? b : undefined;
  } catch (e) {
    // 400 "no backed-up keys found" (OpenBao, Vault) or 404: none.
    if (e instanceof VaultApiError && (e.status === 404 || e.status === 400)) return undefined;
    throw e;
  }
}

/**
 * The shares of a backup in the order of `fingerprints`, when it holds exactly one share for
 * each of them (the rotation asked for these keys); undefined otherwise.
 */
function backupShares(b: Backup, fingerprints: string[]): string[] | undefined {
  const byKey = b.keys_base64 ?? b.keys ?? {};
  const found = Object.keys(byKey);
  if (found.length !== fingerprints.length || !fingerprints.every((f) => byKey[f]?.length === 1)) return undefined;
  return fingerprints.map((f) => byKey[f][0]);
}

/**
 * Rotates the recovery keys of `admin`'s cluster (a token with sudo on the rotation paths) to
 * `shares` new shares encrypted to `pgpKeys`. When the server's backup shows that the last
 * rotation already went to exactly these PGP keys (a run whose answer was lost, or a re-run),
 * its shares are returned and nothing is rotated again.
 */
export async function rotateRecoveryKeys(admin: VaultClient, o: RecoveryKeyRotationOptions): Promise<RotatedRecoveryKeys> {
  throwProblems(rotationProblems(o));
  const fingerprints = await Promise.all(o.pgpKeys.map((k, i) => pgpFingerprint(k, i)));
  const paths = RECOVERY_PATHS[o.flavour];

  const b = await readBackup(admin, paths.backup);
  const kept = b && backupShares(b, fingerprints);
  if (kept) return { keys: kept, pgpFingerprints: fingerprints, fromBackup: true };

  const now = bodyOf((await admin.read<RotationStatus & { data?: RotationStatus }>(paths.init)).body);
  // A rotation left half-way: until it completes the current shares stay valid, so start over.
  if (now.started) await admin.request("DELETE", paths.init);

  const init = await admin.write<RotationStatus & { data?: RotationStatus }>(paths.init, {
    secret_shares: o.shares,
    secret_threshold: o.threshold,
    pgp_keys: o.pgpKeys,
    backup: true,
    require_verification: false,
  });
  const started = bodyOf(init.body);
  if (!started.nonce) throw new Error(`${admin.address}: ${paths.init} started no rotation (no nonce in its answer)`);
  for (const key of o.currentKeys) {
    const res = await admin.write<RotationStatus & { data?: RotationStatus }>(paths.update, { key, nonce: started.nonce });
    const r = bodyOf(res.body);
    if (r.complete) return { keys: r.keys_base64 ?? [], pgpFingerprints: r.pgp_fingerprints ?? [], fromBackup: false };
  }
  await admin.request("DELETE", paths.init).catch(() => undefined);
  throw new InputError(
    "currentKeys",
    `${o.currentKeys.length} recovery key(s) did not reach the threshold on ${admin.address}: give at least as many as the threshold`,
  );
}

export interface GenerateRootStatus {
  started: boolean;
  nonce?: string;
  otp?: string;
  otp_length?: number;
  progress?: number;
  required?: number;
  complete?: boolean;
  encoded_token?: string;
  encoded_root_token?: string;
}

/** Thrown when someone else's `generate-root` is under way: break-glass must not cancel it unasked. */
export class RootGenerationInProgressError extends Error {
  constructor(
    readonly server: string,
    path: string,
  ) {
    super(
      `${server}: a root token generation is already under way (someone else's, or an interrupted one): ` +
        `finish it, or cancel it (DELETE ${path}/attempt) and run again`,
    );
    this.name = "RootGenerationInProgressError";
  }
}

/**
 * Where root generation lives. Vault: `sys/generate-root/*`, unauthenticated (the keys are the
 * credential). OpenBao turned those off by default (anyone could cancel an attempt: its
 * CVE-2026-5807) and serves `sys/generate-root-token/*` to a token allowed there instead, so on
 * OpenBao break-glass takes an operator token with that policy as well as the keys (or, for a
 * listener that sets `disable_unauthed_generate_root_endpoints = false`, the old paths).
 */
export const GENERATE_ROOT: Record<RecoveryApiFlavour, string> = { openbao: "sys/generate-root-token", vault: "sys/generate-root" };

/**
 * The policy of an OpenBao break-glass token: root generation and nothing else. Useless
 * without recovery keys up to the threshold; with them, it is how operators get a root token
 * back on OpenBao (Vault needs no token there).
 */
export function breakGlassPolicy(flavour: RecoveryApiFlavour): string {
  return `# Root generation only: the recovery keys are what it takes.\npath "${GENERATE_ROOT[flavour]}/*" {\n  capabilities = ["read", "update", "delete", "sudo"]\n}\n`;
}

/**
 * Break-glass: a new root token from the recovery keys (auto-unsealed cluster) or unseal keys
 * (Shamir), with a one-time pad the server picks. For operators who have decrypted their
 * shares; revoke the token when done (`token revoke -self`).
 */
export async function generateRoot(client: VaultClient, flavour: RecoveryApiFlavour, keys: string[]): Promise<string> {
  if (keys.length === 0) throw new InputError("keys", "is empty: generate-root needs recovery (or unseal) keys up to the threshold");
  const base = GENERATE_ROOT[flavour];
  const now = bodyOf((await client.read<GenerateRootStatus & { data?: GenerateRootStatus }>(`${base}/attempt`)).body);
  if (now.started) throw new RootGenerationInProgressError(client.address, base);
  const attempt = bodyOf((await client.write<GenerateRootStatus & { data?: GenerateRootStatus }>(`${base}/attempt`, {})).body);
  if (!attempt.nonce || !attempt.otp) throw new Error(`${client.address}: ${base}/attempt gave no nonce or one-time pad`);
  // An attempt this call started and cannot finish (a refused key, too few keys) is cancelled: the operators' next try starts clean.
  const cancel = () => client.request("DELETE", `${base}/attempt`).catch(() => undefined);
  type Answer = GenerateRootStatus & { data?: GenerateRootStatus };
  for (const key of keys) {
    const res = await client.write<Answer>(`${base}/update`, { key, nonce: attempt.nonce }).catch(async (e: unknown) => {
      await cancel();
      throw e;
    });
    const r = bodyOf(res.body);
    const encoded = r.encoded_token || r.encoded_root_token;
    if (r.complete && encoded) return decodeRootToken(encoded, attempt.otp);
  }
  await cancel();
  throw new InputError(
    "keys",
    `${keys.length} key(s) did not reach the threshold on ${client.address}: give at least as many as the threshold`,
  );
}

/** The root token from generate-root's answer: base64 (no padding) of the token XOR the one-time pad. */
export function decodeRootToken(encoded: string, otp: string): string {
  const bytes = Buffer.from(encoded, "base64");
  if (bytes.length !== otp.length)
    throw new Error(`the encoded root token (${bytes.length} bytes) does not match the one-time pad (${otp.length})`);
  return Buffer.from(bytes.map((b, i) => b ^ otp.charCodeAt(i))).toString("utf8");
}
