/**
 * TEST EQUIPMENT (engine stand-in for the e2e runs, not part of the product): how property
 * values cross the mock monitor. Secrets arrive as objects carrying Pulumi's signature key and
 * leave the same way; everything else is plain JSON.
 */

/** Pulumi's wire markers for a secret value (see @pulumi/pulumi/runtime/rpc.js). */
export const SIG_KEY = "4dabf18193072939515e22adb298388d";
export const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

export type Props = Record<string, unknown>;

function isSecretWrapper(v: unknown): v is { value: unknown } {
  return !!v && typeof v === "object" && (v as Props)[SIG_KEY] === SECRET_SIG;
}

/** The plain value, and the paths (`a.b[0]`) that arrived as secrets. */
export function unwrapSecrets(v: unknown, path = "", secrets: string[] = []): { value: unknown; secrets: string[] } {
  const walk = (x: unknown, p: string): unknown => {
    if (isSecretWrapper(x)) {
      secrets.push(p);
      return walk(x.value, p);
    }
    if (Array.isArray(x)) return x.map((y, i) => walk(y, `${p}[${i}]`));
    if (x && typeof x === "object") return Object.fromEntries(Object.entries(x).map(([k, y]) => [k, walk(y, p ? `${p}.${k}` : k)]));
    return x;
  };
  return { value: walk(v, path), secrets };
}

export const secretValue = (value: unknown) => ({ [SIG_KEY]: SECRET_SIG, value });

/** The top-level property a path belongs to (`data.tls.key` → `data`, `keys[0]` → `keys`). */
export const topKey = (path: string) => path.split(/[.[]/)[0];

/** Outputs as the monitor hands them back: each key listed in `secretKeys` wrapped as a secret. */
export function wrapSecrets(outputs: Props, secretKeys: Iterable<string>): Props {
  const keys = new Set(secretKeys);
  return Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, keys.has(k) ? secretValue(v) : v]));
}

/** Deep equality of JSON values, key order ignored (how the engine compares inputs). */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => sameJson(x, b[i]));
  }
  if (a && b && typeof a === "object" && typeof b === "object") {
    const ka = Object.keys(a as Props).filter((k) => (a as Props)[k] !== undefined);
    const kb = Object.keys(b as Props).filter((k) => (b as Props)[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => sameJson((a as Props)[k], (b as Props)[k]));
  }
  return false;
}

/** Drops `undefined` members so a value survives a JSON round trip unchanged. */
export const jsonClean = <T>(v: T): T => (v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T));
