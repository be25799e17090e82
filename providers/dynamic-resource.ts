/**
 * One declaration per dynamic provider, from which everything else about it follows: the
 * input keys its diff compares, its `check` (the version, one rule per field, the rules across
 * fields, the defaults made explicit), the trampoline Pulumi serializes, and the Resource
 * class with its type token, its version input, its output properties and its secret outputs.
 *
 * Each provider file declares itself once with `defineDynamicResource` and exports what it
 * gives: `xxxOps` (the implementation the trampoline loads from that file, usable without the
 * Pulumi engine), `xxxProvider` and the Resource class. The field rules are shared
 * (provider-inputs.ts, node-access.ts), so a key name or a mount path is judged the same way by
 * every provider.
 */
import * as pulumi from "@pulumi/pulumi";
import { driftDiff } from "./live-state";
import { ProviderOps, trampoline } from "./project-require";
import { changedKeys, checked, checkVersion, Failures, isUnknown, withSecretOutputs } from "./provider-inputs";

/**
 * How one input field is judged: a function returning the reason it is wrong (undefined when
 * fine), or `{ nested }` for a structured input that reports each problem under its own path
 * (e.g. "nodes.namespace"). Unknown values (preview) are never judged.
 */
export type FieldRule = ((v: unknown) => string | undefined) | { nested: (v: unknown, path: string, f: Failures) => void };

/** Every input but `version` (which every resource has, judged by checkVersion) gets a rule. */
export type FieldRules<I> = { [K in Exclude<keyof I, "version">]-?: FieldRule };

/** The project's package in every type token: `pulumi-nodejs:dynamic/vault-mutual-unseal:<type>`. */
const PACKAGE = "vault-mutual-unseal";

export interface DynamicResourceDeclaration<I extends { version?: number }, O extends I> {
  /** The last part of the type token, e.g. "VaultInit". It is in every URN: never rename it. */
  type: string;
  /** This provider's own file, from the project root without extension: what the serialized provider loads. */
  module: string;
  /** The name under which that file exports `ops`. */
  opsExport: string;
  /** Provider-behaviour version; raise it when a state written by this code must be read differently. */
  version: number;
  fields: FieldRules<I>;
  /** Rules across fields (and against the old inputs), run after the field rules with what they found. */
  across?: (olds: Partial<I>, news: I, f: Failures) => void;
  /** Defaults made explicit by check, so that the stored inputs compare equal on the next run. */
  defaults?: (news: I) => I;
  /** Output properties the Resource class registers (filled in by the provider). */
  outputs: (keyof O & string)[];
  /**
   * Inputs and outputs the state keeps encrypted: keys, tokens, backups, and the node access
   * (it holds a kubeconfig). Given as inputs, they are made secret whatever the caller passed.
   */
  secretOutputs: (keyof O & string)[];
  /**
   * For a resource whose live state can drift: when the inputs did not change, `diff` asks
   * `read` for the state now and updates exactly when this says it drifted (live-state.ts).
   */
  drifted?: (now: O) => boolean;
  /** The implementation; `check` comes from the declaration, `diff` too unless given. */
  ops: Omit<ProviderOps<I, O>, "check" | "diff"> & Partial<Pick<ProviderOps<I, O>, "diff">>;
}

export interface DynamicResource<I, O, A> {
  /** "version" and every declared field: what a diff compares. */
  inputKeys: readonly (keyof I & string)[];
  /** The implementation the serialized provider calls; also callable directly (tests, the lab). */
  ops: ProviderOps<I, O>;
  /** The provider object Pulumi serializes into the state: a trampoline into `ops` (project-require.ts). */
  provider: pulumi.dynamic.ResourceProvider<I, O>;
  /** The base of the exported Resource class, which adds its `declare readonly` outputs. */
  Resource: new (name: string, args: A, opts?: pulumi.CustomResourceOptions) => pulumi.dynamic.Resource;
}

/** Judges `news` field by field, then across fields; every problem is reported at once. */
function checkWith<I extends { version?: number }, O extends I>(decl: DynamicResourceDeclaration<I, O>) {
  return async (olds: Partial<I>, news: I): Promise<pulumi.dynamic.CheckResult<I>> => {
    const f = new Failures();
    const n = news as unknown as Record<string, unknown>;
    checkVersion(news, decl.version, f);
    for (const [key, rule] of Object.entries(decl.fields) as [string, FieldRule][]) {
      if (typeof rule === "function") f.field(n, key, key, rule);
      else if (!isUnknown(n[key])) rule.nested(n[key], key, f);
    }
    decl.across?.(olds, news, f);
    return checked(decl.defaults ? decl.defaults(news) : news, f);
  };
}

/**
 * `A` is the Args interface of the Resource class (Inputs as `pulumi.Input`s); its keys must
 * be input keys, so a field cannot be added to the Args and forgotten in the rules.
 */
export function defineDynamicResource<
  I extends { version?: number },
  O extends I,
  A extends { [K in keyof A]: K extends keyof I ? unknown : never },
>(decl: DynamicResourceDeclaration<I, O>): DynamicResource<I, O, A> {
  const inputKeys = ["version", ...Object.keys(decl.fields)] as (keyof I & string)[];
  const read = decl.ops.read;
  // A programming error, caught when the provider's file loads: a drift look needs a read.
  if (decl.drifted && !read)
    throw new Error(`${decl.type}: \`drifted\` is declared but ops.read is not: the live look has nothing to call`);
  const diff: ProviderOps<I, O>["diff"] =
    decl.ops.diff ??
    (async (id, olds, news) => {
      if (decl.drifted && read) return driftDiff<I, O>(id, olds, news, inputKeys, read, decl.drifted);
      return { changes: changedKeys<I>(olds, news, inputKeys).length > 0, replaces: [] };
    });
  const ops: ProviderOps<I, O> = { ...decl.ops, check: checkWith(decl), diff };
  const provider = trampoline<I, O>(decl.module, decl.opsExport, { read: read !== undefined });
  const outputsUnset = Object.fromEntries(decl.outputs.map((k) => [k, undefined]));

  class Resource extends pulumi.dynamic.Resource {
    constructor(name: string, args: A, opts?: pulumi.CustomResourceOptions) {
      // The state keeps inputs as they arrive: a key or token passed as a plain value would
      // be stored in clear text (additionalSecretOutputs covers outputs only), so every
      // declared secret that is given as an input is made secret here, whoever the caller.
      const given = args as Record<string, unknown>;
      const secretInputs = Object.fromEntries(
        decl.secretOutputs.filter((k) => given[k] !== undefined).map((k) => [k, pulumi.secret(given[k] as pulumi.Input<unknown>)]),
      );
      // Outputs first, so that an output that is also an optional input (TransitLink's policyName) takes the given value.
      super(
        provider,
        name,
        { ...outputsUnset, ...args, ...secretInputs, version: decl.version },
        withSecretOutputs(opts, decl.secretOutputs),
        PACKAGE,
        decl.type,
      );
    }
  }
  return { inputKeys, ops, provider, Resource };
}
