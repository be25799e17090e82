/**
 * TransitKeyCopy: the helper's copy of the transit key that unseals `vault`, the way out of
 * a deadlock. Create and update take a backup on the unsealer and restore it on the helper
 * (force: a newer copy replaces an older one), then run the core's drift check.
 *
 * How drift makes `pulumi up` copy again. The key moves outside Pulumi (a rotation by an
 * operator, an `auto_rotate_period`), so no input can carry its version: an
 * `expectedVersion` input would need the program to know the version, which only reading
 * the unsealer tells. So `read` (pulumi refresh, `up --refresh`, or every run with
 * `options: refresh: always` in Pulumi.yaml) asks the unsealer for the key's latest version
 * and the helper for its copy's (or, when the helper is sealed, the unsealer's record of its
 * last backup) and stores `inSync`/`verdict`; `diff` takes the same look on every `up` and
 * preview (live-state.ts; the recorded state decides when the servers cannot be asked), and
 * a drift is a change: the update copies again, with no `--refresh` needed.
 * With `failOnDrift` (default) a copy that is still behind after the update fails the run
 * loudly instead of leaving a deadlock path that breaks at the next leader change.
 *
 * Nothing replaces it: another helper or key is simply copied to. delete leaves the helper's
 * copy in place (it is Vault data, and the last resort in a deadlock).
 */
import * as pulumi from "@pulumi/pulumi";
import { checkKeyDrift, copyTransitKey, KeyDrift, KeyRef, unsealedHelper } from "../core/steps/key-copy";
import { activeClient, findActive } from "../core/steps/node-state";
import { normMount } from "../core/steps/transit-link";
import { clusterIdentity, NodeAccess, NodeAccessArgs, nodeAccessProblems, withNodes } from "./node-access";
import { driftDiff } from "./live-state";
import { ProviderOps, trampoline } from "./project-require";
import { checked, checkVersion, Failures, optionalBoolean, requiredString, withSecretOutputs } from "./provider-inputs";

export const TRANSIT_KEY_COPY_VERSION = 1;

export interface TransitKeyCopyArgs {
  /** The cluster holding the key (vault-unlock, whose transit key unseals `vault`). */
  unsealer: pulumi.Input<NodeAccessArgs>;
  /** A token on the unsealer that may read, back up the key (root, or a policy with read on `<mount>/keys/<key>` and `<mount>/backup/<key>`). */
  unsealerToken: pulumi.Input<string>;
  /** The helper (backup unsealer); it must be unsealed while the copy is made. */
  helper: pulumi.Input<NodeAccessArgs>;
  helperToken: pulumi.Input<string>;
  mountPath: pulumi.Input<string>;
  keyName: pulumi.Input<string>;
  /** Fail the run when the copy is still behind after the update (default true). */
  failOnDrift?: pulumi.Input<boolean>;
}

export interface TransitKeyCopyInputs {
  version?: number;
  unsealer: NodeAccess;
  unsealerToken: string;
  helper: NodeAccess;
  helperToken: string;
  mountPath: string;
  keyName: string;
  failOnDrift?: boolean;
}

export interface TransitKeyCopyOutputs extends TransitKeyCopyInputs {
  /** Key version the last copy restored on the helper. */
  keyVersion: number;
  /** The unsealer's latest key version, when last looked at. */
  latestVersion: number;
  /** The helper's newest version, when it could be asked (unsealed). */
  helperVersion?: number;
  /** Version of the unsealer's last backup. */
  backedUpVersion: number;
  inSync: boolean;
  /** Plain words: in sync, or what is behind and what to do. */
  verdict: string;
}

const INPUT_KEYS = ["version", "unsealer", "unsealerToken", "helper", "helperToken", "mountPath", "keyName", "failOnDrift"] as const;

const driftOutputs = (d: KeyDrift) => ({
  latestVersion: d.latestVersion,
  helperVersion: d.helperVersion,
  backedUpVersion: d.backedUpVersion,
  inSync: d.inSync,
  verdict: d.verdict,
});

async function check(
  _olds: Partial<TransitKeyCopyInputs>,
  news: TransitKeyCopyInputs,
): Promise<pulumi.dynamic.CheckResult<TransitKeyCopyInputs>> {
  const f = new Failures();
  const n = news as unknown as Record<string, unknown>;
  checkVersion(news, TRANSIT_KEY_COPY_VERSION, f);
  nodeAccessProblems(news.unsealer, "unsealer", f);
  nodeAccessProblems(news.helper, "helper", f);
  const u = clusterIdentity(news.unsealer);
  if (u !== undefined && u === clusterIdentity(news.helper))
    f.add("helper", `is the same cluster as unsealer (${u}): the copy must live on the backup unsealer`);
  f.field(n, "unsealerToken", "unsealerToken", requiredString);
  f.field(n, "helperToken", "helperToken", requiredString);
  f.field(
    n,
    "mountPath",
    "mountPath",
    (v) => requiredString(v) ?? (normMount(v as string) === "" ? "must name a mount, e.g. transit" : undefined),
  );
  f.field(
    n,
    "keyName",
    "keyName",
    (v) =>
      requiredString(v) ?? (/^[A-Za-z0-9_.-]+$/.test(v as string) ? undefined : `"${v}" may only hold letters, digits, '.', '_' and '-'`),
  );
  f.field(n, "failOnDrift", "failOnDrift", optionalBoolean);
  return checked({ ...news, failOnDrift: news.failOnDrift ?? true }, f);
}

async function diff(id: string, olds: TransitKeyCopyOutputs, news: TransitKeyCopyInputs): Promise<pulumi.dynamic.DiffResult> {
  // A drift seen now (or recorded by a refresh) is a change: the update copies again.
  return driftDiff(id, olds, news, INPUT_KEYS, read, (now) => now.inSync === false);
}

async function copy(inputs: TransitKeyCopyInputs): Promise<TransitKeyCopyOutputs> {
  const ref: KeyRef = { mountPath: inputs.mountPath, keyName: inputs.keyName };
  return withNodes(inputs.unsealer, (unsealer) =>
    withNodes(inputs.helper, async (helper) => {
      const u = await activeClient(unsealer, inputs.unsealerToken);
      const h = await unsealedHelper(helper, inputs.helperToken);
      const { version } = await copyTransitKey(u, h, ref);
      const drift = await checkKeyDrift(u, ref, h);
      if (!drift.inSync && (inputs.failOnDrift ?? true))
        throw new Error(`TransitKeyCopy ${normMount(ref.mountPath)}/${ref.keyName}: ${drift.verdict}`);
      return { ...inputs, keyVersion: version, ...driftOutputs(drift) };
    }),
  );
}

async function create(inputs: TransitKeyCopyInputs): Promise<pulumi.dynamic.CreateResult<TransitKeyCopyOutputs>> {
  return {
    id: `transit-key-copy:${clusterIdentity(inputs.unsealer)}->${clusterIdentity(inputs.helper)}:${normMount(inputs.mountPath)}/${inputs.keyName}`,
    outs: await copy(inputs),
  };
}

async function update(
  _id: string,
  _olds: TransitKeyCopyOutputs,
  news: TransitKeyCopyInputs,
): Promise<pulumi.dynamic.UpdateResult<TransitKeyCopyOutputs>> {
  return { outs: await copy(news) };
}

/** Records drift; never fails because of it (the update that follows does, with failOnDrift). */
async function read(id: string, props?: TransitKeyCopyOutputs): Promise<pulumi.dynamic.ReadResult<TransitKeyCopyOutputs>> {
  if (!props?.unsealer || !props.helper)
    throw new Error(`TransitKeyCopy ${id}: import is not supported; declare the resource in the program instead`);
  const ref: KeyRef = { mountPath: props.mountPath, keyName: props.keyName };
  return withNodes(props.unsealer, async (unsealer) => {
    const active = await findActive(unsealer);
    // A sealed unsealer cannot tell; keep what is known rather than fail the refresh.
    if (!active) return { id, props };
    const u = unsealer.client(active, props.unsealerToken);
    // A sealed (or unreachable) helper cannot be asked: the unsealer's record of its last backup tells instead.
    const helperNow = await withNodes(props.helper, async (helper) => {
      const a = await findActive(helper);
      return a ? checkKeyDrift(u, ref, helper.client(a, props.helperToken)) : undefined;
    }).catch(() => undefined);
    const drift = helperNow ?? (await checkKeyDrift(u, ref));
    return { id, props: { ...props, ...driftOutputs(drift) } };
  });
}

/** Leaves the helper's copy in place: it is Vault data, and the last resort in a deadlock. */
async function remove(): Promise<void> {}

export const transitKeyCopyOps: ProviderOps<TransitKeyCopyInputs, TransitKeyCopyOutputs> = {
  check,
  diff,
  create,
  update,
  read,
  delete: remove,
};

export const transitKeyCopyProvider = trampoline<TransitKeyCopyInputs, TransitKeyCopyOutputs>(
  "providers/transit-key-copy",
  "transitKeyCopyOps",
  { read: true },
);

export class TransitKeyCopy extends pulumi.dynamic.Resource {
  declare readonly keyVersion: pulumi.Output<number>;
  declare readonly latestVersion: pulumi.Output<number>;
  declare readonly helperVersion: pulumi.Output<number | undefined>;
  declare readonly backedUpVersion: pulumi.Output<number>;
  declare readonly inSync: pulumi.Output<boolean>;
  declare readonly verdict: pulumi.Output<string>;

  constructor(name: string, args: TransitKeyCopyArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      transitKeyCopyProvider,
      name,
      {
        ...args,
        version: TRANSIT_KEY_COPY_VERSION,
        keyVersion: undefined,
        latestVersion: undefined,
        helperVersion: undefined,
        backedUpVersion: undefined,
        inSync: undefined,
        verdict: undefined,
      },
      withSecretOutputs(opts, ["unsealerToken", "helperToken", "unsealer", "helper"]),
      "vault-mutual-unseal",
      "TransitKeyCopy",
    );
  }
}
