/**
 * TEST EQUIPMENT (engine stand-in for the e2e runs, not part of the product): dynamic
 * resources as Pulumi's dynamic-provider host runs them
 * (node_modules/@pulumi/pulumi/cmd/dynamic-provider/index.js): the serialized `__provider`
 * text is loaded with require-from-string and `.handler()`, in the process's working
 * directory (the project root: providers/project-require.ts relies on it), then
 * check → create, or check → diff → update / replace, and delete.
 */
import type { ResourceProvider } from "@pulumi/pulumi/dynamic";
import { sameJson } from "./values";

type Props = Record<string, unknown>;
export const PROVIDER_KEY = "__provider";

export const isDynamicType = (type: string) => type === "pulumi-nodejs:dynamic:Resource" || type.startsWith("pulumi-nodejs:dynamic/");

const cache = new Map<string, ResourceProvider>();

/** Loads a serialized provider exactly as the host does (once per text, as the host caches it). */
export function loadProvider(serialized: unknown): ResourceProvider {
  if (typeof serialized !== "string" || serialized === "")
    throw new Error(`the resource has no serialized provider (input ${PROVIDER_KEY})`);
  let provider = cache.get(serialized);
  if (!provider) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the host's own loader
    const requireFromString = require("require-from-string") as (code: string) => { handler(): ResourceProvider };
    provider = requireFromString(serialized).handler();
    cache.set(serialized, provider);
  }
  return provider;
}

export class CheckFailedError extends Error {}

/** `check`; its failures become one error naming every property and its reason. */
export async function checkInputs(provider: ResourceProvider, olds: Props, news: Props): Promise<Props> {
  let inputs = news;
  if (provider.check) {
    const result = await provider.check(olds, news);
    if (result.failures && result.failures.length > 0) {
      throw new CheckFailedError(`check failed: ${result.failures.map((f) => `${f.property}: ${f.reason}`).join("; ")}`);
    }
    if (result.inputs) inputs = result.inputs as Props;
  }
  return { ...inputs, [PROVIDER_KEY]: news[PROVIDER_KEY] };
}

export interface DynamicDiff {
  changes: boolean;
  replaces: string[];
  deleteBeforeReplace: boolean;
}

/** `diff`; with no `diff` or an undecided answer, the engine compares old and new inputs. */
export async function diffResource(
  provider: ResourceProvider,
  id: string,
  oldOutputs: Props,
  oldInputs: Props,
  news: Props,
): Promise<DynamicDiff> {
  const legacy = !sameJson(oldInputs, news);
  if (!provider.diff) return { changes: legacy, replaces: [], deleteBeforeReplace: false };
  const r = await provider.diff(id, oldOutputs, news);
  return { changes: r.changes ?? legacy, replaces: r.replaces ?? [], deleteBeforeReplace: r.deleteBeforeReplace ?? false };
}

export async function createResource(provider: ResourceProvider, inputs: Props): Promise<{ id: string; outputs: Props }> {
  const r = await provider.create(inputs);
  if (!r.id) throw new Error("create returned no id");
  return { id: r.id, outputs: { ...(r.outs as Props), [PROVIDER_KEY]: inputs[PROVIDER_KEY] } };
}

export async function updateResource(provider: ResourceProvider, id: string, oldOutputs: Props, news: Props): Promise<Props> {
  const r = provider.update ? ((await provider.update(id, oldOutputs, news)) ?? {}) : {};
  return { ...(r.outs as Props), [PROVIDER_KEY]: news[PROVIDER_KEY] };
}

export async function deleteResource(provider: ResourceProvider, id: string, outputs: Props): Promise<void> {
  if (provider.delete) await provider.delete(id, outputs);
}
