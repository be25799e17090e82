/**
 * TransitKeyRestore: the helper's copy of the transit key that unseals `vault`, restored
 * from the backup the primary stack outputs (TransitKeyBackup), with the drift check.
 *
 * - create/update restore the backup with `force` (a newer copy replaces an older one),
 *   then compare the helper's version with `latestVersion` (the key's latest version on the
 *   unsealer, as the primary stack last saw it). A copy behind it FAILS the run: a stale copy
 *   breaks the deadlock path silently at `vault`'s next leader change (design.md §3).
 * - read (refresh) records the helper's version, and diff takes the same look on every `up`
 *   and preview (live-state.ts): a copy behind (or lost) is an update, which restores again.
 * - delete leaves the copy on the helper: it is Vault data, the last resort in a deadlock.
 */
import * as pulumi from "@pulumi/pulumi";
import { backupKeyTimes, differentKeyVersion, KeyRef, restoreTransitKey, unsealedHelper } from "../core/steps/key-copy";
import { findActive } from "../core/steps/node-state";
import { normMount, readTransitKey } from "../core/steps/transit-link";
import { clusterIdentity, NodeAccess, NodeAccessArgs, nodeAccessProblems, withNodes } from "./node-access";
import { driftDiff } from "./live-state";
import { ProviderOps, trampoline } from "./project-require";
import { checked, checkVersion, Failures, optionalBoolean, requiredString, wholeNumber, withSecretOutputs } from "./provider-inputs";

export const TRANSIT_KEY_RESTORE_VERSION = 1;

export interface TransitKeyRestoreArgs {
  /** The helper (it must be unsealed while the copy is restored). */
  nodes: pulumi.Input<NodeAccessArgs>;
  /** The helper's root token. */
  token: pulumi.Input<string>;
  mountPath: pulumi.Input<string>;
  keyName: pulumi.Input<string>;
  /** TransitKeyBackup.backup of the primary stack (secret). */
  backup: pulumi.Input<string>;
  /** The key's latest version on the unsealer (TransitKeyBackup.latestVersion). */
  latestVersion: pulumi.Input<number>;
  /** Fail the run when the copy is behind latestVersion (default true). */
  failOnDrift?: pulumi.Input<boolean>;
}

export interface TransitKeyRestoreInputs {
  version?: number;
  nodes: NodeAccess;
  token: string;
  mountPath: string;
  keyName: string;
  backup: string;
  latestVersion: number;
  failOnDrift?: boolean;
}

export interface TransitKeyRestoreOutputs extends TransitKeyRestoreInputs {
  /** Newest key version on the helper. */
  helperVersion: number;
  inSync: boolean;
  verdict: string;
}

const INPUT_KEYS = ["version", "nodes", "token", "mountPath", "keyName", "backup", "latestVersion", "failOnDrift"] as const;

/** Plain words about the copy; exported for tests. */
export function restoreVerdict(ref: KeyRef, helperVersion: number, latestVersion: number): { inSync: boolean; verdict: string } {
  const where = `${normMount(ref.mountPath)}/${ref.keyName}`;
  return helperVersion >= latestVersion
    ? { inSync: true, verdict: `in sync: the helper holds version ${helperVersion} of ${where}, the unsealer's latest is ${latestVersion}` }
    : {
        inSync: false,
        verdict:
          `DRIFT: the helper holds version ${helperVersion} of ${where} but the unsealer's key is at version ${latestVersion}; the deadlock path breaks ` +
          `at vault's next leader change. Run \`pulumi up\` on the primary stack (it takes a new backup of the rotated key), then \`pulumi up\` on the helper stack.`,
      };
}

async function check(
  _olds: Partial<TransitKeyRestoreInputs>,
  news: TransitKeyRestoreInputs,
): Promise<pulumi.dynamic.CheckResult<TransitKeyRestoreInputs>> {
  const f = new Failures();
  const n = news as unknown as Record<string, unknown>;
  checkVersion(news, TRANSIT_KEY_RESTORE_VERSION, f);
  nodeAccessProblems(news.nodes, "nodes", f);
  f.field(n, "token", "token", requiredString);
  f.field(n, "backup", "backup", (v) => (requiredString(v) ? "must be the primary stack's transitKeyBackup output" : undefined));
  f.field(
    n,
    "mountPath",
    "mountPath",
    (v) => requiredString(v) ?? (normMount(v as string) === "" ? "must name a mount, e.g. transit" : undefined),
  );
  f.field(n, "keyName", "keyName", requiredString);
  f.field(n, "latestVersion", "latestVersion", wholeNumber(1));
  f.field(n, "failOnDrift", "failOnDrift", optionalBoolean);
  return checked({ ...news, failOnDrift: news.failOnDrift ?? true }, f);
}

async function diff(id: string, olds: TransitKeyRestoreOutputs, news: TransitKeyRestoreInputs): Promise<pulumi.dynamic.DiffResult> {
  // The helper's copy as it is now: lost or behind (a rebuilt helper) is a change, and the update restores it.
  return driftDiff(id, olds, news, INPUT_KEYS, read, (now) => now.inSync === false);
}

async function restore(inputs: TransitKeyRestoreInputs): Promise<TransitKeyRestoreOutputs> {
  const ref: KeyRef = { mountPath: inputs.mountPath, keyName: inputs.keyName };
  return withNodes(inputs.nodes, async (nodes) => {
    const helper = await unsealedHelper(nodes, inputs.token);
    const helperVersion = await restoreTransitKey(helper, ref, inputs.backup);
    const v = restoreVerdict(ref, helperVersion, inputs.latestVersion);
    if (!v.inSync && (inputs.failOnDrift ?? true)) throw new Error(`TransitKeyRestore: ${v.verdict}`);
    return { ...inputs, helperVersion, ...v };
  });
}

async function create(inputs: TransitKeyRestoreInputs): Promise<pulumi.dynamic.CreateResult<TransitKeyRestoreOutputs>> {
  return {
    id: `transit-key-restore:${clusterIdentity(inputs.nodes)}:${normMount(inputs.mountPath)}/${inputs.keyName}`,
    outs: await restore(inputs),
  };
}

async function update(
  _id: string,
  _olds: TransitKeyRestoreOutputs,
  news: TransitKeyRestoreInputs,
): Promise<pulumi.dynamic.UpdateResult<TransitKeyRestoreOutputs>> {
  return { outs: await restore(news) };
}

/** Records the helper's version; a sealed helper keeps what is known. */
async function read(id: string, props?: TransitKeyRestoreOutputs): Promise<pulumi.dynamic.ReadResult<TransitKeyRestoreOutputs>> {
  if (!props?.nodes) throw new Error(`TransitKeyRestore ${id}: import is not supported; declare the resource in the program instead`);
  return withNodes(props.nodes, async (nodes) => {
    const active = await findActive(nodes);
    if (!active) return { id, props };
    const key = await readTransitKey(nodes.client(active, props.token), normMount(props.mountPath), props.keyName);
    const helperVersion = key?.latest_version ?? 0;
    const other = key && differentKeyVersion(key.keys, backupKeyTimes(props.backup));
    if (other) {
      // Not a copy of the unsealer's key at all: the update that follows refuses it, naming what to do.
      const verdict = `ANOTHER KEY: the helper's ${normMount(props.mountPath)}/${props.keyName} is not a copy of the unsealer's key (version ${other} was created at another time)`;
      return { id, props: { ...props, helperVersion, inSync: false, verdict } };
    }
    return { id, props: { ...props, helperVersion, ...restoreVerdict(props, helperVersion, props.latestVersion) } };
  });
}

async function remove(): Promise<void> {}

export const transitKeyRestoreOps: ProviderOps<TransitKeyRestoreInputs, TransitKeyRestoreOutputs> = {
  check,
  diff,
  create,
  update,
  read,
  delete: remove,
};

export const transitKeyRestoreProvider = trampoline<TransitKeyRestoreInputs, TransitKeyRestoreOutputs>(
  "providers/transit-key-restore",
  "transitKeyRestoreOps",
  { read: true },
);

export class TransitKeyRestore extends pulumi.dynamic.Resource {
  declare readonly helperVersion: pulumi.Output<number>;
  declare readonly inSync: pulumi.Output<boolean>;
  declare readonly verdict: pulumi.Output<string>;

  constructor(name: string, args: TransitKeyRestoreArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      transitKeyRestoreProvider,
      name,
      { ...args, version: TRANSIT_KEY_RESTORE_VERSION, helperVersion: undefined, inSync: undefined, verdict: undefined },
      withSecretOutputs(opts, ["backup", "token", "nodes"]),
      "vault-mutual-unseal",
      "TransitKeyRestore",
    );
  }
}
