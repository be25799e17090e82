/**
 * Reading a stack's config from Pulumi: every key of the project's namespace through the zod
 * schema (so a misspelt key is named, not ignored), and the kubeconfig the providers'
 * port-forwards use (a secret: the `kubeconfig` secret config key, else the file kubectl
 * would read), whose contexts are checked against the config with the other problems.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { KubeConfig } from "@kubernetes/client-node";
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, Problem } from "../components/config";

export const CONFIG_NAMESPACE = "vault-mutual-unseal";
const KUBECONFIG_KEY = "kubeconfig";

/** Every value under the project's namespace but the kubeconfig, from Pulumi's config (see configValues). */
export function rawConfig(textKeys: string[]): Record<string, unknown> {
  return configValues(pulumi.runtime.allConfig(), textKeys);
}

/**
 * Pulumi hands every value over as text: YAML objects as JSON, numbers and booleans as their
 * text. Each is parsed as JSON, except the `textKeys` (strings in the schema), kept as given.
 */
export function configValues(all: Record<string, string>, textKeys: string[]): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  for (const [full, text] of Object.entries(all)) {
    if (!full.startsWith(`${CONFIG_NAMESPACE}:`)) continue;
    const key = full.slice(CONFIG_NAMESPACE.length + 1);
    if (key === KUBECONFIG_KEY) continue;
    if (textKeys.includes(key)) {
      raw[key] = text;
      continue;
    }
    try {
      raw[key] = JSON.parse(text);
    } catch {
      raw[key] = text;
    }
  }
  return raw;
}

/**
 * The kubeconfig's text (the caller keeps it secret): the `kubeconfig` secret config key,
 * else the first file of $KUBECONFIG, else ~/.kube/config. The Kubernetes provider gets the
 * same content as the port-forwards, so both act with the same credentials.
 */
export function readKubeconfig(): string {
  const fromConfig = pulumi.runtime.getConfig(`${CONFIG_NAMESPACE}:${KUBECONFIG_KEY}`);
  if (fromConfig) return fromConfig;
  const file = (process.env.KUBECONFIG ?? "").split(path.delimiter).find((f) => f !== "") ?? path.join(os.homedir(), ".kube", "config");
  try {
    return fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new ConfigError([
      {
        key: `${CONFIG_NAMESPACE}:${KUBECONFIG_KEY}`,
        message: `not set, and ${file} cannot be read (${(e as Error).message}): pulumi config set --secret kubeconfig "$(cat ~/.kube/config)", or set KUBECONFIG`,
      },
    ]);
  }
}

/** A problem for each `[key, context]` the kubeconfig does not define (or for the kubeconfig itself). */
export function contextProblems(kubeconfig: string, wanted: [key: string, context: unknown][]): Problem[] {
  const kc = new KubeConfig();
  try {
    kc.loadFromString(kubeconfig);
  } catch (e) {
    return [{ key: KUBECONFIG_KEY, message: `cannot be parsed as a kubeconfig (${(e as Error).message})` }];
  }
  const known = kc.getContexts().map((c) => c.name);
  return wanted
    .filter(([, context]) => typeof context === "string" && context !== "" && !known.includes(context))
    .map(([key, context]) => ({
      key,
      message: `"${context}" is not a context of the kubeconfig (it has: ${known.length ? known.join(", ") : "none"}); kubectl config get-contexts lists them`,
    }));
}
