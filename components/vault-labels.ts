/** Labels and annotations of a VaultCluster's objects, known before it exists. */
import { SERVING_LABEL } from "../adapters/kubernetes/options";
import { Flavour } from "../core/render/server-config";

/** Labels of a VaultCluster's server pods, known before it exists (for a peer's or its Consul's NetworkPolicy). */
export function vaultPodLabels(flavour: Flavour, clusterName: string): Record<string, string> {
  return {
    "app.kubernetes.io/name": flavour === "vault" ? "vault" : "openbao",
    "app.kubernetes.io/instance": clusterName,
    "app.kubernetes.io/component": "server",
    "app.kubernetes.io/part-of": "vault-mutual-unseal",
  };
}

/**
 * What the client Services select: this cluster's pods that are not drained (and, by
 * readiness, unsealed). The node adapter drains a pod by flipping SERVING_LABEL.
 */
export function vaultServingLabels(flavour: Flavour, clusterName: string): Record<string, string> {
  return { ...vaultPodLabels(flavour, clusterName), [SERVING_LABEL]: "true" };
}

/** The label service registration puts on each pod, "true" on the active node only. */
export const activeNodeLabel = (flavour: Flavour) => (flavour === "vault" ? "vault-active" : "openbao-active");

/**
 * Pulumi must not wait for the endpoints of what selects Vault pods: they become ready only
 * when later resources of the same run (init, unseal, the peer's transit) unseal them, so
 * waiting here would deadlock the bootstrap. The providers wait for the pods themselves.
 */
export const SKIP_AWAIT = { "pulumi.com/skipAwait": "true" };

/** Pod template annotation: sealSettingsDigest of the seal rendered into server.hcl. */
export const SEAL_CHECKSUM_ANNOTATION = "vault-mutual-unseal/seal-checksum";
