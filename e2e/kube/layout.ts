/**
 * Test equipment: the two Kubernetes clusters the end-to-end runs on, as data. Every name,
 * address, port and path the harness uses comes from here.
 *
 * Each cluster is one "machine": a network namespace of its own, holding the whole cluster
 * (etcd, control plane, one containerd + kubelet per node, kube-proxy, CoreDNS). Nothing
 * listens on the host's own interfaces; the host reaches each machine through a veth pair
 * on a /30 the harness creates, and the two machines reach each other through a second veth
 * pair (the "WAN" that `vault`'s emergency seal crosses to reach the helper). Deleting a
 * namespace takes its interfaces, bridges and iptables rules with it.
 */
import * as path from "path";

export const ROOT = path.resolve(__dirname, "../..");
/** Everything the harness writes: git-ignored. */
export const E2E_DIR = path.join(ROOT, ".e2e");
export const KUBE_DIR = path.join(E2E_DIR, "kube");
export const KUBECONFIG_FILE = path.join(E2E_DIR, "kubeconfig");
/** Built binaries, reused while the pinned versions match (E2E_CACHE moves it, e.g. outside the clone). */
export const CACHE_DIR = process.env.E2E_CACHE || path.join(E2E_DIR, "cache");

export const VERSIONS = { kubernetes: "v1.34.4", etcd: "v3.6.16", coredns: "v1.14.7" };

export interface ClusterLayout {
  /** Also the kubeconfig context of the deployer user (`<name>-admin` for the admin). */
  name: "primary" | "helper";
  /** Network namespace of the machine. */
  netns: string;
  /** Host end and machine end of the host link: the API server and node IP are the machine end. */
  hostIp: string;
  machineIp: string;
  hostLink: string;
  /** This machine's address on the link between the two machines. */
  wanIp: string;
  nodes: number;
  /** Pod range of node n (1-based): `${podPrefix}.${n-1}.0/24`; uncommon ranges, so that down never takes another runtime's pod namespaces for its own. */
  podPrefix: string;
  /** Local PVs made per node. */
  pvsPerNode: number;
}

export const CLUSTERS: ClusterLayout[] = [
  {
    name: "primary",
    netns: "vmu-primary",
    hostIp: "10.231.1.1",
    machineIp: "10.231.1.2",
    hostLink: "vmu-primary",
    wanIp: "10.231.3.1",
    nodes: 3,
    podPrefix: "10.232",
    pvsPerNode: 4,
  },
  {
    name: "helper",
    netns: "vmu-helper",
    hostIp: "10.231.2.1",
    machineIp: "10.231.2.2",
    hostLink: "vmu-helper",
    wanIp: "10.231.3.2",
    nodes: 1,
    podPrefix: "10.233",
    pvsPerNode: 2,
  },
];
/** Interface names of the link between the two machines, inside each namespace. */
export const WAN_LINK = "wan";
export const HOST_LINK_IN_NS = "uplink";

export const API_PORT = 6443;
export const SERVICE_CIDR = "10.96.0.0/12";
export const KUBERNETES_SERVICE_IP = "10.96.0.1";
export const DNS_SERVICE_IP = "10.96.0.10";
/** A DNS zone served by the primary cluster's CoreDNS for names outside Kubernetes (the helper's address). */
export const E2E_ZONE = "e2e.internal";
/** The host `vault`'s emergency seal dials: the helper machine's WAN address. */
export const HELPER_HOST = `vault-helper.${E2E_ZONE}`;
/** The NodePort on the helper machine behind HELPER_HOST. */
export const HELPER_NODE_PORT = 30820;

/** Kubelet ports of node n on its machine (nodes of one machine share its network namespace). */
export const kubeletPorts = (n: number) => ({ port: 10250 + 10 * (n - 1), healthz: 10248 + 10 * (n - 1) });

export const clusterDir = (c: ClusterLayout) => path.join(KUBE_DIR, c.name);
export const nodeName = (c: ClusterLayout, n: number) => (c.nodes === 1 ? `${c.name}-node` : `${c.name}-node${n}`);
export const nodeDir = (c: ClusterLayout, n: number) => path.join(clusterDir(c), nodeName(c, n));
/** The node's cgroup parent, made in every cgroup v1 hierarchy. */
export const cgroupRoot = (c: ClusterLayout, n: number) => `vmu-${nodeName(c, n)}`;
export const netnsPath = (c: ClusterLayout) => `/run/netns/${c.netns}`;

/** Images built locally (no registry here), imported into every node under these names. */
export const IMAGES = {
  pause: "docker.io/vault-mutual-unseal/pause:e2e",
  openbao: "docker.io/vault-mutual-unseal/openbao:2.7.2-e2e",
};
