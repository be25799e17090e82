/**
 * How the core reaches one Vault cluster on Kubernetes with only a kubeconfig: the pods of
 * a StatefulSet, through port-forwards made by the API server (as the article did with
 * `kubectl port-forward`). Serializable, so a dynamic provider can carry it in its inputs.
 */
import { SealStanza } from "../../core/render/seal";

/**
 * Pod label the client Services select on besides the cluster's labels (VaultCluster puts
 * "true" in the pod template). `drain` sets it to "false" on a pod before its step-down, so
 * clients and peer seals stop being sent to it; its replacement is serving again.
 */
export const SERVING_LABEL = "vault-mutual-unseal/serving";

export interface KubernetesAccess {
  /** The kubeconfig file's content (a secret: it holds credentials). */
  kubeconfig: string;
  /** Context to use; the kubeconfig's current context when absent. */
  context?: string;
  namespace: string;
  /** The StatefulSet whose pods are the cluster's nodes (pods `<statefulSet>-<i>`). */
  statefulSet: string;
  replicas: number;
  /** Container port of the Vault API. */
  port: number;
  /** TLS for talking to the pods: their CA, the name in their certificate, an optional client certificate. */
  tls: { caPem: string; serverName: string; certPem?: string; keyPem?: string };
  /** The optional ConfigMap (key `seal.hcl`) and Secret (key TRANSIT_TOKEN_KEY) the pod template reads the seal from; names from vaultNames (names.ts). */
  sealConfigMap: string;
  sealTokenSecret: string;
  /**
   * For a cluster born with its seal (VaultClusterArgs.seals, rendered into server.hcl): those
   * stanzas. The seal ConfigMap then carries no seal.hcl and only the token can change.
   */
  serverConfigSeals?: SealStanza[];
  /** The Vault container's name; default: the container that exposes `port`. */
  container?: string;
  /** How long restart() waits for the replacement pod's Vault API; default 300 s. */
  restartTimeoutMs?: number;
  /**
   * How long after a seal change a starting pod may still get the old ConfigMap/Secret
   * (kubelet propagation, clock skew), in whole seconds; default 5. See seal-record.ts.
   */
  sealPropagationGraceSeconds?: number;
  /** How long drain() waits after taking a pod out of the Services (endpoints controller, kube-proxy); whole seconds, default 3. */
  drainSeconds?: number;
}
