/**
 * One Vault (or OpenBao) cluster on Kubernetes: the article's StatefulSet, Services, probes
 * and Consul sidecar, with its failures designed out. The config file is rendered by the
 * core's renderer (what the real-server tests prove is what gets deployed); the transit
 * token only ever travels in a Secret; a peer gate holds a transit-sealed pod until its
 * unsealer answers instead of letting it crash-loop into a 5-minute back-off.
 *
 * Seal settings reach the pods in one of two ways, both referenced by the pod template from
 * the start so that no object changes twice in one `pulumi up`:
 * - `seals`: the cluster is born with this seal (`vault`, sealed by `vault-unlock`); the
 *   stanza is part of the rendered server.hcl;
 * - the optional ConfigMap `sealConfigMapName` (data from `lateSealConfigData`): the seal a
 *   later migration applies (`vault-unlock`, Shamir first). Use one or the other, not both.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { InputError } from "../core/errors";
import { sealSettingsDigest } from "../core/nodes";
import { renderBlock } from "../core/render/hcl";
import { SealStanza, TRANSIT_TOKEN_ENV, TransitSeal, assertValidSeals } from "../core/render/seal";
import { SERVING_LABEL } from "../adapters/kubernetes/options";
import { lateSealConfigData, peerGateData } from "../adapters/kubernetes/seal-config";
import { ConsulStorage, Flavour, RaftStorage, ServerConfig, renderServerConfig } from "../core/render/server-config";
import {
  CONSUL_HTTPS_PORT,
  ConsulAgentSettings,
  SERF_LAN_PORT,
  ZoneSpread,
  antiAffinity,
  checkOddReplicas,
  consulContainer,
  containerSecurityContext,
  podSecurityContext,
  renderConsulConfig,
  tlsSecretData,
} from "./consul-cluster";
import { ServerCertSpec, TlsBundle } from "./pki";

// The seal ConfigMap's data is shared with the Kubernetes node adapter, which writes it at run time.
export { lateSealConfigData, peerGateData };

type Input<T> = pulumi.Input<T>;
type EnvVar = k8s.types.input.core.v1.EnvVar;
type Meta = (n: Input<string>) => k8s.types.input.meta.v1.ObjectMeta;

export const API_PORT = 8200;
export const CLUSTER_PORT = 8201;
/** Where things live inside a Vault pod. */
export const VAULT_DIRS = {
  config: "/vault/config",
  seal: "/vault/seal",
  tls: "/vault/tls",
  transitTls: "/vault/transit-tls",
  consulTls: "/vault/consul-tls",
  data: "/vault/data",
  tmp: "/tmp",
};
/** The transit seal's TLS files, from the Secret made of `transitTls`. */
export const TRANSIT_TLS_FILES = {
  tlsCaCert: `${VAULT_DIRS.transitTls}/ca.crt`,
  tlsClientCert: `${VAULT_DIRS.transitTls}/tls.crt`,
  tlsClientKey: `${VAULT_DIRS.transitTls}/tls.key`,
};
/** Key of the transit token in its Secret. */
export const TRANSIT_TOKEN_KEY = "token";
export const SEAL_CHECKSUM_ANNOTATION = "vault-mutual-unseal/seal-checksum";

export type VaultStorageArgs =
  | { type: "raft"; storageClassName?: Input<string>; size?: Input<string> }
  | {
      type: "consul";
      /** `ConsulCluster.agentSettings` of this cluster's own Consul (same namespace). */
      agent: Input<ConsulAgentSettings>;
      /** Certificate of the client agent sidecar (server+client auth, `127.0.0.1`); Vault uses it towards the agent too. */
      agentTls: Input<TlsBundle>;
      /** KV path of Vault's data in Consul; default `vault/`. */
      path?: Input<string>;
    };

export interface VaultIngressArgs {
  host: Input<string>;
  className?: Input<string>;
  /** Secret with the certificate the Ingress presents for `host`. */
  tlsSecretName?: Input<string>;
  annotations?: Input<Record<string, string>>;
}

/**
 * A Service reaching the unsealed nodes from outside the Kubernetes cluster (a peer's transit
 * seal in another cluster, `vault`'s emergency seal at the helper). TLS passes through to
 * Vault: its certificate must name the host the peer dials.
 */
export interface VaultExposeArgs {
  type: "LoadBalancer" | "NodePort";
  loadBalancerIP?: Input<string>;
  annotations?: Input<Record<string, string>>;
  /** loadBalancerSourceRanges: who may connect. */
  sourceRanges?: Input<string[]>;
  /** A fixed node port; default: one Kubernetes picks. */
  nodePort?: Input<number>;
}

/** For a cluster that exists only to unseal: only its peer's pods (and the operator's port-forward, which NetworkPolicies do not see) reach it. */
export interface VaultNetworkPolicyArgs {
  peerNamespace: Input<string>;
  /** Labels of the peer's Vault pods (`VaultCluster.podLabels`). */
  peerPodLabels: Input<Record<string, string>>;
  /** Source ranges of a peer in another Kubernetes cluster. */
  peerCidrs?: Input<string[]>;
}

export interface VaultClusterArgs {
  namespace: Input<string>;
  /** Prefix of Kubernetes object and DNS names (certificates are issued for them); default: the Pulumi name. */
  clusterName?: string;
  flavour: Flavour;
  /** Default `hashicorp/vault:1.20.0` or `quay.io/openbao/openbao:2.7.2` (the version the real-server tests run). */
  image?: Input<string>;
  /** Default 3; odd with raft. */
  replicas?: Input<number>;
  storage: VaultStorageArgs;
  /** Server certificate for `vaultServiceNames(clusterName)` and the CA that issued it. */
  tls: Input<TlsBundle>;
  /** The seal this cluster is born with (none: Shamir). Paths from TRANSIT_TLS_FILES. Never a token. */
  seals?: Input<SealStanza[]>;
  /** The peer's CA and this cluster's transit client certificate, mounted at TRANSIT_TLS_FILES. */
  transitTls?: Input<TlsBundle>;
  /** Secret (key `token`) whose value becomes VAULT_TRANSIT_SEAL_TOKEN; optional, so it may appear later. Default `<clusterName>-transit-token`. */
  transitTokenSecretName?: Input<string>;
  /** Optional ConfigMap with a later seal (`lateSealConfigData`). Default `<clusterName>-seal`. */
  sealConfigMapName?: Input<string>;
  resources?: Input<k8s.types.input.core.v1.ResourceRequirements>;
  ingress?: VaultIngressArgs;
  expose?: VaultExposeArgs;
  networkPolicy?: VaultNetworkPolicyArgs;
  /** Zone rule of the anti-affinity (see ConsulCluster); default "none". */
  zoneSpread?: ZoneSpread;
  ui?: boolean;
  logLevel?: ServerConfig["logLevel"];
}

/**
 * - `active`: the active node (clients, the Ingress);
 * - `unsealed` (the cluster's own name): every unsealed node, what a peer's transit seal
 *   dials (standbys forward to the active node, so a step-down never leaves it empty, as
 *   the lab's link Service proves);
 * - `standby`, `headless` (every pod, sealed ones included: Raft joins, the providers),
 *   `external` (optional, outside the Kubernetes cluster).
 */
export function vaultServiceNames(clusterName: string) {
  return {
    active: `${clusterName}-active`,
    unsealed: clusterName,
    standby: `${clusterName}-standby`,
    headless: `${clusterName}-internal`,
    external: `${clusterName}-external`,
  };
}

// The client Services also select SERVING_LABEL=true: the node adapter drains a pod by flipping it.
export { SERVING_LABEL };

/** What a VaultCluster's server certificate must name: its Services, its pods (Raft, the providers), and `extraDnsNames` (hosts peers dial from outside). */
export function vaultCertSpec(clusterName: string, namespace: Input<string>, extraDnsNames: string[] = []): ServerCertSpec {
  const svc = vaultServiceNames(clusterName);
  return { namespace, services: [svc.active, svc.unsealed, svc.standby], headlessService: svc.headless, extraDnsNames };
}

/**
 * Pulumi must not wait for the endpoints of what selects Vault pods: they become ready only
 * when later resources of the same run (init, unseal, the peer's transit) unseal them, so
 * waiting here would deadlock the bootstrap. The providers wait for the pods themselves.
 */
const SKIP_AWAIT = { "pulumi.com/skipAwait": "true" };

/**
 * Labels of the namespaces the stacks create: Pod Security "restricted" enforced, which every
 * pod of this project meets (non-root, no capability, RuntimeDefault seccomp, no escalation).
 */
export const POD_SECURITY_LABELS = { "pod-security.kubernetes.io/enforce": "restricted" };

/** Labels of a VaultCluster's server pods, known before it exists (for a peer's or its Consul's NetworkPolicy). */
export function vaultPodLabels(flavour: Flavour, clusterName: string): Record<string, string> {
  return {
    "app.kubernetes.io/name": flavour === "vault" ? "vault" : "openbao",
    "app.kubernetes.io/instance": clusterName,
    "app.kubernetes.io/component": "server",
    "app.kubernetes.io/part-of": "vault-mutual-unseal",
  };
}

/** A transit seal towards `address` using the mounted transit TLS files. */
export function transitSealTo(address: string, o: { serverName?: string; keyName?: string; mountPath?: string } = {}): TransitSeal {
  return {
    type: "transit",
    address,
    keyName: o.keyName ?? "autounseal",
    mountPath: o.mountPath ?? "transit/",
    tlsServerName: o.serverName,
    ...TRANSIT_TLS_FILES,
  };
}

/**
 * server.hcl for every pod. Per-pod values (api_addr, cluster_addr, Raft node_id) come from
 * env vars, which both servers prefer over the file; the file holds cluster-wide fallbacks.
 */
export function renderVaultConfig(c: {
  flavour: Flavour;
  clusterName: string;
  namespace: string;
  replicas: number;
  seals: SealStanza[];
  storage: { type: "raft" } | { type: "consul"; path: string };
  ui?: boolean;
  logLevel?: ServerConfig["logLevel"];
}): string {
  const svc = vaultServiceNames(c.clusterName);
  const pod = (i: number) => `${c.clusterName}-${i}.${svc.headless}.${c.namespace}.svc`;
  const storage: RaftStorage | ConsulStorage =
    c.storage.type === "raft"
      ? {
          type: "raft",
          path: VAULT_DIRS.data,
          nodeId: "",
          retryJoin: Array.from({ length: c.replicas }, (_, i) => ({
            leaderApiAddr: `https://${pod(i)}:${API_PORT}`,
            leaderCaCertFile: `${VAULT_DIRS.tls}/ca.crt`,
          })),
        }
      : {
          type: "consul",
          address: `127.0.0.1:${CONSUL_HTTPS_PORT}`,
          path: c.storage.path,
          scheme: "https",
          tlsCaFile: `${VAULT_DIRS.consulTls}/ca.crt`,
          tlsCertFile: `${VAULT_DIRS.consulTls}/tls.crt`,
          tlsKeyFile: `${VAULT_DIRS.consulTls}/tls.key`,
        };
  const server = renderServerConfig({
    flavour: c.flavour,
    listener: {
      address: `0.0.0.0:${API_PORT}`,
      clusterAddress: `0.0.0.0:${CLUSTER_PORT}`,
      tlsCertFile: `${VAULT_DIRS.tls}/tls.crt`,
      tlsKeyFile: `${VAULT_DIRS.tls}/tls.key`,
      tlsClientCaFile: `${VAULT_DIRS.tls}/ca.crt`,
    },
    apiAddr: `https://${svc.active}.${c.namespace}.svc:${API_PORT}`,
    clusterAddr: `https://${svc.headless}.${c.namespace}.svc:${CLUSTER_PORT}`,
    storage,
    seals: c.seals,
    // Non-root with no_new_privs cannot gain IPC_LOCK from file capabilities, and Kubernetes nodes run without swap.
    disableMlock: c.flavour === "vault" ? true : undefined,
    // OpenBao reads audit devices from its config only (AuditDevice confirms it; Vault's is enabled through the API).
    auditToStdout: c.flavour === "openbao" ? true : undefined,
    ui: c.ui,
    logLevel: c.logLevel,
  });
  // Labels pods active/standby/sealed, which the active and standby Services select on.
  return `${server}\n${renderBlock({ type: "service_registration", labels: ["kubernetes"] })}\n`;
}

/**
 * The peer gate: exits 0 at once without a transit seal, else waits until `<cli> status` says
 * the peer is unsealed (exit 0). The seal files are read again on every round, so an
 * emergency switch to the helper reaches a pod that is already waiting.
 */
function peerGateScript(cli: string, env: string): string {
  return [
    // The gate is PID 1 in the init container: without a handler SIGTERM is ignored and a pod
    // held here would take its whole grace period to go.
    "trap 'exit 143' TERM",
    "last=''",
    "while :; do",
    `  dir=''; for d in ${VAULT_DIRS.seal} ${VAULT_DIRS.config}; do if [ -s "$d/peer-address" ]; then dir="$d"; break; fi; done`,
    `  if [ -z "$dir" ]; then echo "peer gate: no transit seal configured, nothing to wait for"; exit 0; fi`,
    `  ${env}ADDR="$(cat "$dir/peer-address" || true)"; export ${env}ADDR`,
    `  ${env}TLS_SERVER_NAME="$(cat "$dir/peer-server-name" 2>/dev/null || true)"; export ${env}TLS_SERVER_NAME`,
    `  if ${cli} status >/dev/null; then echo "peer gate: transit peer $${env}ADDR is unsealed"; exit 0; fi`,
    `  if [ "$last" != "$${env}ADDR" ]; then echo "peer gate: waiting until transit peer $${env}ADDR is unsealed"; last="$${env}ADDR"; fi`,
    "  sleep 1",
    "done",
  ].join("\n");
}

/**
 * The server container. It passes the peer gate itself first: the kubelet restarts a
 * container (not its pod, so not the init containers) after the process dies, and a server
 * whose transit peer is unreachable at startup exits, so without the gate here a restart while
 * the peer is down would crash-loop, its back-off growing to 5 minutes. The gate runs in a
 * subshell with the seal's TLS files, so the server keeps its own client settings. The
 * shell (PID 1) waits for it in the background, so that SIGTERM (a pod deleted while it waits)
 * ends it at once instead of after the grace period.
 */
function serverScript(cli: string, gate: string, gateEnv: { name: string; value: string }[]): string {
  const quoted = (v: string) => `'${v.split("'").join("'\\''")}'`;
  return [
    `trap 'kill "$gate" 2>/dev/null; exit 143' TERM`,
    "(",
    ...gateEnv.map((e) => `  export ${e.name}=${quoted(e.value)}`),
    ...gate.split("\n").map((l) => `  ${l}`),
    ") &",
    "gate=$!",
    'wait "$gate"',
    "trap - TERM",
    `if [ -s ${VAULT_DIRS.seal}/seal.hcl ]; then`,
    `  exec ${cli} server -config=${VAULT_DIRS.config}/server.hcl -config=${VAULT_DIRS.seal}/seal.hcl`,
    "fi",
    `exec ${cli} server -config=${VAULT_DIRS.config}/server.hcl`,
  ].join("\n");
}

function checkReplicas(storage: VaultStorageArgs["type"], n: number): number {
  if (storage === "raft") return checkOddReplicas(n);
  if (!Number.isInteger(n) || n < 1) throw new InputError("replicas", `${n} is not a positive whole number of pods`);
  return n;
}

/** The checks that need no resolved Output: they fail before any resource is registered. */
function checkKnownArgs(args: VaultClusterArgs): void {
  if (args.flavour === "openbao" && args.storage.type === "consul")
    throw new InputError("storage.type", "OpenBao has no Consul storage backend: use raft with OpenBao");
  if (args.ingress && args.networkPolicy)
    throw new InputError("networkPolicy", "a NetworkPolicy is for a cluster that exists only to unseal: it would cut off the Ingress");
  if (typeof args.replicas === "number") checkReplicas(args.storage.type, args.replicas);
  if (Array.isArray(args.seals)) assertValidSeals(args.seals as SealStanza[]);
}

export class VaultCluster extends pulumi.ComponentResource {
  readonly clusterName: string;
  readonly namespace: pulumi.Output<string>;
  /** https address of the active node's Service: what clients use (a peer's seal dials the `unsealed` Service, vaultServiceNames). */
  readonly address: pulumi.Output<string>;
  readonly podNames: pulumi.Output<string[]>;
  /** Labels of the server pods (for a peer's NetworkPolicy). */
  readonly podLabels: Record<string, string>;
  readonly headlessServiceName: pulumi.Output<string>;
  readonly configMapName: pulumi.Output<string>;
  readonly sealConfigMapName: pulumi.Output<string>;
  readonly transitTokenSecretName: pulumi.Output<string>;

  constructor(name: string, args: VaultClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    checkKnownArgs(args); // before anything is registered
    super("vault-mutual-unseal:index:VaultCluster", name, {}, opts);
    const cn = args.clusterName ?? name;
    const { flavour, storage } = args;
    const cli = flavour === "vault" ? "vault" : "bao";
    const env = flavour === "vault" ? "VAULT_" : "BAO_";
    const ns = pulumi.output(args.namespace);
    const svc = vaultServiceNames(cn);
    const replicas = pulumi.output(args.replicas ?? 3).apply((n) => checkReplicas(storage.type, n));
    const seals = pulumi.output(args.seals ?? []) as pulumi.Output<SealStanza[]>;
    const image = args.image ?? (flavour === "vault" ? "hashicorp/vault:1.20.0" : "quay.io/openbao/openbao:2.7.2");
    const labels = vaultPodLabels(flavour, cn);
    const activeLabel = flavour === "vault" ? "vault-active" : "openbao-active";
    // What client Services select: this cluster's pods that are not drained (and, by readiness, unsealed).
    const serving = { ...labels, [SERVING_LABEL]: "true" };
    const meta: Meta = (n) => ({ name: n, namespace: ns, labels });
    const serviceMeta: Meta = (n) => ({ ...meta(n), annotations: SKIP_AWAIT });
    const child = { parent: this };
    const tokenSecretName = pulumi.output(args.transitTokenSecretName ?? `${cn}-transit-token`);
    const sealConfigMapName = pulumi.output(args.sealConfigMapName ?? `${cn}-seal`);

    // Service registration labels its own pod: the Role allows exactly that.
    const sa = new k8s.core.v1.ServiceAccount(`${name}-sa`, { metadata: meta(cn) }, child);
    const role = new k8s.rbac.v1.Role(
      `${name}-role`,
      { metadata: meta(cn), rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["get", "update", "patch"] }] },
      child,
    );
    new k8s.rbac.v1.RoleBinding(
      `${name}-rolebinding`,
      {
        metadata: meta(cn),
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role.metadata.name },
        subjects: [{ kind: "ServiceAccount", name: sa.metadata.name, namespace: ns }],
      },
      child,
    );

    const storagePath = storage.type === "consul" ? pulumi.output(storage.path ?? "vault/") : pulumi.output("");
    const config = new k8s.core.v1.ConfigMap(
      `${name}-config`,
      {
        metadata: meta(`${cn}-config`),
        data: pulumi.all([ns, replicas, seals, storagePath]).apply(([n, r, s, path]) => ({
          "server.hcl": renderVaultConfig({
            flavour,
            clusterName: cn,
            namespace: n,
            replicas: r,
            seals: s,
            storage: storage.type === "raft" ? { type: "raft" } : { type: "consul", path },
            ui: args.ui,
            logLevel: args.logLevel,
          }),
          ...peerGateData(s),
        })),
      },
      child,
    );
    const tlsSecret = new k8s.core.v1.Secret(
      `${name}-tls`,
      { metadata: meta(`${cn}-tls`), type: "kubernetes.io/tls", stringData: tlsSecretData(args.tls) },
      child,
    );
    if (args.transitTls) {
      new k8s.core.v1.Secret(
        `${name}-transit-tls`,
        { metadata: meta(`${cn}-transit-tls`), type: "kubernetes.io/tls", stringData: tlsSecretData(args.transitTls) },
        child,
      );
    }

    const port = (n: string, p: number) => ({ name: n, port: p, targetPort: n });
    const headless = new k8s.core.v1.Service(
      `${name}-internal`,
      {
        metadata: serviceMeta(svc.headless),
        // Sealed and uninitialized pods must be reachable by name: Raft joins, cluster_addr, the core's unseal.
        spec: {
          clusterIP: "None",
          publishNotReadyAddresses: true,
          selector: labels,
          ports: [port("https", API_PORT), port("cluster", CLUSTER_PORT)],
        },
      },
      child,
    );
    const active = new k8s.core.v1.Service(
      `${name}-active`,
      {
        metadata: serviceMeta(svc.active),
        spec: {
          type: "ClusterIP",
          publishNotReadyAddresses: false,
          selector: { ...serving, [activeLabel]: "true" },
          ports: [port("https", API_PORT), port("cluster", CLUSTER_PORT)],
        },
      },
      child,
    );
    new k8s.core.v1.Service(
      `${name}-unsealed`,
      {
        metadata: serviceMeta(svc.unsealed),
        spec: { type: "ClusterIP", publishNotReadyAddresses: false, selector: serving, ports: [port("https", API_PORT)] },
      },
      child,
    );
    new k8s.core.v1.Service(
      `${name}-standby`,
      {
        metadata: serviceMeta(svc.standby),
        spec: {
          type: "ClusterIP",
          publishNotReadyAddresses: false,
          selector: { ...serving, [activeLabel]: "false" },
          ports: [port("https", API_PORT), port("cluster", CLUSTER_PORT)],
        },
      },
      child,
    );
    if (args.expose) {
      const e = args.expose;
      new k8s.core.v1.Service(
        `${name}-external`,
        {
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
        },
        child,
      );
    }
    new k8s.policy.v1.PodDisruptionBudget(
      `${name}-pdb`,
      { metadata: meta(cn), spec: { maxUnavailable: 1, selector: { matchLabels: labels } } },
      child,
    );

    const fieldEnv = (n: string, fieldPath: string): EnvVar => ({ name: n, valueFrom: { fieldRef: { fieldPath } } });
    const podDns = pulumi.interpolate`$(POD_NAME).${svc.headless}.${ns}.svc`;
    const caEnv = (file: string): { name: string; value: string }[] => [
      { name: "VAULT_CACERT", value: file },
      ...(flavour === "openbao" ? [{ name: "BAO_CACERT", value: file }] : []),
    ];
    const serverEnv: EnvVar[] = [
      fieldEnv("POD_NAME", "metadata.name"),
      { name: `${env}API_ADDR`, value: pulumi.interpolate`https://${podDns}:${API_PORT}` },
      { name: `${env}CLUSTER_ADDR`, value: pulumi.interpolate`https://${podDns}:${CLUSTER_PORT}` },
      ...(storage.type === "raft" ? [fieldEnv(`${env}RAFT_NODE_ID`, "metadata.name")] : []),
      fieldEnv(`${env}K8S_POD_NAME`, "metadata.name"),
      fieldEnv(`${env}K8S_NAMESPACE`, "metadata.namespace"),
      { name: `${env}ADDR`, value: `https://127.0.0.1:${API_PORT}` },
      // The article's first failure: the CLI and clients in the pod trust our CA explicitly.
      ...caEnv(`${VAULT_DIRS.tls}/ca.crt`),
      // Optional: the pod template is the same before and after the token Secret exists.
      { name: TRANSIT_TOKEN_ENV, valueFrom: { secretKeyRef: { name: tokenSecretName, key: TRANSIT_TOKEN_KEY, optional: true } } },
      { name: "HOME", value: VAULT_DIRS.tmp },
    ];
    const mounts = [
      { name: "config", mountPath: VAULT_DIRS.config, readOnly: true },
      { name: "seal", mountPath: VAULT_DIRS.seal, readOnly: true },
      { name: "tls", mountPath: VAULT_DIRS.tls, readOnly: true },
      { name: "transit-tls", mountPath: VAULT_DIRS.transitTls, readOnly: true },
      { name: "tmp", mountPath: VAULT_DIRS.tmp },
    ];
    const health = (query: string) => ({ httpGet: { path: `/v1/sys/health?${query}`, port: API_PORT, scheme: "HTTPS" } });
    // The seal's own TLS settings: the gate passes only if the seal itself could connect.
    const gateEnv = [
      ...caEnv(TRANSIT_TLS_FILES.tlsCaCert),
      { name: `${env}CLIENT_CERT`, value: TRANSIT_TLS_FILES.tlsClientCert },
      { name: `${env}CLIENT_KEY`, value: TRANSIT_TLS_FILES.tlsClientKey },
    ];
    const vaultContainer: k8s.types.input.core.v1.Container = {
      name: cli,
      image,
      command: ["/bin/sh", "-ec", serverScript(cli, peerGateScript(cli, env), gateEnv)],
      env: serverEnv,
      ports: [
        { name: "https", containerPort: API_PORT },
        { name: "cluster", containerPort: CLUSTER_PORT },
      ],
      volumeMounts: [
        ...mounts,
        ...(storage.type === "raft"
          ? [{ name: "data", mountPath: VAULT_DIRS.data }]
          : [{ name: "consul-tls", mountPath: VAULT_DIRS.consulTls, readOnly: true }]),
      ],
      // While the server waits at the peer gate (a restarted container, peer down) nothing
      // listens yet: liveness starts only once the server answers, or after an hour of waiting.
      // The price: a server that hangs while it boots is restarted only after that hour.
      startupProbe: {
        ...health("standbyok=true&sealedcode=204&uninitcode=204"),
        periodSeconds: 5,
        timeoutSeconds: 3,
        failureThreshold: 720,
      },
      // Sealed or uninitialized is healthy (204): only a hung process is restarted, never a sealed one.
      livenessProbe: {
        ...health("standbyok=true&sealedcode=204&uninitcode=204"),
        initialDelaySeconds: 30,
        periodSeconds: 10,
        timeoutSeconds: 3,
        failureThreshold: 3,
      },
      // Sealed (503) and uninitialized (501) pods are kept out of the Services.
      readinessProbe: { ...health("standbyok=true"), periodSeconds: 2, timeoutSeconds: 2, failureThreshold: 2, successThreshold: 1 },
      lifecycle: { preStop: { exec: { command: ["/bin/sh", "-c", "sleep 6"] } } },
      resources: args.resources ?? { requests: { cpu: "250m", memory: "256Mi" }, limits: { memory: "512Mi" } },
      // No capability: OpenBao does not lock memory and Vault runs with disable_mlock
      // (renderVaultConfig); IPC_LOCK would also be refused by Pod Security baseline and restricted.
      securityContext: containerSecurityContext(),
    };
    const peerGate: k8s.types.input.core.v1.Container = {
      name: "peer-gate",
      image,
      command: ["/bin/sh", "-c", peerGateScript(cli, env)],
      env: [...gateEnv, { name: "HOME", value: VAULT_DIRS.tmp }],
      volumeMounts: mounts,
      resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "64Mi" } },
      securityContext: containerSecurityContext(),
    };

    const volumes: k8s.types.input.core.v1.Volume[] = [
      { name: "config", configMap: { name: config.metadata.name } },
      { name: "seal", configMap: { name: sealConfigMapName, optional: true } },
      { name: "tls", secret: { secretName: tlsSecret.metadata.name } },
      { name: "transit-tls", secret: { secretName: `${cn}-transit-tls`, optional: true } },
      { name: "tmp", emptyDir: { medium: "Memory", sizeLimit: "64Mi" } },
    ];
    const containers = [vaultContainer];
    if (storage.type === "consul") {
      const agent = pulumi.output(storage.agent);
      const agentConfig = new k8s.core.v1.ConfigMap(
        `${name}-consul-agent`,
        {
          metadata: meta(`${cn}-consul-agent`),
          data: {
            "consul.json": agent.apply((a) => renderConsulConfig({ server: false, datacenter: a.datacenter, retryJoin: a.retryJoin })),
          },
        },
        child,
      );
      const agentTls = new k8s.core.v1.Secret(
        `${name}-consul-tls`,
        { metadata: meta(`${cn}-consul-tls`), type: "kubernetes.io/tls", stringData: tlsSecretData(storage.agentTls) },
        child,
      );
      containers.push(
        consulContainer({
          name: "consul-agent",
          image: agent.image,
          server: false,
          volumes: { config: "consul-config", gossip: "consul-gossip", tls: "consul-tls", data: "consul-data" },
        }),
      );
      volumes.push(
        { name: "consul-config", configMap: { name: agentConfig.metadata.name } },
        { name: "consul-gossip", secret: { secretName: agent.gossipSecretName } },
        { name: "consul-tls", secret: { secretName: agentTls.metadata.name } },
        { name: "consul-data", emptyDir: {} },
      );
    }

    new k8s.apps.v1.StatefulSet(
      `${name}-statefulset`,
      {
        // Sealed pods are never ready until later resources (init, unseal, the peer's transit)
        // unseal them: Pulumi must not wait for readiness here; the providers wait themselves.
        metadata: { ...meta(cn), annotations: SKIP_AWAIT },
        spec: {
          serviceName: headless.metadata.name,
          replicas,
          // Sealed pods are not ready: an ordered start would wait for pod 0 to be unsealed before creating pod 1.
          podManagementPolicy: "Parallel",
          // The core restarts pods itself, one by one, during seal migrations and rollouts.
          updateStrategy: { type: "OnDelete" },
          selector: { matchLabels: labels },
          template: {
            metadata: {
              labels: serving,
              annotations: { [SEAL_CHECKSUM_ANNOTATION]: seals.apply((s) => sealSettingsDigest({ stanzas: s })) },
            },
            spec: {
              serviceAccountName: sa.metadata.name,
              securityContext: podSecurityContext(),
              affinity: antiAffinity(labels, args.zoneSpread),
              terminationGracePeriodSeconds: 30,
              initContainers: [peerGate],
              containers,
              volumes,
            },
          },
          volumeClaimTemplates:
            storage.type === "raft"
              ? [
                  {
                    metadata: { name: "data", labels },
                    spec: {
                      accessModes: ["ReadWriteOnce"],
                      storageClassName: storage.storageClassName,
                      resources: { requests: { storage: storage.size ?? "10Gi" } },
                    },
                  },
                ]
              : undefined,
        },
      },
      child,
    );

    if (args.ingress) this.ingress(name, cn, ns, meta, active.metadata.name, args.ingress);
    if (args.networkPolicy) this.networkPolicy(name, meta, labels, storage.type === "consul", args.networkPolicy);

    this.clusterName = cn;
    this.namespace = ns;
    this.address = pulumi.interpolate`https://${active.metadata.name}.${ns}.svc:${API_PORT}`;
    this.podNames = replicas.apply((r) => Array.from({ length: r }, (_, i) => `${cn}-${i}`));
    this.podLabels = labels;
    this.headlessServiceName = headless.metadata.name;
    this.configMapName = config.metadata.name;
    this.sealConfigMapName = sealConfigMapName;
    this.transitTokenSecretName = tokenSecretName;
    this.registerOutputs({
      namespace: ns,
      address: this.address,
      podNames: this.podNames,
      headlessServiceName: this.headlessServiceName,
      configMapName: this.configMapName,
      sealConfigMapName,
      transitTokenSecretName: tokenSecretName,
    });
  }

  private ingress(
    name: string,
    cn: string,
    ns: pulumi.Output<string>,
    meta: Meta,
    service: pulumi.Output<string>,
    i: VaultIngressArgs,
  ): void {
    // ingress-nginx re-encrypts to Vault and verifies Vault's certificate against our CA (its default is not to verify).
    const verify = {
      "nginx.ingress.kubernetes.io/backend-protocol": "HTTPS",
      "nginx.ingress.kubernetes.io/proxy-ssl-verify": "on",
      "nginx.ingress.kubernetes.io/proxy-ssl-secret": pulumi.interpolate`${ns}/${cn}-tls`,
      "nginx.ingress.kubernetes.io/proxy-ssl-name": pulumi.interpolate`${service}.${ns}.svc`,
      "nginx.ingress.kubernetes.io/proxy-ssl-server-name": "on",
    };
    new k8s.networking.v1.Ingress(
      `${name}-ingress`,
      {
        metadata: {
          ...meta(cn),
          annotations: pulumi.all([i.annotations ?? {}, verify]).apply(([user, v]) => ({ ...user, ...v, ...SKIP_AWAIT })),
        },
        spec: {
          ingressClassName: i.className,
          tls: i.tlsSecretName ? [{ hosts: [i.host], secretName: i.tlsSecretName }] : undefined,
          rules: [
            {
              host: i.host,
              http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: service, port: { number: API_PORT } } } }] },
            },
          ],
        },
      },
      { parent: this },
    );
  }

  private networkPolicy(name: string, meta: Meta, labels: Record<string, string>, consul: boolean, p: VaultNetworkPolicyArgs): void {
    const tcp = (port: number) => ({ protocol: "TCP", port });
    new k8s.networking.v1.NetworkPolicy(
      `${name}-netpol`,
      {
        metadata: meta(`${labels["app.kubernetes.io/instance"]}-unseal-only`),
        spec: {
          podSelector: { matchLabels: labels },
          policyTypes: ["Ingress"],
          ingress: [
            // Its own pods: request forwarding and Raft.
            { from: [{ podSelector: { matchLabels: labels } }], ports: [tcp(API_PORT), tcp(CLUSTER_PORT)] },
            // The peer's pods (its transit seal and peer gate), and a peer in another Kubernetes cluster.
            {
              from: pulumi.all([p.peerNamespace, p.peerPodLabels, p.peerCidrs ?? []]).apply(([peerNs, peerLabels, cidrs]) => [
                {
                  namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": peerNs } },
                  podSelector: { matchLabels: peerLabels },
                },
                ...cidrs.map((cidr) => ({ ipBlock: { cidr } })),
              ]),
              ports: [tcp(API_PORT)],
            },
            // Consul: every agent gossips with every other agent and server (the sidecars of its own pods included).
            ...(consul
              ? [
                  {
                    from: [
                      { podSelector: { matchLabels: labels } },
                      { podSelector: { matchLabels: { "app.kubernetes.io/name": "consul" } } },
                    ],
                    ports: [tcp(SERF_LAN_PORT), { protocol: "UDP", port: SERF_LAN_PORT }],
                  },
                ]
              : []),
          ],
        },
      },
      { parent: this },
    );
  }
}
