/**
 * The operator token: after a cluster's init, the providers' only credential on it. Its
 * root token is revoked as soon as the operator token exists, so no standing root token is
 * left anywhere (the Vault production hardening guide); break-glass is `generate-root` with
 * the recovery keys (recovery-keys.ts generateRoot).
 *
 * The token is an orphan periodic token whose policy lists exactly the paths the providers
 * use on that cluster (`operatorPolicy`). It cannot write policies, and a link's token role
 * only with the seal policy as its one allowed policy (`allowed_parameters`), so it can never
 * make itself more than it is: the seal policies and token roles of the cluster's transit
 * links are written here, once, with the root token; the links then mint seal tokens through
 * those roles and only read the policies (a new period rewrites the role).
 *
 * Crash-safe without a checkpoint in the middle: the token's ID is derived from the root
 * token (an HMAC), so a run that dies after creating the token, or after revoking the root,
 * finds the same token again from the same root token. Custom IDs make the server keep a
 * salted SHA-1 of the token rather than an HMAC-SHA-256 (its warning says so); with 256
 * random bits in the ID that costs nothing an attacker can use.
 */
import { createHmac } from "node:crypto";
import { STDOUT_AUDIT_PATH } from "../render/server-config";
import { TokenGoneError, VaultOpError } from "../errors";
import { VaultClient } from "../vault-client";
import { breakGlassPolicy, RecoveryApiFlavour, RECOVERY_PATHS } from "./recovery-keys";
import { ensurePolicy, ensureSealTokenRole, normMount, sealPolicy } from "./transit-link";

export const OPERATOR_POLICY = "vault-mutual-unseal-operator";

/** The server's default max TTL caps every period at 768h (32 days): `pulumi up` renews it below half. */
export const OPERATOR_TOKEN_PERIOD = "768h";

/** A transit link this cluster is the unsealer of (or, on the helper, holds the copy for). */
export interface SealGrant {
  mountPath: string;
  keyName: string;
  /** The seal policy, and the token role of the same name that mints seal tokens with it. */
  policyName: string;
  /** The key is exported to the helper from here. */
  backup: boolean;
  /** The key is restored here from a backup (the helper). */
  restore: boolean;
  /** The seal tokens' period (their role's: see sealTokenRole). */
  tokenPeriod: string;
}

export interface OperatorTokenOptions {
  flavour: RecoveryApiFlavour;
  seals: SealGrant[];
}

export interface OperatorToken {
  token: string;
  accessor: string;
  ttlSeconds: number;
  /** True when this call revoked the root token (false: it was gone already). */
  revokedRoot: boolean;
}

/** The root token is gone and the operator token it would have made does not exist: only break-glass helps. */
export class OperatorTokenLostError extends VaultOpError {
  constructor(address: string) {
    super(
      `${address}: the root token recorded at init is revoked and the operator token derived from it does not exist ` +
        `(expired after a month without \`pulumi up\`, or revoked). Generate a root token with the recovery keys ` +
        `(README, "Break-glass"), then run \`pulumi up\` with it as this cluster's adopt.rootToken.`,
    );
    this.name = "OperatorTokenLostError";
  }
}

const path = (p: string, caps: string[]) => `path "${p}" {\n  capabilities = [${caps.map((c) => `"${c}"`).join(", ")}]\n}`;

/** The seal policy a grant's role hands out. */
export const grantPolicy = (g: SealGrant) => sealPolicy(g.mountPath, g.keyName);

/**
 * Every path the providers use on a cluster, and nothing else. `sudo` where the server
 * requires it (audit devices, step-down, Raft configuration, periodic tokens from a role,
 * recovery key rotation). No path under sys/policies or auth/token/roles can be written.
 */
export function operatorPolicy(o: OperatorTokenOptions): string {
  const rotation = RECOVERY_PATHS[o.flavour];
  const rules = [
    `# The vault-mutual-unseal providers' operator token (${o.flavour}). Written with the root token at bootstrap.`,
    path("sys/audit", ["read", "sudo"]),
    path(`sys/audit/${STDOUT_AUDIT_PATH}`, ["create", "update", "sudo"]),
    path("sys/step-down", ["update", "sudo"]),
    path("sys/storage/raft/configuration", ["read", "sudo"]),
    path(rotation.init, ["create", "read", "update", "delete", "sudo"]),
    path(rotation.update, ["create", "update", "sudo"]),
    path(rotation.backup, ["read", "delete", "sudo"]),
    // Its own policy, to tell whether a change of the links needs a wider one.
    path(`sys/policies/acl/${OPERATOR_POLICY}`, ["read"]),
    path("auth/token/lookup-accessor", ["update"]),
    path("auth/token/renew-accessor", ["update"]),
    path("auth/token/revoke-accessor", ["update"]),
  ];
  if (o.seals.length > 0) rules.push(path("sys/mounts", ["read"]));
  for (const g of o.seals) {
    const m = normMount(g.mountPath);
    rules.push(
      path(`sys/mounts/${m}`, ["create", "read", "update"]),
      path(`${m}/keys/${g.keyName}`, ["create", "read", "update"]),
      path(`${m}/keys/${g.keyName}/config`, ["update"]),
      path(`sys/policies/acl/${g.policyName}`, ["read"]),
      // The role may be rewritten (a new period) but only as a seal role: its one policy, orphans.
      `path "auth/token/roles/${g.policyName}" {\n  capabilities = ["create", "read", "update"]\n  allowed_parameters = {\n` +
        `    "allowed_policies" = [["${g.policyName}"], "${g.policyName}"]\n    "orphan" = [true]\n    "renewable" = [true]\n` +
        `    "token_type" = ["service"]\n    "token_period" = []\n  }\n}`,
      // The role fixes the policy and the orphan flag; sudo lets the call give the token its period.
      path(`auth/token/create/${g.policyName}`, ["update", "sudo"]),
    );
    if (g.backup) rules.push(path(`${m}/backup/${g.keyName}`, ["read"]));
    if (g.restore) rules.push(path(`${m}/restore/${g.keyName}`, ["update"]));
  }
  // On OpenBao, generate-root takes a token allowed there (and the recovery keys): this one.
  if (o.flavour === "openbao") rules.push(breakGlassPolicy(o.flavour).trimEnd());
  return rules.join("\n") + "\n";
}

/** The operator token's ID for a root token: the same on every run, unguessable without the root token. */
export function operatorTokenId(rootToken: string): string {
  return `vmu-operator-${createHmac("sha256", rootToken).update("vault-mutual-unseal operator token").digest("base64url")}`;
}

interface SelfLookup {
  accessor: string;
  ttl: number;
  policies: string[];
}

/** The token's own lookup, or undefined when the server does not know it (expired, revoked, never made). */
async function lookupSelf(client: VaultClient): Promise<SelfLookup | undefined> {
  try {
    return (await client.read<{ data: SelfLookup }>("auth/token/lookup-self")).body.data;
  } catch (e) {
    if (e instanceof TokenGoneError && e.gone === "caller") return undefined;
    throw e;
  }
}

/**
 * The cluster's operator token, made from `rootToken` if it does not exist yet; the root
 * token is revoked once it does. Safe to repeat at any point: the same root token always
 * leads to the same operator token. `client` carries no token.
 */
export async function ensureOperatorToken(client: VaultClient, rootToken: string, o: OperatorTokenOptions): Promise<OperatorToken> {
  const id = operatorTokenId(rootToken);
  const root = client.withToken(rootToken);
  const rootAlive = (await lookupSelf(root)) !== undefined;
  let mine = await lookupSelf(client.withToken(id));
  if (!mine) {
    if (!rootAlive) throw new OperatorTokenLostError(client.address);
    await ensurePolicy(root, OPERATOR_POLICY, operatorPolicy(o));
    for (const g of o.seals) {
      await ensurePolicy(root, g.policyName, grantPolicy(g));
      await ensureSealTokenRole(root, g);
    }
    await root.write("auth/token/create-orphan", {
      id,
      policies: [OPERATOR_POLICY],
      period: OPERATOR_TOKEN_PERIOD,
      renewable: true,
      display_name: "vault-mutual-unseal-operator",
      meta: { purpose: "vault-mutual-unseal providers" },
    });
    mine = (await lookupSelf(client.withToken(id)))!;
  }
  if (rootAlive) await root.write("auth/token/revoke-self");
  return { token: id, accessor: mine.accessor, ttlSeconds: mine.ttl, revokedRoot: rootAlive };
}

/** The operator token's TTL now; renewed first when below half its period. Throws OperatorTokenLostError when it is gone. */
export async function keepOperatorToken(client: VaultClient, token: string, periodSeconds: number): Promise<OperatorToken> {
  const c = client.withToken(token);
  const now = await lookupSelf(c);
  if (!now) throw new OperatorTokenLostError(client.address);
  let ttl = now.ttl;
  if (ttl < periodSeconds / 2) {
    await c.write("auth/token/renew-self");
    ttl = (await lookupSelf(c))!.ttl;
  }
  return { token, accessor: now.accessor, ttlSeconds: ttl, revokedRoot: false };
}

/** The operator token's TTL, or undefined when the server does not know it. For the diff's look. */
export async function operatorTokenTtl(client: VaultClient, token: string): Promise<number | undefined> {
  return (await lookupSelf(client.withToken(token)))?.ttl;
}
