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
 */
import * as pulumi from "@pulumi/pulumi";
import { InputError } from "../core/errors";
import { isUpToDate, NodeControl, SealSettings, sealSettingsDigest } from "../core/nodes";
import { Seal, SealStanza, sameTransitKey, sealProblems, steadySeal } from "../core/render/seal";
import { Flavour } from "../core/render/server-config";
import { findActive } from "../core/steps/node-state";
import { rolloutSeal } from "../core/steps/rollout";
import { migrateSeal, migrationPlan } from "../core/steps/seal-migration";
import { clusterIdentity, NodeAccess, NodeAccessArgs, nodeAccessProblems, withNodes } from "./node-access";
import { ProviderOps, trampoline } from "./project-require";
import {
  changedKeys,
  checked,
  checkVersion,
  containsUnknown,
  describeValue,
  Failures,
  InputFields,
  isUnknown,
  optionalString,
  reasonOf,
  requiredString,
  stringList,
  wholeNumber,
  withSecretOutputs,
} from "./provider-inputs";

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
  /** Root (or sudo) token of the cluster, for step-downs. */
  rootToken: pulumi.Input<string>;
  /** "openbao" or "vault"; transit → transit with two tokens needs "openbao". */
  flavour?: pulumi.Input<Flavour>;
  /** How long to wait for the stored keys to be migrated (default 120 s). */
  timeoutMs?: pulumi.Input<number>;
}

export interface SealMigrationInputs {
  version?: number;
  nodes: NodeAccess;
  from: Seal;
  to: Seal;
  toToken?: string;
  fromToken?: string;
  keys: string[];
  rootToken: string;
  flavour?: Flavour;
  timeoutMs?: number;
}

export interface SealMigrationOutputs extends SealMigrationInputs {
  /** Seal type the active node reports after the run. */
  sealType: string;
  /** Whether the last run restarted or reconfigured anything. */
  changed: boolean;
}

const INPUT_KEYS = ["version", "nodes", "from", "to", "toToken", "fromToken", "keys", "rootToken", "flavour", "timeoutMs"] as const;

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
  for (const key of ["address", "keyName", "mountPath"]) f.field(s, key, `${path}.${key}`, requiredString);
  if (containsUnknown(seal) || f.list.some((x) => x.property.startsWith(`${path}.`))) return;
  // The renderer's own rules (https, no half client certificate, ...), with this input's paths.
  for (const p of sealProblems([seal as SealStanza], path)) f.add(p.key.replace(`${path}[0]`, path), reasonOf(p));
}

async function check(
  _olds: Partial<SealMigrationInputs>,
  news: SealMigrationInputs,
): Promise<pulumi.dynamic.CheckResult<SealMigrationInputs>> {
  const f = new Failures();
  const n = news as unknown as Record<string, unknown>;
  checkVersion(news, SEAL_MIGRATION_VERSION, f);
  nodeAccessProblems(news.nodes, "nodes", f);
  sealInputProblems(news.from, "from", f);
  sealInputProblems(news.to, "to", f);
  f.field(n, "keys", "keys", stringList("unseal keys (from Shamir) or recovery keys (from transit)"));
  f.field(n, "rootToken", "rootToken", (v) =>
    requiredString(v) ? "must be the cluster's root (or sudo) token: the migration steps the active node down" : undefined,
  );
  f.field(n, "toToken", "toToken", optionalString);
  f.field(n, "fromToken", "fromToken", optionalString);
  f.field(n, "flavour", "flavour", (v) =>
    v === undefined || v === "openbao" || v === "vault"
      ? undefined
      : `must be "openbao" or "vault", got ${typeof v === "string" ? `"${v}"` : describeValue(v)}`,
  );
  f.field(n, "timeoutMs", "timeoutMs", (v) => (v === undefined ? undefined : wholeNumber(1000)(v)));

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
  return checked(news, f);
}

async function diff(_id: string, olds: SealMigrationOutputs, news: SealMigrationInputs): Promise<pulumi.dynamic.DiffResult> {
  return { changes: changedKeys<SealMigrationInputs>(olds, news, INPUT_KEYS).length > 0, replaces: [] };
}

/** True when the active node runs on a seal of `type` with no migration under way. */
async function runsOn(nodes: NodeControl, type: string): Promise<boolean> {
  const active = await findActive(nodes);
  if (!active) return false;
  const s = await nodes.client(active).sealStatus();
  return s.type === type && !s.migration;
}

/** Applies the final settings of `to` (new token or address, same key) and rolls every node that does not run them. */
async function repoint(nodes: NodeControl, inputs: SealMigrationInputs): Promise<boolean> {
  const final: SealSettings = { stanzas: steadySeal(inputs.to), transitToken: inputs.to.type === "transit" ? inputs.toToken : undefined };
  let changed = false;
  if (sealSettingsDigest(await nodes.appliedSeal()) !== sealSettingsDigest(final)) {
    await nodes.applySeal(final);
    changed = true;
  }
  for (const id of nodes.nodeIds()) if (!(await isUpToDate(nodes, id))) changed = true;
  if (changed) await rolloutSeal(nodes, { adminToken: inputs.rootToken, keys: inputs.keys, timeoutMs: inputs.timeoutMs });
  return changed;
}

async function activeSealType(nodes: NodeControl): Promise<string> {
  const active = await findActive(nodes);
  return active ? (await nodes.client(active).sealStatus()).type : "unknown";
}

async function run(inputs: SealMigrationInputs, olds?: SealMigrationOutputs): Promise<SealMigrationOutputs> {
  return withNodes(inputs.nodes, async (nodes) => {
    const done = olds !== undefined && olds.sealType === inputs.to.type && sameTransitKey(olds.to, inputs.to);
    if (done && (await runsOn(nodes, inputs.to.type))) {
      const changed = await repoint(nodes, inputs);
      return { ...inputs, sealType: await activeSealType(nodes), changed };
    }
    const r = await migrateSeal(nodes, {
      from: inputs.from,
      to: inputs.to,
      toToken: inputs.toToken,
      fromToken: inputs.fromToken,
      keys: inputs.keys,
      adminToken: inputs.rootToken,
      flavour: inputs.flavour,
      timeoutMs: inputs.timeoutMs,
    });
    return { ...inputs, sealType: r.sealType, changed: r.changed };
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

export const sealMigrationOps: ProviderOps<SealMigrationInputs, SealMigrationOutputs> = { check, diff, create, update, delete: remove };

export const sealMigrationProvider = trampoline<SealMigrationInputs, SealMigrationOutputs>("providers/seal-migration", "sealMigrationOps");

export class SealMigration extends pulumi.dynamic.Resource {
  declare readonly sealType: pulumi.Output<string>;
  declare readonly changed: pulumi.Output<boolean>;

  constructor(name: string, args: SealMigrationArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      sealMigrationProvider,
      name,
      { ...args, version: SEAL_MIGRATION_VERSION, sealType: undefined, changed: undefined },
      withSecretOutputs(opts, ["keys", "rootToken", "toToken", "fromToken", "nodes"]),
      "vault-mutual-unseal",
      "SealMigration",
    );
  }
}
