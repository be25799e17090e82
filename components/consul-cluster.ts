/**
 * One Consul server cluster per Vault cluster (the article's post-mortem: a Consul shared by
 * both clusters seals both when it dies). Gossip is encrypted, every RPC and HTTPS call is
 * mutual TLS with hostname verification, and the probes never restart a server for having
 * no leader: restarting cannot bring a quorum back, it only delays it.
 *
 * Also exports what a Vault pod needs to run a Consul client agent as a sidecar.
 */
import { createHash } from "crypto";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { InputError } from "../core/errors";
import { consulNames, consulPodHost } from "../adapters/kubernetes/names";
import { TlsBundle, tlsSecretData } from "./pki";
import { containerSecurityContext, podSecurityContext } from "./pod-hardening";
import { ZoneSpread, antiAffinity } from "./pod-spread";

// Part of ConsulClusterArgs, and of VaultClusterArgs, which import it from here.
export type { ZoneSpread };

type Input<T> = pulumi.Input<T>;
type Container = k8s.types.input.core.v1.Container;

export const CONSUL_HTTPS_PORT = 8501;
/** Gossip between every agent and server (TCP and UDP); bound on the pod IP. */
export const SERF_LAN_PORT = 8301;
/** WAN gossip between servers (TCP and UDP). */
export const SERF_WAN_PORT = 8302;
/** Server RPC, from agents and other servers. */
export const CONSUL_SERVER_PORT = 8300;
const CONSUL_DIRS = { config: "/consul/config", gossip: "/consul/gossip", tls: "/consul/tls", data: "/consul/data" };

/** What a Consul client agent needs to join a ConsulCluster (an output of ConsulCluster). */
export interface ConsulAgentSettings {
  image: string;
  datacenter: string;
  /** DNS names of the server pods. */
  retryJoin: string[];
  /** Secret (same namespace) with key `gossip.json` holding the gossip encryption key. */
  gossipSecretName: string;
}

export interface ConsulClusterArgs {
  /** Namespace of every object; the Vault cluster using this Consul lives here too (it mounts the gossip Secret). */
  namespace: Input<string>;
  /** Prefix of the Kubernetes object names and DNS names (certificates are issued for them); default: the Pulumi name. */
  clusterName?: string;
  /** Server pods; odd only; default 3. */
  replicas?: Input<number>;
  /** Default `hashicorp/consul:1.20.0`. */
  image?: Input<string>;
  /** Default `dc1`; the server certificate must carry `server.<datacenter>.consul`. */
  datacenter?: Input<string>;
  /** Server certificate (with client auth, `server.<datacenter>.consul`, the headless wildcard) and CA, e.g. from Pki. */
  tls: Input<TlsBundle>;
  /** StorageClass of the data volumes; default: the cluster's default class. */
  storageClassName?: Input<string>;
  /** Size of each data volume; default `10Gi`. */
  storageSize?: Input<string>;
  resources?: Input<k8s.types.input.core.v1.ResourceRequirements>;
  /** Zones too: "preferred" spreads pods over zones where it can, "required" puts at most one per zone; default "none" (hosts always differ). */
  zoneSpread?: ZoneSpread;
  /**
   * Labels of the pods whose client agents use this Consul (`vaultPodLabels` of its Vault
   * cluster). When set, a NetworkPolicy admits only those pods and the servers themselves.
   */
  clientPodLabels?: Record<string, string>;
}

/** Throws unless `n` is a positive odd integer; returns it. */
export function checkOddReplicas(n: number, key = "replicas"): number {
  if (!Number.isInteger(n) || n < 1 || n % 2 === 0) {
    throw new InputError(
      key,
      `${n} is not a positive odd number: a Raft or Consul quorum needs an odd server count (3 or 5); an even count tolerates no more failures than one less`,
    );
  }
  return n;
}

/** The agent config file (JSON: Consul's own format). Gossip key and TLS material are never in it. */
export function renderConsulConfig(c: { server: boolean; datacenter: string; retryJoin: string[]; bootstrapExpect?: number }): string {
  return JSON.stringify(
    {
      datacenter: c.datacenter,
      data_dir: CONSUL_DIRS.data,
      server: c.server,
      ...(c.server ? { bootstrap_expect: c.bootstrapExpect, ui_config: { enabled: false }, performance: { raft_multiplier: 1 } } : {}),
      retry_join: c.retryJoin,
      bind_addr: "0.0.0.0",
      // Servers answer the HTTPS API on the pod network; an agent only for its own pod.
      client_addr: c.server ? "0.0.0.0" : "127.0.0.1",
      ports: { http: -1, https: CONSUL_HTTPS_PORT, grpc: -1, dns: -1 },
      encrypt_verify_incoming: true,
      encrypt_verify_outgoing: true,
      tls: {
        defaults: {
          ca_file: `${CONSUL_DIRS.tls}/ca.crt`,
          cert_file: `${CONSUL_DIRS.tls}/tls.crt`,
          key_file: `${CONSUL_DIRS.tls}/tls.key`,
          verify_incoming: true,
          verify_outgoing: true,
        },
        internal_rpc: { verify_server_hostname: true },
      },
      leave_on_terminate: !c.server,
      disable_update_check: true,
    },
    null,
    2,
  );
}

const fieldEnv = (name: string, fieldPath: string) => ({ name, valueFrom: { fieldRef: { fieldPath } } });

/** Env for the consul CLI inside a pod: HTTPS on loopback, verified against the CA, with the pod's certificate. */
function consulCliEnv() {
  return [
    { name: "CONSUL_HTTP_ADDR", value: `https://127.0.0.1:${CONSUL_HTTPS_PORT}` },
    { name: "CONSUL_CACERT", value: `${CONSUL_DIRS.tls}/ca.crt` },
    { name: "CONSUL_CLIENT_CERT", value: `${CONSUL_DIRS.tls}/tls.crt` },
    { name: "CONSUL_CLIENT_KEY", value: `${CONSUL_DIRS.tls}/tls.key` },
  ];
}

/** The `consul agent` container; `volumes` names the config, gossip, tls and data volumes. */
export function consulContainer(c: {
  name: string;
  image: Input<string>;
  server: boolean;
  volumes: { config: string; gossip: string; tls: string; data: string };
  resources?: Input<k8s.types.input.core.v1.ResourceRequirements>;
}): Container {
  return {
    name: c.name,
    image: c.image,
    command: [
      "consul",
      "agent",
      `-config-file=${CONSUL_DIRS.config}/consul.json`,
      `-config-file=${CONSUL_DIRS.gossip}/gossip.json`,
      "-advertise=$(POD_IP)",
      "-node=$(POD_NAME)",
    ],
    env: [fieldEnv("POD_IP", "status.podIP"), fieldEnv("POD_NAME", "metadata.name"), ...consulCliEnv()],
    ports: [
      { name: "https", containerPort: CONSUL_HTTPS_PORT },
      { name: "serflan-tcp", containerPort: SERF_LAN_PORT, protocol: "TCP" },
      { name: "serflan-udp", containerPort: SERF_LAN_PORT, protocol: "UDP" },
      ...(c.server ? [{ name: "server", containerPort: CONSUL_SERVER_PORT }] : []),
    ],
    volumeMounts: [
      { name: c.volumes.config, mountPath: CONSUL_DIRS.config, readOnly: true },
      { name: c.volumes.gossip, mountPath: CONSUL_DIRS.gossip, readOnly: true },
      { name: c.volumes.tls, mountPath: CONSUL_DIRS.tls, readOnly: true },
      { name: c.volumes.data, mountPath: CONSUL_DIRS.data },
    ],
    // Ready = this server sees a leader (list-peers is answered by the leader only).
    readinessProbe: c.server
      ? { exec: { command: ["consul", "operator", "raft", "list-peers"] }, periodSeconds: 3, timeoutSeconds: 5, failureThreshold: 2 }
      : undefined,
    // Alive = the agent answers gossip; never tied to the leader, or a lost quorum would restart every server.
    // Serf LAN (8301) listens on the pod IP for servers and agents alike; an agent's HTTPS API only on loopback, out of the kubelet's reach.
    livenessProbe: { tcpSocket: { port: SERF_LAN_PORT }, initialDelaySeconds: 10, periodSeconds: 10, failureThreshold: 3 },
    // The article's sidecar: let the Vault container drain for 6 s, then leave the gossip pool cleanly.
    lifecycle: { preStop: { exec: { command: c.server ? ["consul", "leave"] : ["/bin/sh", "-c", "sleep 6 && consul leave"] } } },
    resources: c.resources ?? { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "256Mi" } },
    securityContext: containerSecurityContext(),
  };
}

export class ConsulCluster extends pulumi.ComponentResource {
  readonly namespace: pulumi.Output<string>;
  /** ClusterIP Service (ready servers only) and headless Service (every server pod). */
  readonly serviceName: pulumi.Output<string>;
  readonly headlessServiceName: pulumi.Output<string>;
  /** What a Vault pod's client agent needs; pair it with an agent certificate. */
  readonly agentSettings: pulumi.Output<ConsulAgentSettings>;
  /** The gossip encryption key (secret). */
  readonly gossipKey: pulumi.Output<string>;

  constructor(name: string, args: ConsulClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    if (typeof args.replicas === "number") checkOddReplicas(args.replicas); // known now: fail before anything is registered
    super("vault-mutual-unseal:index:ConsulCluster", name, {}, opts);
    const cn = args.clusterName ?? name;
    const ns = pulumi.output(args.namespace);
    const replicas = pulumi.output(args.replicas ?? 3).apply((n) => checkOddReplicas(n));
    const image = pulumi.output(args.image ?? "hashicorp/consul:1.20.0");
    const datacenter = pulumi.output(args.datacenter ?? "dc1");
    const labels = {
      "app.kubernetes.io/name": "consul",
      "app.kubernetes.io/instance": cn,
      "app.kubernetes.io/component": "server",
      "app.kubernetes.io/part-of": "vault-mutual-unseal",
    };
    const names = consulNames(cn);
    const meta = (n: string) => ({ name: n, namespace: ns, labels });
    const retryJoin = pulumi.all([replicas, ns]).apply(([r, n]) => Array.from({ length: r }, (_, i) => consulPodHost(cn, i, n)));

    const gossip = new random.RandomBytes(`${name}-gossip-key`, { length: 32 }, { parent: this });
    this.gossipKey = pulumi.secret(gossip.base64);
    const gossipSecret = new k8s.core.v1.Secret(
      `${name}-gossip`,
      {
        metadata: meta(names.gossipSecret),
        stringData: { "gossip.json": this.gossipKey.apply((k) => JSON.stringify({ encrypt: k })) },
      },
      { parent: this },
    );
    const tlsSecret = new k8s.core.v1.Secret(
      `${name}-tls`,
      { metadata: meta(names.tlsSecret), type: "kubernetes.io/tls", stringData: tlsSecretData(args.tls) },
      { parent: this },
    );
    const config = new k8s.core.v1.ConfigMap(
      `${name}-config`,
      {
        metadata: meta(names.configMap),
        data: {
          "consul.json": pulumi
            .all([datacenter, retryJoin, replicas])
            .apply(([dc, join, r]) => renderConsulConfig({ server: true, datacenter: dc, retryJoin: join, bootstrapExpect: r })),
        },
      },
      { parent: this },
    );

    const ports = [
      { name: "https", port: CONSUL_HTTPS_PORT, targetPort: "https" },
      { name: "server", port: CONSUL_SERVER_PORT, targetPort: "server" },
      { name: "serflan-tcp", port: SERF_LAN_PORT, targetPort: "serflan-tcp", protocol: "TCP" },
      { name: "serflan-udp", port: SERF_LAN_PORT, targetPort: "serflan-udp", protocol: "UDP" },
    ];
    // Servers must find each other before there is a leader, i.e. before any is ready.
    const headlessSvc = new k8s.core.v1.Service(
      `${name}-headless`,
      {
        metadata: meta(names.headlessService),
        spec: { clusterIP: "None", publishNotReadyAddresses: true, selector: labels, ports },
      },
      { parent: this },
    );
    const svc = new k8s.core.v1.Service(
      `${name}-service`,
      {
        metadata: meta(names.service),
        spec: { type: "ClusterIP", selector: labels, ports: [ports[0]] },
      },
      { parent: this },
    );

    new k8s.policy.v1.PodDisruptionBudget(
      `${name}-pdb`,
      { metadata: meta(names.podDisruptionBudget), spec: { maxUnavailable: 1, selector: { matchLabels: labels } } },
      { parent: this },
    );

    new k8s.apps.v1.StatefulSet(
      `${name}-server`,
      {
        metadata: meta(names.statefulSet),
        spec: {
          serviceName: headlessSvc.metadata.name,
          replicas,
          // Parallel: readiness needs a leader, which needs the other pods; ordered start would wait forever.
          podManagementPolicy: "Parallel",
          selector: { matchLabels: labels },
          template: {
            metadata: {
              labels,
              annotations: { "vault-mutual-unseal/config-checksum": config.data.apply((d) => checksum(JSON.stringify(d))) },
            },
            spec: {
              securityContext: podSecurityContext(),
              affinity: antiAffinity(labels, args.zoneSpread),
              terminationGracePeriodSeconds: 30,
              automountServiceAccountToken: false,
              containers: [
                consulContainer({
                  name: "consul",
                  image,
                  server: true,
                  volumes: { config: "config", gossip: "gossip", tls: "tls", data: names.dataVolumeClaim },
                  resources: args.resources,
                }),
              ],
              volumes: [
                { name: "config", configMap: { name: config.metadata.name } },
                { name: "gossip", secret: { secretName: gossipSecret.metadata.name } },
                { name: "tls", secret: { secretName: tlsSecret.metadata.name } },
              ],
            },
          },
          volumeClaimTemplates: [
            {
              metadata: { name: names.dataVolumeClaim, labels },
              spec: {
                accessModes: ["ReadWriteOnce"],
                storageClassName: args.storageClassName,
                resources: { requests: { storage: args.storageSize ?? "10Gi" } },
              },
            },
          ],
        },
      },
      { parent: this },
    );

    if (args.clientPodLabels) {
      const tcp = (port: number) => ({ protocol: "TCP", port });
      const serf = (port: number) => [tcp(port), { protocol: "UDP", port }];
      const agentPorts = [tcp(CONSUL_SERVER_PORT), ...serf(SERF_LAN_PORT), tcp(CONSUL_HTTPS_PORT)];
      // Server RPC, gossip and the HTTPS API: from the other servers (WAN gossip too, which servers always run) and from its Vault cluster's agents; nothing else.
      new k8s.networking.v1.NetworkPolicy(
        `${name}-netpol`,
        {
          metadata: meta(names.networkPolicy),
          spec: {
            podSelector: { matchLabels: labels },
            policyTypes: ["Ingress"],
            ingress: [
              { from: [{ podSelector: { matchLabels: labels } }], ports: [...agentPorts, ...serf(SERF_WAN_PORT)] },
              { from: [{ podSelector: { matchLabels: args.clientPodLabels } }], ports: agentPorts },
            ],
          },
        },
        { parent: this },
      );
    }

    this.namespace = ns;
    this.serviceName = svc.metadata.name;
    this.headlessServiceName = headlessSvc.metadata.name;
    this.agentSettings = pulumi
      .all([image, datacenter, retryJoin, gossipSecret.metadata.name])
      .apply(([img, dc, join, secret]) => ({ image: img, datacenter: dc, retryJoin: join, gossipSecretName: secret }));
    this.registerOutputs({
      namespace: this.namespace,
      serviceName: this.serviceName,
      headlessServiceName: this.headlessServiceName,
      agentSettings: this.agentSettings,
      gossipKey: this.gossipKey,
    });
  }
}

/** sha256 hex of a string, for pod template annotations that record what a pod was started with. */
export function checksum(s: string): string {
  return createHash("sha256").update(s).digest("hex");
}
