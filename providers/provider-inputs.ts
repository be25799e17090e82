/**
 * Validating and diffing the resolved inputs of the dynamic providers.
 *
 * During a preview an input that depends on a resource not created yet arrives as Pulumi's
 * unknown sentinel (a fixed string), anywhere in the input tree. `check` validates only what
 * is known and `diff` treats an unknown value as "may have changed". Neither ever calls a
 * server: preview runs them in pull-request checks.
 */
import * as pulumi from "@pulumi/pulumi";
import { keyNameProblem, normMount } from "../core/steps/transit-link";

type CheckFailure = pulumi.dynamic.CheckFailure;

/** The value an input has during a preview while it is not known yet. */
export const UNKNOWN: string = pulumi.runtime.unknownValue;

export function isUnknown(v: unknown): boolean {
  return v === UNKNOWN;
}

/** True when `v` or anything inside it is unknown. */
export function containsUnknown(v: unknown): boolean {
  if (isUnknown(v)) return true;
  if (Array.isArray(v)) return v.some(containsUnknown);
  if (v && typeof v === "object") return Object.values(v).some(containsUnknown);
  return false;
}

/** Collects check failures, each naming its property path; unknown values are never failures. */
export class Failures {
  readonly list: CheckFailure[] = [];

  add(property: string, reason: string): void {
    this.list.push({ property, reason });
  }

  /** Validates `obj[key]` with `test` (which returns a reason, or undefined when fine) unless it is unknown. */
  field(obj: Record<string, unknown>, key: string, path: string, test: (v: unknown) => string | undefined): void {
    const v = obj[key];
    if (isUnknown(v)) return;
    const reason = test(v);
    if (reason) this.add(path, reason);
  }
}

/** The check result: the inputs as given (unknowns untouched) and the failures, if any. */
export function checked<T>(news: T, failures: Failures): pulumi.dynamic.CheckResult<T> {
  return failures.list.length > 0 ? { inputs: news, failures: failures.list } : { inputs: news };
}

// Reasons for the common shapes; each returns undefined when the value is fine.

export const requiredString = (v: unknown): string | undefined =>
  typeof v === "string" && v.trim() !== "" ? undefined : `must be a non-empty string, got ${describeValue(v)}`;

export const optionalString = (v: unknown): string | undefined => (v === undefined ? undefined : requiredString(v));

export const optionalBoolean = (v: unknown): string | undefined =>
  v === undefined || typeof v === "boolean" ? undefined : `must be true or false, got ${describeValue(v)}`;

export const wholeNumber =
  (min: number, max = Number.MAX_SAFE_INTEGER) =>
  (v: unknown): string | undefined =>
    typeof v === "number" && Number.isInteger(v) && v >= min && v <= max
      ? undefined
      : `must be a whole number from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : " up"}, got ${describeValue(v)}`;

/** A non-empty list of non-empty strings (unknown elements pass). */
export const stringList =
  (what: string) =>
  (v: unknown): string | undefined => {
    if (!Array.isArray(v) || v.length === 0) return `must be a non-empty list of ${what}, got ${describeValue(v)}`;
    const bad = v.findIndex((x) => !isUnknown(x) && (typeof x !== "string" || x === ""));
    return bad >= 0 ? `element ${bad} must be a non-empty string (${what})` : undefined;
  };

/** `rule` for a value that may be left out. */
export const optional =
  (rule: (v: unknown) => string | undefined) =>
  (v: unknown): string | undefined =>
    v === undefined ? undefined : rule(v);

/** A transit key name: one path segment of the transit API (`<mount>/keys/<name>`), so no '/' and no spaces. */
export const keyName = (v: unknown): string | undefined => requiredString(v) ?? keyNameProblem(v as string);

/** A secrets-engine mount path ("transit", "transit/", "seal/transit"); slashes around it are ignored, so "/" names none. */
export const mountPath = (v: unknown): string | undefined =>
  requiredString(v) ?? (normMount(v as string) === "" ? "must name a mount, e.g. transit" : undefined);

/** A token, saying what it must be when missing (never showing the value). */
export const token =
  (what: string) =>
  (v: unknown): string | undefined =>
    requiredString(v) ? `must be ${what} (got ${describeValue(v)})` : undefined;

/** The operator token (operator-token.ts) of `whose` cluster, or a root token, saying `why` the resource needs one. */
export const adminToken = (whose: string, why: string) => token(`${whose} operator token (or root token): ${why}`);

/** Shows a value in a failure message without ever showing a secret: only its type and length. */
export function describeValue(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (typeof v === "string") return v === "" ? "an empty string" : `a string`;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return `a list of ${v.length}`;
  return typeof v;
}

/**
 * The provider-behaviour version every resource carries. A state written by a newer
 * program than this checkout is refused rather than misread.
 */
export function checkVersion(news: { version?: unknown }, current: number, failures: Failures): void {
  failures.field(news as Record<string, unknown>, "version", "version", (v) => {
    if (v === undefined) return undefined;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1) return `must be a whole number ≥ 1, got ${describeValue(v)}`;
    return v > current
      ? `this resource was written by a newer version (${v}) of the providers than this checkout knows (${current}): update the checkout`
      : undefined;
  });
}

/** Deep equality of JSON-like values; an unknown value on either side counts as a change. */
export function sameValue(a: unknown, b: unknown): boolean {
  if (containsUnknown(a) || containsUnknown(b)) return false;
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === "object") {
    return Object.fromEntries(
      Object.entries(v)
        .filter(([, x]) => x !== undefined)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, x]) => [k, canonical(x)]),
    );
  }
  return v;
}

/** The keys of `keys` whose values differ between the old state and the new inputs. */
export function changedKeys<T extends object>(olds: Partial<T>, news: Partial<T>, keys: readonly (keyof T & string)[]): string[] {
  return keys.filter((k) => !sameValue(olds[k], news[k]));
}

/** Resource options with `names` added to `additionalSecretOutputs` (keys, tokens, credentials). */
export function withSecretOutputs(opts: pulumi.CustomResourceOptions | undefined, names: string[]): pulumi.CustomResourceOptions {
  return { ...opts, additionalSecretOutputs: [...new Set([...(opts?.additionalSecretOutputs ?? []), ...names])] };
}

/** An object whose fields may each be an Input (for the args of the resource classes). */
export type InputFields<T> = { [K in keyof T]: pulumi.Input<T[K]> };

/** The reason of a core InputError without its leading "key: ". */
export function reasonOf(e: { key: string; message: string }): string {
  return e.message.startsWith(`${e.key}: `) ? e.message.slice(e.key.length + 2) : e.message;
}
