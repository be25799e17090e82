/**
 * Reading a stack's config from Pulumi: the documented keys through the zod schema (every
 * problem at once, before any resource), and the kubeconfig the providers' port-forwards use
 * (a secret: the `kubeconfig` secret config key, else the file kubectl would read).
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { ConfigError } from "./config";

export const CONFIG_NAMESPACE = "vault-mutual-unseal";

/** The raw values of `keys`: YAML objects, numbers and booleans arrive as JSON text. */
export function rawConfig(keys: string[]): Record<string, unknown> {
  const config = new pulumi.Config(CONFIG_NAMESPACE);
  const raw: Record<string, unknown> = {};
  for (const key of keys) {
    const text = config.get(key);
    if (text === undefined) continue;
    try {
      raw[key] = JSON.parse(text);
    } catch {
      raw[key] = text;
    }
  }
  return raw;
}

/**
 * The kubeconfig for the dynamic providers, which reach the pods by port-forward (the
 * Kubernetes provider gets the same content, so both act with the same credentials).
 */
export function readKubeconfig(): pulumi.Output<string> {
  const fromConfig = new pulumi.Config(CONFIG_NAMESPACE).getSecret("kubeconfig");
  if (fromConfig) return fromConfig;
  const file = (process.env.KUBECONFIG ?? "").split(path.delimiter).find((f) => f !== "") ?? path.join(os.homedir(), ".kube", "config");
  try {
    return pulumi.secret(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new ConfigError([{
      key: `${CONFIG_NAMESPACE}:kubeconfig`,
      message: `not set, and ${file} cannot be read (${(e as Error).message}): pulumi config set --secret kubeconfig "$(cat ~/.kube/config)", or set KUBECONFIG`,
    }]);
  }
}

/** The host of an https address (for certificate names and tls_server_name). */
export const hostOf = (address: string) => new URL(address).hostname;
