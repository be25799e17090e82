/**
 * Init: the one step that cannot be undone or repeated, so it validates everything first
 * and refuses to touch an initialized cluster.
 */
import { AlreadyInitializedError, InputError, throwProblems, VaultApiError } from "../errors";
import { NodeControl } from "../nodes";
import { VaultClient } from "../vault-client";

export interface InitOptions {
  /** "shamir": the cluster is unsealed by hand with unseal keys. "recovery": it auto-unseals and gets recovery keys. */
  kind: "shamir" | "recovery";
  shares: number;
  threshold: number;
  /** Base64 PGP public keys, one per share: the keys come back encrypted to them. */
  pgpKeys?: string[];
  /** Base64 PGP public key the root token comes back encrypted to. */
  rootTokenPgpKey?: string;
}

export interface InitResult {
  kind: "shamir" | "recovery";
  /** Unseal keys (shamir) or recovery keys (recovery), base64 (PGP-encrypted when pgpKeys were given). */
  keys: string[];
  rootToken: string;
}

/** Every problem with init options, each naming its key. */
export function initProblems(o: InitOptions): InputError[] {
  const p: InputError[] = [];
  if (o.kind !== "shamir" && o.kind !== "recovery") p.push(new InputError("kind", `must be "shamir" or "recovery", got "${o.kind}"`));
  if (!Number.isInteger(o.shares) || o.shares < 1) p.push(new InputError("shares", `must be a whole number ≥ 1, got ${o.shares}`));
  if (!Number.isInteger(o.threshold) || o.threshold < 1)
    p.push(new InputError("threshold", `must be a whole number ≥ 1, got ${o.threshold}`));
  if (o.threshold > o.shares)
    p.push(
      new InputError(
        "threshold",
        `(${o.threshold}) is greater than shares (${o.shares}): the keys could never unseal. Lower threshold or raise shares`,
      ),
    );
  if (o.shares > 1 && o.threshold < 2)
    p.push(new InputError("threshold", `must be at least 2 when there are several shares (a single key would be enough to unseal)`));
  if (o.pgpKeys && o.pgpKeys.length !== o.shares)
    p.push(new InputError("pgpKeys", `needs one key per share: ${o.shares} shares but ${o.pgpKeys.length} PGP keys`));
  return p;
}

/**
 * Initializes the cluster through `client` (any node; with Raft, the one the others join).
 * Throws AlreadyInitializedError when it is initialized, InputError for bad options.
 */
export async function initCluster(client: VaultClient, o: InitOptions): Promise<InitResult> {
  throwProblems(initProblems(o));

  const status = await client.sealStatus();
  if (status.initialized) throw new AlreadyInitializedError(client.address);

  // Auto-sealed clusters take recovery_*; sending secret_* is a 400. OpenBao ≥ 2.4
  // defaults recovery_shares to 0, so both counts are always sent explicitly.
  const body =
    o.kind === "shamir"
      ? { secret_shares: o.shares, secret_threshold: o.threshold, pgp_keys: o.pgpKeys, root_token_pgp_key: o.rootTokenPgpKey }
      : { recovery_shares: o.shares, recovery_threshold: o.threshold, recovery_pgp_keys: o.pgpKeys, root_token_pgp_key: o.rootTokenPgpKey };
  if (o.kind === "shamir" && status.type !== "shamir") {
    throw new InputError("kind", `${client.address} has a ${status.type} seal: initialize it with kind "recovery" (recovery keys)`);
  }
  if (o.kind === "recovery" && status.type === "shamir") {
    throw new InputError("kind", `${client.address} has a Shamir seal: initialize it with kind "shamir" (unseal keys)`);
  }
  try {
    const res = await client.request<{ keys_base64?: string[]; recovery_keys_base64?: string[]; root_token: string }>("PUT", "sys/init", {
      body,
      timeoutMs: 120_000,
    });
    const keys = o.kind === "shamir" ? res.body.keys_base64 : res.body.recovery_keys_base64;
    return { kind: o.kind, keys: keys ?? [], rootToken: res.body.root_token };
  } catch (e) {
    // A concurrent init elsewhere wins the race: report it the same way.
    if (e instanceof VaultApiError && e.mentions("already initialized")) throw new AlreadyInitializedError(client.address);
    throw e;
  }
}

/**
 * The init record: the init's answer, kept by the node adapter (NodeControl.saveInitRecord)
 * from the moment sys/init answers until the answer is known to be in the Pulumi checkpoint.
 * Without it, a crash between the two leaves an initialized cluster whose keys nobody has.
 */
export const INIT_RECORD_FORMAT = 1;

/** The record's text: JSON of the init's answer. Secret: it holds the keys and the root token. */
export function encodeInitRecord(r: InitResult): string {
  return JSON.stringify({ format: INIT_RECORD_FORMAT, kind: r.kind, keys: r.keys, rootToken: r.rootToken });
}

/** The answer a record holds; InputError("initRecord") when it is not one (never quoting it: it holds secrets). */
export function decodeInitRecord(text: string, where: string): InitResult {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    v = undefined;
  }
  const r = (typeof v === "object" && v !== null ? v : {}) as Record<string, unknown>;
  const keysOk = Array.isArray(r.keys) && r.keys.every((k) => typeof k === "string" && k !== "");
  if (
    r.format !== INIT_RECORD_FORMAT ||
    (r.kind !== "shamir" && r.kind !== "recovery") ||
    !keysOk ||
    typeof r.rootToken !== "string" ||
    r.rootToken === ""
  )
    throw new InputError(
      "initRecord",
      `${where} is not an init record this code wrote (format ${INIT_RECORD_FORMAT}: kind, keys, rootToken): pass the keys and root token as adopt, then delete it`,
    );
  return { kind: r.kind, keys: r.keys as string[], rootToken: r.rootToken };
}

/** The init answer the cluster's adapter still keeps, if any. */
export async function recordedInit(nodes: NodeControl): Promise<InitResult | undefined> {
  const text = await nodes.loadInitRecord();
  return text === undefined ? undefined : decodeInitRecord(text, nodes.initRecordLocation());
}

/**
 * Init, then the record of its answer before anything else can fail: from here on a lost
 * checkpoint costs nothing, the next create adopts from the record. A record that cannot be
 * written does not lose the answer either: it is returned (to the checkpoint, as before the
 * record existed) and `recordError` says why there is no record.
 */
export async function initAndRecord(
  nodes: NodeControl,
  client: VaultClient,
  o: InitOptions,
): Promise<InitResult & { recordError?: Error }> {
  const result = await initCluster(client, o);
  try {
    await nodes.saveInitRecord(encodeInitRecord(result));
    return result;
  } catch (e) {
    return { ...result, recordError: e as Error };
  }
}
