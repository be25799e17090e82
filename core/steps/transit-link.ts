/**
 * The transit link: everything an unsealer needs so that another cluster can be sealed by
 * it. A transit mount, the key, a least-privilege policy and an orphan periodic token.
 * Orphan, so revoking the root token that made it does not kill it; periodic, so it never
 * reaches a max TTL (the article's 32-day failure) as long as the seal renews it.
 */
import { InputError, TokenGoneError, VaultApiError } from "../errors";
import { bodyOf, VaultClient } from "../vault-client";
import { tokenHealth, TokenHealth } from "./token-health";

export interface TransitLinkOptions {
  /** Mount path of the transit engine, e.g. "transit". */
  mountPath: string;
  keyName: string;
  /** Policy name; defaults to `<keyName>-seal`. */
  policyName?: string;
  /**
   * Let the key be copied to a helper (exportable + allow_plaintext_backup). Irreversible on
   * the server: asked only when a helper copy is wanted.
   */
  allowBackup?: boolean;
  /** Token period, e.g. "720h": how long the sealed cluster may be gone before its token dies. */
  tokenPeriod?: string;
  /** Shown in the token's metadata, e.g. "seal-of-vault". */
  displayName?: string;
  /** Create the key when missing (false on a helper, whose key is restored from a backup). */
  createKey?: boolean;
  /** A token from an earlier run: reused when it is still alive and right, so re-runs change nothing. */
  existing?: { token: string; accessor: string };
}

export interface TransitLink {
  mountPath: string;
  keyName: string;
  policyName: string;
  /** The seal token (secret). */
  token: string;
  accessor: string;
  health: TokenHealth;
  /** True when this call created the token (false: an existing one was kept). */
  tokenCreated: boolean;
  /**
   * The accessor of `existing` when it was still alive but not right (policy, period, not an
   * orphan) and this call issued a new token instead: nodes may still run on it, so it is not
   * revoked here (the step that moves them onto the new token does that).
   */
  superseded?: string;
}

export const normMount = (m: string) => m.replace(/^\/+|\/+$/g, "");

/** Why `name` cannot be a transit key name (one segment of `<mount>/keys/<name>`), or undefined when it can. */
export function keyNameProblem(name: string): string | undefined {
  return /^[A-Za-z0-9_.-]+$/.test(name) ? undefined : `"${name}" may only hold letters, digits, '.', '_' and '-'`;
}

/**
 * The least-privilege policy a seal token needs: encrypt and decrypt with one key. Not
 * decrypt only, even for the helper's emergency token: the transit seal encrypts a probe
 * value when the server starts, and a node that may not exits (test/real/emergency-decrypt-only.test.ts).
 */
export function sealPolicy(mountPath: string, keyName: string): string {
  const m = normMount(mountPath);
  return [
    `# Lets a transit seal wrap and unwrap its barrier keys with ${m}/${keyName}, nothing else.`,
    `path "${m}/encrypt/${keyName}" {\n  capabilities = ["update"]\n}`,
    `path "${m}/decrypt/${keyName}" {\n  capabilities = ["update"]\n}`,
    "",
  ].join("\n");
}

/**
 * The token role that mints a link's seal tokens: orphans with the seal policy and nothing
 * else, and the link's period. The period must be the role's: a token made from a role is
 * renewed with the role's period (OpenBao's token store, authRenew), so a role without one
 * would hand out tokens that die at the max TTL however often the seal renews them.
 */
export function sealTokenRole(grant: { policyName: string; tokenPeriod: string }): Record<string, unknown> {
  return {
    allowed_policies: [grant.policyName],
    orphan: true,
    renewable: true,
    token_type: "service",
    token_period: durationSeconds(grant.tokenPeriod),
  };
}

/** Writes the policy unless it reads back as `policy` already (a token that may only read it gets through when nothing changed). */
export async function ensurePolicy(admin: VaultClient, name: string, policy: string): Promise<void> {
  const now = await admin
    .read<{ data?: { policy?: string }; policy?: string }>(`sys/policies/acl/${name}`)
    .then((r) => r.body.data?.policy ?? r.body.policy)
    .catch((e: unknown) => {
      if (e instanceof VaultApiError && e.status === 404) return undefined;
      throw e;
    });
  if (now === policy) return;
  await admin.request("PUT", `sys/policies/acl/${name}`, { body: { policy } });
}

/** Writes the seal token role unless it already hands out exactly the seal policy, as orphans, with the link's period. */
export async function ensureSealTokenRole(admin: VaultClient, grant: { policyName: string; tokenPeriod: string }): Promise<void> {
  const want = sealTokenRole(grant);
  const now = await admin
    .read<{ data: Record<string, unknown> }>(`auth/token/roles/${grant.policyName}`)
    .then((r) => r.body.data)
    .catch((e: unknown) => {
      if (e instanceof VaultApiError && e.status === 404) return undefined;
      throw e;
    });
  const same =
    now !== undefined &&
    JSON.stringify(now.allowed_policies) === JSON.stringify(want.allowed_policies) &&
    now.orphan === true &&
    now.renewable === true &&
    now.token_period === want.token_period;
  if (!same) await admin.write(`auth/token/roles/${grant.policyName}`, want);
}

/** A seal token's period unless configured: a month of a sealed cluster being gone before its token dies. */
export const DEFAULT_TOKEN_PERIOD = "720h";

/** Parses "720h", "30m", "3600s" or "3600" into seconds. */
export function durationSeconds(d: string, key = "tokenPeriod"): number {
  const m = /^(\d+)(s|m|h)?$/.exec(d.trim());
  if (!m) throw new InputError(key, `"${d}" is not a duration: use e.g. 720h, 30m or 3600s`);
  return Number(m[1]) * ({ s: 1, m: 60, h: 3600 } as Record<string, number>)[m[2] ?? "s"];
}

/** Mounts transit at `mountPath` unless something is mounted there already (which must be transit). */
export async function ensureTransitMount(admin: VaultClient, mountPath: string): Promise<void> {
  const m = normMount(mountPath);
  const table = bodyOf((await admin.read<Record<string, { type?: string }>>("sys/mounts")).body);
  const existing = table[`${m}/`];
  if (existing) {
    if (existing.type !== "transit")
      throw new InputError(
        "mountPath",
        `${admin.address} already has a ${existing.type} engine at ${m}/: choose another mount path for transit`,
      );
    return;
  }
  await admin.write(`sys/mounts/${m}`, { type: "transit", description: "transit seal keys (vault-mutual-unseal)" });
}

/** Reads a transit key, or undefined when it does not exist. */
export async function readTransitKey(client: VaultClient, mountPath: string, keyName: string): Promise<TransitKeyInfo | undefined> {
  try {
    const res = await client.read<{ data: TransitKeyInfo }>(`${normMount(mountPath)}/keys/${keyName}`);
    return res.body.data;
  } catch (e) {
    if (e instanceof VaultApiError && e.status === 404) return undefined;
    throw e;
  }
}

export interface TransitKeyInfo {
  latest_version: number;
  min_decryption_version: number;
  exportable: boolean;
  allow_plaintext_backup: boolean;
  deletion_allowed: boolean;
  type: string;
  keys: Record<string, unknown>;
  backup_info?: { time: string; version: number };
}

/**
 * Makes `admin`'s server ready to seal another cluster and returns the seal token.
 * Idempotent: every piece is checked before it is created; a live `existing` token with the
 * right policy is kept.
 */
export async function provisionTransitLink(admin: VaultClient, o: TransitLinkOptions): Promise<TransitLink> {
  if (!admin.token)
    throw new InputError("token", `provisioning a transit link on ${admin.address} needs the unsealer's operator (or root) token`);
  const mount = normMount(o.mountPath);
  if (!mount) throw new InputError("mountPath", "is empty");
  const badName = keyNameProblem(o.keyName);
  if (badName) throw new InputError("keyName", badName);
  const policyName = o.policyName ?? `${o.keyName}-seal`;
  const period = o.tokenPeriod ?? DEFAULT_TOKEN_PERIOD;
  const periodSeconds = durationSeconds(period);
  if (periodSeconds <= 0)
    throw new InputError(
      "tokenPeriod",
      `"${period}" is not a period: a token without one dies at its max TTL (the article's 32 days); use e.g. 720h`,
    );

  await ensureTransitMount(admin, mount);

  const key = await readTransitKey(admin, mount, o.keyName);
  if (!key) {
    if (o.createKey === false)
      throw new InputError(
        "keyName",
        `${admin.address} has no transit key ${mount}/${o.keyName}: restore it from the unsealer's backup first`,
      );
    await admin.write(`${mount}/keys/${o.keyName}`, {
      type: "aes256-gcm96",
      exportable: o.allowBackup ?? false,
      allow_plaintext_backup: o.allowBackup ?? false,
    });
  } else if (o.allowBackup && (!key.exportable || !key.allow_plaintext_backup)) {
    // Both flags are one-way switches on the server; asked for only when a helper copy is wanted.
    await admin.write(`${mount}/keys/${o.keyName}/config`, { exportable: true, allow_plaintext_backup: true });
  }

  // Written only when missing or different: the operator token may read them, never write them
  // (operator-token.ts writes them with the root token before revoking it).
  await ensurePolicy(admin, policyName, sealPolicy(mount, o.keyName));
  await ensureSealTokenRole(admin, { policyName, tokenPeriod: period });

  let existingHealth: TokenHealth | undefined;
  if (o.existing) {
    // A token gone (expired, revoked) is replaced below; any other failure is the caller's to see.
    existingHealth = await tokenHealth(admin, o.existing.accessor).catch((e: unknown) => {
      if (e instanceof TokenGoneError && e.gone === "accessor") return undefined;
      throw e;
    });
    const h = existingHealth;
    if (h && h.policies.includes(policyName) && h.orphan && h.periodSeconds === periodSeconds) {
      return {
        mountPath: mount,
        keyName: o.keyName,
        policyName,
        token: o.existing.token,
        accessor: o.existing.accessor,
        health: h,
        tokenCreated: false,
      };
    }
  }

  // Through the link's token role: an orphan with the seal policy only. The period is given
  // too (sudo on the create path): the role's renews it, but only the token's own shows in its
  // lookup. The default policy lets the seal renew itself.
  const created = await admin.write<{ auth: { client_token: string; accessor: string } }>(`auth/token/create/${policyName}`, {
    policies: [policyName],
    period,
    renewable: true,
    display_name: o.displayName ?? `seal-${o.keyName}`,
    meta: { purpose: "transit-seal", key: `${mount}/${o.keyName}` },
  });
  const { client_token: token, accessor } = created.body.auth;
  return {
    mountPath: mount,
    keyName: o.keyName,
    policyName,
    token,
    accessor,
    health: await tokenHealth(admin, accessor),
    tokenCreated: true,
    superseded: existingHealth ? o.existing!.accessor : undefined,
  };
}

/** Rotates the transit key; the sealed cluster re-wraps to the new version on its next leader change. */
export async function rotateTransitKey(admin: VaultClient, mountPath: string, keyName: string): Promise<number> {
  await admin.write(`${normMount(mountPath)}/keys/${keyName}/rotate`);
  const key = await readTransitKey(admin, mountPath, keyName);
  return key!.latest_version;
}
