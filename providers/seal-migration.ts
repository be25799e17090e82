/**
 * SealMigration: moves a running HA cluster from one seal to another without downtime
 * (Shamir → transit, transit → transit, transit → Shamir), through the core's migrateSeal,
 * which reads the cluster's state and does what is left: a run stopped at any point is
 * finished by the next create or update.
 *
 * The resource means "this cluster runs on `to`". Every change is an update, none replaces:
 * - a new `to` (another unsealer or key) is a new migration, from wherever the cluster is;
 * - when the last run completed and `to` still names the same key, a change of its token or
 *   address (a rotated TransitLink token, the emergency switch to the helper) is no
 *   migration: the new settings are applied and the nodes rolled onto them, the active last.
 * delete does not migrate back: the cluster stays on its current seal.
 * `supersededTokens`: the tokens `to`'s link replaced while alive (superseded-tokens.ts) are
 * revoked on its unsealer once the run has every node on `to` and unsealed; `revokedAccessors`
 * records them. A run stopped before that record does what is left, and revokes, next time.
 */
import * as pulumi from "@pulumi/pulumi";
import { InputError } from "../core/errors";
import { Seal, SealStanza, sealProblems } from "../core/render/seal";
import { Flavour } from "../core/render/server-config";
import { migrationPlan, sealTo } from "../core/steps/seal-migration";
import { defineDynamicResource } from "./dynamic-resource";
import { clusterIdentity, nodeAccess, NodeAccess, NodeAccessArgs, withNodes } from "./node-access";
import { ProviderOps } from "./project-require";
import {
  containsUnknown,
  describeValue,
  Failures,
  InputFields,
  isUnknown,
  keyName,
  mountPath,
  optional,
  optionalString,
  reasonOf,
  requiredString,
  adminToken,
  stringList,
  wholeNumber,
} from "./provider-inputs";
import { revokeSuperseded, SupersededTokens, supersededTokens, SupersededTokensArgs } from "./superseded-tokens";

export const SEAL_MIGRATION_VERSION = 1;

export interface SealMigrationArgs {
  nodes: pulumi.Input<NodeAccessArgs>;
  /** The seal the cluster was initialized with (or last migrated to). */
  from: pulumi.Input<Seal | InputFields<Seal>>;
  /** The seal it must run on. */
  to: pulumi.Input<Seal | InputFields<Seal>>;
  /** Token of `to` when it is transit (TransitLink.token of the new unsealer). */
  toToken?: pulumi.Input<string>;
  /** Token of `from` when it is transit: the old seal must still decrypt the stored keys. */
  fromToken?: pulumi.Input<string>;
  /** Unseal keys (from Shamir) or recovery keys (from transit); afterwards they are the other kind. */
  keys: pulumi.Input<pulumi.Input<string>[]>;
  /** The operator token (or root token) of the cluster, for step-downs. */
  adminToken: pulumi.Input<string>;
  /** "openbao" or "vault"; transit → transit with two tokens needs "openbao". */
  flavour?: pulumi.Input<Flavour>;
  /** How long to wait for the stored keys to be migrated (default 120 s). */
  timeoutMs?: pulumi.Input<number>;
  /** Tokens of `to`'s link that the nodes ran on before, to revoke once they all run on `to`. */
  supersededTokens?: pulumi.Input<SupersededTokensArgs>;
}

export interface SealMigrationInputs {
  version?: number;
  nodes: NodeAccess;
  from: Seal;
  to: Seal;
  toToken?: string;
  fromToken?: string;
  keys: string[];
  adminToken: string;
  flavour?: Flavour;
  timeoutMs?: number;
  supersededTokens?: SupersededTokens;
}

export interface SealMigrationOutputs extends SealMigrationInputs {
  /** Seal type the active node reports after the run. */
  sealType: string;
  /** Whether the last run restarted or reconfigured anything. */
  changed: boolean;
  /** The superseded tokens' accessors revoked once every node ran on `to`. */
  revokedAccessors: string[];
}

function sealInputProblems(seal: unknown, path: string, f: Failures): void {
  if (isUnknown(seal)) return;
  if (!seal || typeof seal !== "object") {
    f.add(path, `must be a seal: { type: "shamir" } or { type: "transit", address, keyName, mountPath, ... }, got ${describeValue(seal)}`);
    return;
  }
  const s = seal as Record<string, unknown>;
  if (isUnknown(s.type)) return;
  if (s.type === "shamir") return;
  if (s.type !== "transit") {
    f.add(`${path}.type`, `must be "shamir" or "transit", got ${typeof s.type === "string" ? `"${s.type}"` : describeValue(s.type)}`);
    return;
  }
  f.field(s, "address", `${path}.address`, requiredString);
  f.field(s, "keyName", `${path}.keyName`, keyName);
  f.field(s, "mountPath", `${path}.mountPath`, mountPath);
  if (containsUnknown(seal) || f.list.some((x) => x.property.startsWith(`${path}.`))) return;
  // The renderer's own rules (https, no half client certificate, ...), with this input's paths.
  for (const p of sealProblems([seal as SealStanza], path)) f.add(p.key.replace(`${path}[0]`, path), reasonOf(p));
}

const flavour = (v: unknown): string | undefined =>
  v === undefined || v === "openbao" || v === "vault"
    ? undefined
    : `must be "openbao" or "vault", got ${typeof v === "string" ? `"${v}"` : describeValue(v)}`;

/** The core's plan decides what is a migration and which tokens it needs, once the seals themselves are sound. */
function acrossFields(_olds: Partial<SealMigrationInputs>, news: SealMigrationInputs, f: Failures): void {
  const typeOf = (s: unknown) => (s && typeof s === "object" && !isUnknown(s) ? (s as { type?: unknown }).type : undefined);
  const sealsSound = !f.list.some((x) => /^(from|to|toToken|fromToken|flavour)\b/.test(x.property));
  if (sealsSound && typeOf(news.from) === "shamir" && typeOf(news.to) === "shamir") {
    f.add("to", "from Shamir to Shamir is not a migration: name the transit seal the cluster must move to");
  } else if (sealsSound && ![news.from, news.to, news.flavour].some(containsUnknown)) {
    // The core's plan decides what is a migration and which tokens it needs. A token not known
    // yet (preview) is present; two unknown tokens may be equal, so they are taken as equal.
    const placeholder = "(not known until the link exists)";
    let to = news.toToken;
    let from = news.fromToken;
    if (isUnknown(to) && isUnknown(from)) to = from = placeholder;
    else if (isUnknown(to)) to = from ?? placeholder;
    else if (isUnknown(from)) from = to ?? placeholder;
    try {
      migrationPlan({ from: news.from, to: news.to, toToken: to, fromToken: from, flavour: news.flavour });
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      f.add(e.key === "seal" ? "to" : e.key, reasonOf(e));
    }
  }
}

async function run(inputs: SealMigrationInputs, olds?: SealMigrationOutputs): Promise<SealMigrationOutputs> {
  // The seal the last run completed the move to: the same key again is a re-pointing (the core's sealTo).
  const reached = olds !== undefined && olds.sealType === inputs.to.type ? olds.to : undefined;
  return withNodes(inputs.nodes, async (nodes) => {
    const r = await sealTo(nodes, {
      from: inputs.from,
      to: inputs.to,
      toToken: inputs.toToken,
      fromToken: inputs.fromToken,
      keys: inputs.keys,
      adminToken: inputs.adminToken,
      flavour: inputs.flavour,
      timeoutMs: inputs.timeoutMs,
      reached,
    });
    // sealTo returns once every node runs on `to`: no node needs the superseded tokens now.
    const revokedAccessors = await revokeSuperseded(nodes, inputs.supersededTokens, inputs.timeoutMs);
    return { ...inputs, sealType: r.sealType, changed: r.changed, revokedAccessors };
  });
}

async function create(inputs: SealMigrationInputs): Promise<pulumi.dynamic.CreateResult<SealMigrationOutputs>> {
  return { id: `seal-migration:${clusterIdentity(inputs.nodes)}`, outs: await run(inputs) };
}

async function update(
  _id: string,
  olds: SealMigrationOutputs,
  news: SealMigrationInputs,
): Promise<pulumi.dynamic.UpdateResult<SealMigrationOutputs>> {
  return { outs: await run(news, olds) };
}

/** Leaves the cluster on the seal it runs: deleting this resource migrates nothing back. */
async function remove(): Promise<void> {}

const declared = defineDynamicResource<SealMigrationInputs, SealMigrationOutputs, SealMigrationArgs>({
  type: "SealMigration",
  module: "providers/seal-migration",
  opsExport: "sealMigrationOps",
  version: SEAL_MIGRATION_VERSION,
  fields: {
    nodes: nodeAccess,
    from: { nested: sealInputProblems },
    to: { nested: sealInputProblems },
    toToken: optionalString,
    fromToken: optionalString,
    keys: stringList("unseal keys (from Shamir) or recovery keys (from transit)"),
    adminToken: adminToken("the cluster's", "the migration steps the active node down"),
    flavour,
    timeoutMs: optional(wholeNumber(1000)),
    supersededTokens,
  },
  across: acrossFields,
  outputs: ["sealType", "changed", "revokedAccessors"],
  // supersededTokens holds the unsealer's operator token and access; the accessors revoked are plain.
  secretOutputs: ["keys", "adminToken", "toToken", "fromToken", "nodes", "supersededTokens"],
  ops: { create, update, delete: remove },
});

export const sealMigrationOps: ProviderOps<SealMigrationInputs, SealMigrationOutputs> = declared.ops;

export const sealMigrationProvider = declared.provider;

export class SealMigration extends declared.Resource {
  declare readonly sealType: pulumi.Output<string>;
  declare readonly changed: pulumi.Output<boolean>;
  declare readonly revokedAccessors: pulumi.Output<string[]>;
}
