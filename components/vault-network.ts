/**
 * How a VaultCluster's pods are reached: its Services, the optional Ingress and the optional
 * NetworkPolicy of a cluster that exists only to unseal. Pure builders: the component
 * registers what they return.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { serviceHost, vaultNames } from "../adapters/kubernetes/names";
import { InputError } from "../core/errors";
import { Flavour } from "../core/render/server-config";
import { SERF_LAN_PORT } from "./consul-cluster";
import { API_PORT, CLUSTER_PORT } from "./vault-config";
import type { VaultExposeArgs, VaultIngressArgs, VaultNetworkPolicyArgs } from "./vault-cluster";
import { SKIP_AWAIT, activeNodeLabel, vaultPodLabels, vaultServingLabels } from "./vault-labels";

type Input<T> = pulumi.Input<T>;
type ServiceArgs = k8s.core.v1.ServiceArgs;

export interface VaultServicesSettings {
  flavour: Flavour;
  clusterName: string;
  namespace: Input<string>;
  expose?: VaultExposeArgs;
}

/** The Services of a cluster, by their role in vaultServiceNames; `external` only with `expose`. */
export interface VaultServices {
  headless: ServiceArgs;
  active: ServiceArgs;
  unsealed: ServiceArgs;
  standby: ServiceArgs;
  external?: ServiceArgs;
}

export function vaultServices(c: VaultServicesSettings): VaultServices {
  const svc = vaultNames(c.clusterName).services;
  const labels = vaultPodLabels(c.flavour, c.clusterName);
  const serving = vaultServingLabels(c.flavour, c.clusterName);
  const activeLabel = activeNodeLabel(c.flavour);
  const meta = (n: string) => ({ name: n, namespace: c.namespace, labels });
  const serviceMeta = (n: string) => ({ ...meta(n), annotations: SKIP_AWAIT });
  const port = (n: string, p: number) => ({ name: n, port: p, targetPort: n });
  const services: VaultServices = {
    headless: {
      metadata: serviceMeta(svc.headless),
      // Sealed and uninitialized pods must be reachable by name: Raft joins, cluster_addr, the core's unseal.
      spec: {
        clusterIP: "None",
        publishNotReadyAddresses: true,
        selector: labels,
        ports: [port("https", API_PORT), port("cluster", CLUSTER_PORT)],
      },
    },
    active: {
      metadata: serviceMeta(svc.active),
      spec: {
        type: "ClusterIP",
        publishNotReadyAddresses: false,
        selector: { ...serving, [activeLabel]: "true" },
        ports: [port("https", API_PORT), port("cluster", CLUSTER_PORT)],
      },
    },
    unsealed: {
      metadata: serviceMeta(svc.unsealed),
      spec: { type: "ClusterIP", publishNotReadyAddresses: false, selector: serving, ports: [port("https", API_PORT)] },
    },
    standby: {
      metadata: serviceMeta(svc.standby),
      spec: {
        type: "ClusterIP",
        publishNotReadyAddresses: false,
        selector: { ...serving, [activeLabel]: "false" },
        ports: [port("https", API_PORT), port("cluster", CLUSTER_PORT)],
      },
    },
  };
  if (c.expose) {
    const e = c.expose;
    services.external = {
      metadata: { ...meta(svc.external), annotations: pulumi.output(e.annotations ?? {}).apply((a) => ({ ...a, ...SKIP_AWAIT })) },
      spec: {
        type: e.type,
        selector: serving,
        ports: [{ ...port("https", API_PORT), nodePort: e.nodePort }],
        // Local: the client's source address survives, for sourceRanges and the NetworkPolicy's peer ranges.
        externalTrafficPolicy: "Local",
        loadBalancerIP: e.loadBalancerIP,
        loadBalancerSourceRanges: e.sourceRanges,
      },
    };
  }
  return services;
}

/** The Ingress in front of the active Service (`activeService`: its name, so the Ingress is created after it). */
export function vaultIngress(c: {
  flavour: Flavour;
  clusterName: string;
  namespace: Input<string>;
  activeService: Input<string>;
  ingress: VaultIngressArgs;
}): k8s.networking.v1.IngressArgs {
  const names = vaultNames(c.clusterName);
  const i = c.ingress;
  // ingress-nginx re-encrypts to Vault and verifies Vault's certificate against our CA (its default is not to verify).
  const verify = {
    "nginx.ingress.kubernetes.io/backend-protocol": "HTTPS",
    "nginx.ingress.kubernetes.io/proxy-ssl-verify": "on",
    "nginx.ingress.kubernetes.io/proxy-ssl-secret": pulumi.interpolate`${c.namespace}/${names.tlsSecret}`,
    "nginx.ingress.kubernetes.io/proxy-ssl-name": pulumi.all([c.activeService, c.namespace]).apply(([svc, n]) => serviceHost(svc, n)),
    "nginx.ingress.kubernetes.io/proxy-ssl-server-name": "on",
  };
  return {
    metadata: {
      name: names.ingress,
      namespace: c.namespace,
      labels: vaultPodLabels(c.flavour, c.clusterName),
      annotations: pulumi.all([i.annotations ?? {}, verify]).apply(([user, v]) => ({ ...user, ...v, ...SKIP_AWAIT })),
    },
    spec: {
      ingressClassName: i.className,
      tls: i.tlsSecretName ? [{ hosts: [i.host], secretName: i.tlsSecretName }] : undefined,
      rules: [
        {
          host: i.host,
          http: {
            paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: c.activeService, port: { number: API_PORT } } } }],
          },
        },
      ],
    },
  };
}

/** Why a NetworkPolicy with no peer is refused rather than rendered (VaultCluster checks it too, before any Output resolves). */
export const NO_PEER =
  "names no peer (no peer pods, no peer ranges): an ingress rule with no source admits every source, so the cluster would be open instead of fenced";

/** The sources of a NetworkPolicy's peer rule: the peer's pods when it runs in this Kubernetes cluster, and its ranges. */
export function unsealPeerSources(peerNamespace: string | undefined, peerPodLabels: Record<string, string> | undefined, cidrs: string[]) {
  const peers = [
    ...(peerNamespace !== undefined && peerPodLabels !== undefined
      ? [
          {
            namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": peerNamespace } },
            podSelector: { matchLabels: peerPodLabels },
          },
        ]
      : []),
    ...cidrs.map((cidr) => ({ ipBlock: { cidr } })),
  ];
  // An empty `from` is Kubernetes' "any source": fail the run rather than open the cluster.
  if (peers.length === 0) throw new InputError("networkPolicy.peerCidrs", NO_PEER);
  return peers;
}

/**
 * For a cluster that exists only to unseal (vault-unlock, the helper): its own pods, its
 * peer's (pods, ranges, or both), and (Consul storage) the gossip of its agents; nothing
 * else. The providers still reach the pods: their port-forwards go through the Kubernetes API
 * server and the kubelet into the pod's own network namespace, which NetworkPolicy does not
 * filter.
 */
export function vaultNetworkPolicy(c: {
  flavour: Flavour;
  clusterName: string;
  namespace: Input<string>;
  consul: boolean;
  policy: VaultNetworkPolicyArgs;
}): k8s.networking.v1.NetworkPolicyArgs {
  const labels = vaultPodLabels(c.flavour, c.clusterName);
  const p = c.policy;
  const tcp = (port: number) => ({ protocol: "TCP", port });
  return {
    metadata: { name: vaultNames(c.clusterName).unsealOnlyNetworkPolicy, namespace: c.namespace, labels },
    spec: {
      podSelector: { matchLabels: labels },
      policyTypes: ["Ingress"],
      ingress: [
        // Its own pods: request forwarding and Raft.
        { from: [{ podSelector: { matchLabels: labels } }], ports: [tcp(API_PORT), tcp(CLUSTER_PORT)] },
        // The peer's pods (its transit seal and peer gate), and a peer in another Kubernetes cluster.
        {
          from: pulumi
            .all([p.peerNamespace, p.peerPodLabels, p.peerCidrs ?? []])
            .apply(([peerNs, peerLabels, cidrs]) => unsealPeerSources(peerNs, peerLabels, cidrs)),
          ports: [tcp(API_PORT)],
        },
        // Consul: every agent gossips with every other agent and server (the sidecars of its own pods included).
        ...(c.consul
          ? [
              {
                from: [{ podSelector: { matchLabels: labels } }, { podSelector: { matchLabels: { "app.kubernetes.io/name": "consul" } } }],
                ports: [tcp(SERF_LAN_PORT), { protocol: "UDP", port: SERF_LAN_PORT }],
              },
            ]
          : []),
      ],
    },
  };
}
