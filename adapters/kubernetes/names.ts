/**
 * The names of every Kubernetes object this project creates or reads, derived from a
 * cluster name, in one place (vault-helm's `_helpers.tpl` `vault.fullname` is the model):
 * the components that write the objects, the node adapter and the e2e checks that read them
 * all take their names from here, so a renamed object cannot be found by one and missed by
 * another. Free of Pulumi, so the adapter can use it.
 */

/** Key of the transit token in the token Secret: the pod template's secretKeyRef and the adapter read it there. */
export const TRANSIT_TOKEN_KEY = "token";

/** Key of the init record's JSON in the init record Secret. */
export const INIT_RECORD_KEY = "record";

/** Name of the volume claim template of a Raft cluster's data (PVCs `data-<pod>`), and of Consul's. */
export const DATA_VOLUME_CLAIM = "data";

/** The objects of one Vault (or OpenBao) cluster named `clusterName`. */
export function vaultNames(clusterName: string) {
  const cn = clusterName;
  return {
    clusterName: cn,
    /** The StatefulSet; its pods are `<clusterName>-<i>`. */
    statefulSet: cn,
    pod: (i: number) => `${cn}-${i}`,
    /** The ServiceAccount, its Role and RoleBinding (service registration labels its own pod). */
    serviceAccount: cn,
    role: cn,
    roleBinding: cn,
    podDisruptionBudget: cn,
    ingress: cn,
    /** The server.hcl ConfigMap. */
    configMap: `${cn}-config`,
    /** The server certificate (`kubernetes.io/tls`). */
    tlsSecret: `${cn}-tls`,
    /** The transit seal's TLS files: the unsealer's CA and this cluster's client certificate. */
    transitTlsSecret: `${cn}-transit-tls`,
    /** The optional seal ConfigMap (seal.hcl, the peer gate's files) of a transit seal not rendered into server.hcl. */
    sealConfigMap: `${cn}-seal`,
    /** The optional Secret holding the transit token under TRANSIT_TOKEN_KEY. */
    transitTokenSecret: `${cn}-transit-token`,
    /** The Ingress's certificate (kubernetes.io/tls), from the edge CA: never the internal server key. */
    edgeTlsSecret: `${cn}-edge-tls`,
    /** The init record (keys and root token of an init not yet known to be checkpointed), under INIT_RECORD_KEY; written by the node adapter. */
    initRecordSecret: `${cn}-init-record`,
    /** The Consul client agent sidecar's config and certificate (Consul storage only). */
    consulAgentConfigMap: `${cn}-consul-agent`,
    consulTlsSecret: `${cn}-consul-tls`,
    /** The NetworkPolicy of a cluster that exists only to unseal its peer. */
    unsealOnlyNetworkPolicy: `${cn}-unseal-only`,
    dataVolumeClaim: DATA_VOLUME_CLAIM,
    /**
     * - `active`: the active node (clients, the Ingress);
     * - `unsealed` (the cluster's own name): every unsealed node, what a peer's transit seal
     *   dials (standbys forward to the active node, so a step-down never leaves it empty);
     * - `standby`, `headless` (every pod, sealed ones included: Raft joins, the providers),
     *   `external` (optional, outside the Kubernetes cluster).
     */
    services: {
      active: `${cn}-active`,
      unsealed: cn,
      standby: `${cn}-standby`,
      headless: `${cn}-internal`,
      external: `${cn}-external`,
    },
  };
}

export type VaultNames = ReturnType<typeof vaultNames>;

/** DNS name of a Service inside the Kubernetes cluster (what the certificates name). */
export const serviceHost = (service: string, namespace: string) => `${service}.${namespace}.svc`;

/** The name in a Vault cluster's certificate the providers and the adapter check: its active Service's DNS name. */
export const activeServiceHost = (clusterName: string, namespace: string) =>
  serviceHost(vaultNames(clusterName).services.active, namespace);

/** DNS name of a pod through the headless Service; `pod` is a pod's name, or `$(POD_NAME)` in its own env. */
export const vaultPodHostOf = (clusterName: string, pod: string, namespace: string) =>
  serviceHost(`${pod}.${vaultNames(clusterName).services.headless}`, namespace);

/** DNS name of pod `i` through the headless Service (Raft joins). */
export const vaultPodHost = (clusterName: string, i: number, namespace: string) =>
  vaultPodHostOf(clusterName, vaultNames(clusterName).pod(i), namespace);

/** The objects of one Consul server cluster named `clusterName`. */
export function consulNames(clusterName: string) {
  const cn = clusterName;
  const headless = `${cn}-server`;
  return {
    /** The server StatefulSet shares the headless Service's name; its pods are `<clusterName>-server-<i>`. */
    statefulSet: headless,
    pod: (i: number) => `${headless}-${i}`,
    headlessService: headless,
    /** ClusterIP Service of the ready servers. */
    service: cn,
    podDisruptionBudget: cn,
    gossipSecret: `${cn}-gossip`,
    tlsSecret: `${cn}-tls`,
    configMap: `${cn}-config`,
    networkPolicy: `${cn}-servers`,
    dataVolumeClaim: DATA_VOLUME_CLAIM,
  };
}

/** DNS name of Consul server pod `i` (an agent's retry_join). */
export const consulPodHost = (clusterName: string, i: number, namespace: string) => {
  const n = consulNames(clusterName);
  return serviceHost(`${n.pod(i)}.${n.headlessService}`, namespace);
};
