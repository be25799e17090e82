/**
 * The `seal "transit"` stanza: its settings, the stanza sets a seal migration needs, and
 * validation. Parameter names are the ones the transit seal really reads (`address`,
 * `key_name`, `mount_path`, `tls_*`…: the full set is KNOWN_TRANSIT_KEYS below, which also
 * checks hand-written settings); the token is never part of the stanza: it travels in
 * VAULT_TRANSIT_SEAL_TOKEN.
 */
import { InputError, throwProblems } from "../errors";
import { HclBlock } from "./hcl";

/** Where a cluster's barrier keys are wrapped: another server's transit key. */
export interface TransitSeal {
  type: "transit";
  /** https address of the unsealer (the peer cluster or the helper). */
  address: string;
  keyName: string;
  mountPath: string;
  namespace?: string;
  /** Keep false: the seal must renew its periodic token or it dies with the period. */
  disableRenewal?: boolean;
  /** PEM file (inside the node) of the CA that issued the unsealer's certificate. */
  tlsCaCert?: string;
  /** Client certificate and key files the seal presents to the unsealer. */
  tlsClientCert?: string;
  tlsClientKey?: string;
  /** Name the unsealer's certificate is checked against. */
  tlsServerName?: string;
}

export interface ShamirSeal {
  type: "shamir";
}

export type Seal = ShamirSeal | TransitSeal;

/**
 * One configured seal block; `disabled` marks the seal being migrated away from.
 * `tokenEnv` names an env var the block reads its token from (`token = "env://NAME"`, an
 * OpenBao feature): needed only when two blocks need two different tokens, since
 * VAULT_TRANSIT_SEAL_TOKEN would give both the same one.
 */
export type SealStanza = TransitSeal & { disabled?: boolean; tokenEnv?: string };

/** The env var that carries the transit token, so no config file ever holds it. */
export const TRANSIT_TOKEN_ENV = "VAULT_TRANSIT_SEAL_TOKEN";

/** The seal blocks a node runs to stay on `seal` (Shamir has none). */
export function steadySeal(seal: Seal): SealStanza[] {
  return seal.type === "shamir" ? [] : [{ ...seal }];
}

/**
 * The seal blocks a node runs while migrating `from` → `to`: Shamir → transit needs only
 * the new block; transit → Shamir and transit → transit keep the old block, disabled.
 */
export function migrationSeal(from: Seal, to: Seal): SealStanza[] {
  if (from.type === "shamir" && to.type === "shamir") throw new InputError("seal", "migration from Shamir to Shamir is not a migration");
  if (from.type === "shamir") return [{ ...(to as TransitSeal) }];
  const old: SealStanza = { ...from, disabled: true };
  return to.type === "shamir" ? [old] : [old, { ...to }];
}

/** True when two seals wrap keys with the same transit key (address and token may differ). */
export function sameTransitKey(a: Seal, b: Seal): boolean {
  if (a.type !== "transit" || b.type !== "transit") return a.type === b.type;
  const mount = (m: string) => m.replace(/^\/+|\/+$/g, "");
  return a.keyName === b.keyName && mount(a.mountPath) === mount(b.mountPath) && (a.namespace ?? "") === (b.namespace ?? "");
}

/** Every problem with a set of seal blocks, each naming its key path. */
export function sealProblems(stanzas: SealStanza[], keyPath = "seals"): InputError[] {
  const problems: InputError[] = [];
  if (stanzas.length > 2)
    problems.push(
      new InputError(keyPath, `at most two seal blocks are allowed (one enabled, one disabled during a migration); got ${stanzas.length}`),
    );
  const enabled = stanzas.filter((s) => !s.disabled);
  const disabled = stanzas.filter((s) => s.disabled);
  if (enabled.length > 1)
    problems.push(
      new InputError(
        keyPath,
        `${enabled.length} seal blocks are enabled; only one may be. During a migration mark the old one disabled = "true"`,
      ),
    );
  if (disabled.length > 1)
    problems.push(new InputError(keyPath, `${disabled.length} seal blocks are disabled; a migration has exactly one old seal`));
  stanzas.forEach((s, i) => {
    const at = `${keyPath}[${i}]`;
    let url: URL | undefined;
    try {
      url = new URL(s.address);
    } catch {
      problems.push(new InputError(`${at}.address`, `"${s.address}" is not a URL; use https://host:port`));
    }
    if (url && url.protocol !== "https:")
      problems.push(
        new InputError(
          `${at}.address`,
          `"${s.address}" is not https: the transit link carries the keys that unseal a cluster and must use TLS`,
        ),
      );
    if (!s.keyName) problems.push(new InputError(`${at}.keyName`, "is empty: name the transit key (e.g. autounseal)"));
    if (!s.mountPath) problems.push(new InputError(`${at}.mountPath`, "is empty: name the transit mount (e.g. transit/)"));
    if (s.tokenEnv !== undefined && !/^[A-Z_][A-Z0-9_]*$/.test(s.tokenEnv))
      problems.push(new InputError(`${at}.tokenEnv`, `"${s.tokenEnv}" is not an environment variable name (A-Z, 0-9, _)`));
    if (Boolean(s.tlsClientCert) !== Boolean(s.tlsClientKey))
      problems.push(
        new InputError(
          `${at}.tlsClientCert`,
          "a client certificate needs its key and the key its certificate: set both tlsClientCert and tlsClientKey",
        ),
      );
  });
  return problems;
}

/** Throws the first problem; use sealProblems to report them all. */
export function assertValidSeals(stanzas: SealStanza[], keyPath = "seals"): void {
  throwProblems(sealProblems(stanzas, keyPath));
}

/** The HCL block for one stanza, with the exact parameter names the transit seal reads. */
export function sealBlock(s: SealStanza): HclBlock {
  return {
    type: "seal",
    labels: ["transit"],
    attrs: {
      address: s.address,
      // A reference to an env var, never the token itself.
      token: s.tokenEnv ? `env://${s.tokenEnv}` : undefined,
      key_name: s.keyName,
      mount_path: s.mountPath,
      namespace: s.namespace,
      disable_renewal: String(s.disableRenewal ?? false),
      tls_ca_cert: s.tlsCaCert,
      tls_client_cert: s.tlsClientCert,
      tls_client_key: s.tlsClientKey,
      tls_server_name: s.tlsServerName,
      disabled: s.disabled ? "true" : undefined,
    },
  };
}

/** Transit seal parameters as the server reads them, for checking hand-written settings. */
const KNOWN_TRANSIT_KEYS = new Set([
  "address",
  "token",
  "key_name",
  "mount_path",
  "namespace",
  "disable_renewal",
  "tls_ca_cert",
  "tls_client_cert",
  "tls_client_key",
  "tls_server_name",
  "tls_skip_verify",
  "disabled",
]);

/** What Go's strconv.ParseBool, which the seal uses, reads as true. */
const GO_TRUE = new Set(["1", "t", "T", "true", "TRUE", "True"]);

/**
 * Checks raw `seal "transit"` attributes (e.g. from a user's config) against what the
 * server reads. Unknown keys are silently ignored by the server, which is how the article's
 * `tls_ca_file` went unnoticed; here they are errors.
 */
export function transitAttributeProblems(attrs: Record<string, unknown>, keyPath = "seal.transit"): InputError[] {
  const problems: InputError[] = [];
  for (const key of Object.keys(attrs)) {
    if (key === "tls_ca_file")
      problems.push(
        new InputError(`${keyPath}.tls_ca_file`, "the transit seal has no tls_ca_file and would silently ignore it: use tls_ca_cert"),
      );
    else if (key === "token")
      problems.push(
        new InputError(
          `${keyPath}.token`,
          `never put the token in a config file: pass it in ${TRANSIT_TOKEN_ENV} from a Kubernetes Secret`,
        ),
      );
    else if (key === "tls_skip_verify" && GO_TRUE.has(String(attrs[key])))
      problems.push(
        new InputError(`${keyPath}.tls_skip_verify`, "TLS verification stays on: give the unsealer's CA in tls_ca_cert instead"),
      );
    else if (!KNOWN_TRANSIT_KEYS.has(key))
      problems.push(
        new InputError(
          `${keyPath}.${key}`,
          `is not a transit seal parameter (known: ${[...KNOWN_TRANSIT_KEYS].join(", ")}); the server would silently ignore it`,
        ),
      );
  }
  return problems;
}
