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
 * - the optional ConfigMap `sealConfigMapName` (content from `sealConfigMapContent`): the
 *   seal a later migration applies (`vault-unlock`, Shamir first). Use one or the other, not both.
 *
 * The objects come from pure builders (vault-config.ts, vault-pod.ts, vault-network.ts),
 * their names from adapters/kubernetes/names.ts; this component registers them.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { serviceHost, vaultNames } from "../adapters/kubernetes/names";
import { InputError } from "../core/errors";
import { sealSettingsDigest } from "../core/nodes";
import { SealStanza, assertValidSeals } from "../core/render/seal";
import { Flavour, ServerConfig } from "../core/render/server-config";
import { ConsulAgentSettings, checkOddReplicas, renderConsulConfig } from "./consul-cluster";
import { ServerCertSpec, TlsBundle, tlsSecretData } from "./pki";
import { ZoneSpread } from "./pod-spread";
import { API_PORT, vaultConfigMapData } from "./vault-config";
import { vaultPodLabels } from "./vault-labels";
import { NO_PEER, vaultIngress, vaultNetworkPolicy, vaultServices } from "./vault-network";
import { VaultConsulAgentRefs, vaultPodSpec, vaultStatefulSet } from "./vault-pod";

// Exported from here before the builders had their own files; stacks and tests import them from here.
export { POD_SECURITY_LABELS } from "./pod-hardening";
export { API_PORT, CLUSTER_PORT, TRANSIT_TLS_FILES, VAULT_DIRS, renderVaultConfig, transitSealTo } from "./vault-config";
export { SEAL_CHECKSUM_ANNOTATION, vaultPodLabels } from "./vault-labels";

type Input<T> = pulumi.Input<T>;

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

/**
 * For a cluster that exists only to unseal (vault-unlock, the helper): only its peer reaches
 * it, and the providers' port-forwards, which NetworkPolicies do not see. The peer is its
 * pods in this Kubernetes cluster (vault-unlock's `vault`), or only ranges when it runs in
 * another one (the helper's `vault`): at least one of the two, since a rule with no source
 * would admit every source.
 */
export type VaultNetworkPolicyArgs =
  | {
      peerNamespace: Input<string>;
      /** Labels of the peer's Vault pods (`VaultCluster.podLabels`). */
      peerPodLabels: Input<Record<string, string>>;
      /** Source ranges of a peer in another Kubernetes cluster. */
      peerCidrs?: Input<string[]>;
    }
  | {
      peerNamespace?: undefined;
      peerPodLabels?: undefined;
      /** The peer runs in another Kubernetes cluster: the ranges its traffic arrives from; not empty. */
      peerCidrs: Input<string[]>;
    };

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
  /** Secret (key TRANSIT_TOKEN_KEY) whose value becomes VAULT_TRANSIT_SEAL_TOKEN; optional, so it may appear later. Default `vaultNames(clusterName).transitTokenSecret`. */
  transitTokenSecretName?: Input<string>;
  /** Optional ConfigMap with a later seal (`sealConfigMapContent`). Default `vaultNames(clusterName).sealConfigMap`. */
  sealConfigMapName?: Input<string>;
  resources?: Input<k8s.types.input.core.v1.ResourceRequirements>;
  ingress?: VaultIngressArgs;
  expose?: VaultExposeArgs;
  networkPolicy?: VaultNetworkPolicyArgs;
  /** Zone rule of the anti-affinity (see ConsulCluster); default "none". */
  zoneSpread?: ZoneSpread;
  ui?: boolean;
  logLevel?: ServerConfig["logLevel"];
  /**
   * Serve only clients with a certificate from the CA in `tls` (the listener's
   * tls_require_and_verify_client_cert): for a cluster that exists to unseal another, so that
   * a leaked seal or emergency token is useless without a client key. `tls` must then be
   * issued with client_auth (vaultCertSpec's `clientAuth`): the pods present it to each other
   * (Raft) and to themselves (probes).
   */
  requireClientCert?: boolean;
}

/** The cluster's Services by role (see vaultNames in adapters/kubernetes/names.ts for what each is for). */
export function vaultServiceNames(clusterName: string) {
  return vaultNames(clusterName).services;
}

/** What a VaultCluster's server certificate must name: its Services, its pods (Raft, the providers), and `extraDnsNames` (hosts peers dial from outside). */
export function vaultCertSpec(
  clusterName: string,
  namespace: Input<string>,
  extraDnsNames: string[] = [],
  o: { requireClientCert?: boolean } = {},
): ServerCertSpec {
  const svc = vaultServiceNames(clusterName);
  // A cluster that requires client certificates has its pods present their own (Raft, probes).
  return {
    namespace,
    services: [svc.active, svc.unsealed, svc.standby],
    headlessService: svc.headless,
    extraDnsNames,
    clientAuth: o.requireClientCert,
  };
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
  const p = args.networkPolicy;
  if (p && p.peerNamespace === undefined && Array.isArray(p.peerCidrs) && p.peerCidrs.length === 0)
    throw new InputError("networkPolicy.peerCidrs", NO_PEER);
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
    const names = vaultNames(cn);
    const { flavour, storage } = args;
    const ns = pulumi.output(args.namespace);
    const replicas = pulumi.output(args.replicas ?? 3).apply((n) => checkReplicas(storage.type, n));
    const seals = pulumi.output(args.seals ?? []) as pulumi.Output<SealStanza[]>;
    const image = args.image ?? (flavour === "vault" ? "hashicorp/vault:1.20.0" : "quay.io/openbao/openbao:2.7.2");
    const labels = vaultPodLabels(flavour, cn);
    const meta = (n: Input<string>) => ({ name: n, namespace: ns, labels });
    const child = { parent: this };
    const tokenSecretName = pulumi.output(args.transitTokenSecretName ?? names.transitTokenSecret);
    const sealConfigMapName = pulumi.output(args.sealConfigMapName ?? names.sealConfigMap);

    // Service registration labels its own pod: the Role allows exactly that, on the
    // StatefulSet's pods by name, so a server's token cannot relabel (or fence off) any other
    // pod of the namespace.
    const sa = new k8s.core.v1.ServiceAccount(`${name}-sa`, { metadata: meta(names.serviceAccount) }, child);
    const role = new k8s.rbac.v1.Role(
      `${name}-role`,
      {
        metadata: meta(names.role),
        rules: [
          {
            apiGroups: [""],
            resources: ["pods"],
            resourceNames: replicas.apply((n) => Array.from({ length: n }, (_, i) => names.pod(i))),
            verbs: ["get", "update", "patch"],
          },
        ],
      },
      child,
    );
    new k8s.rbac.v1.RoleBinding(
      `${name}-rolebinding`,
      {
        metadata: meta(names.roleBinding),
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role.metadata.name },
        subjects: [{ kind: "ServiceAccount", name: sa.metadata.name, namespace: ns }],
      },
      child,
    );

    const storagePath = storage.type === "consul" ? pulumi.output(storage.path ?? "vault/") : pulumi.output("");
    const config = new k8s.core.v1.ConfigMap(
      `${name}-config`,
      {
        metadata: meta(names.configMap),
        data: pulumi.all([ns, replicas, seals, storagePath]).apply(([n, r, s, path]) =>
          vaultConfigMapData({
            flavour,
            clusterName: cn,
            namespace: n,
            replicas: r,
            seals: s,
            storage: storage.type === "raft" ? { type: "raft" } : { type: "consul", path },
            ui: args.ui,
            requireClientCert: args.requireClientCert,
            logLevel: args.logLevel,
          }),
        ),
      },
      child,
    );
    const tlsSecret = new k8s.core.v1.Secret(
      `${name}-tls`,
      { metadata: meta(names.tlsSecret), type: "kubernetes.io/tls", stringData: tlsSecretData(args.tls) },
      child,
    );
    if (args.transitTls) {
      new k8s.core.v1.Secret(
        `${name}-transit-tls`,
        { metadata: meta(names.transitTlsSecret), type: "kubernetes.io/tls", stringData: tlsSecretData(args.transitTls) },
        child,
      );
    }

    const services = vaultServices({ flavour, clusterName: cn, namespace: ns, expose: args.expose });
    const headless = new k8s.core.v1.Service(`${name}-internal`, services.headless, child);
    const active = new k8s.core.v1.Service(`${name}-active`, services.active, child);
    new k8s.core.v1.Service(`${name}-unsealed`, services.unsealed, child);
    new k8s.core.v1.Service(`${name}-standby`, services.standby, child);
    if (services.external) new k8s.core.v1.Service(`${name}-external`, services.external, child);
    new k8s.policy.v1.PodDisruptionBudget(
      `${name}-pdb`,
      { metadata: meta(names.podDisruptionBudget), spec: { maxUnavailable: 1, selector: { matchLabels: labels } } },
      child,
    );

    let consulAgent: VaultConsulAgentRefs | undefined;
    if (storage.type === "consul") {
      const agent = pulumi.output(storage.agent);
      const agentConfig = new k8s.core.v1.ConfigMap(
        `${name}-consul-agent`,
        {
          metadata: meta(names.consulAgentConfigMap),
          data: {
            "consul.json": agent.apply((a) => renderConsulConfig({ server: false, datacenter: a.datacenter, retryJoin: a.retryJoin })),
          },
        },
        child,
      );
      const agentTls = new k8s.core.v1.Secret(
        `${name}-consul-tls`,
        { metadata: meta(names.consulTlsSecret), type: "kubernetes.io/tls", stringData: tlsSecretData(storage.agentTls) },
        child,
      );
      consulAgent = {
        image: agent.image,
        gossipSecretName: agent.gossipSecretName,
        configMapName: agentConfig.metadata.name,
        tlsSecretName: agentTls.metadata.name,
      };
    }

    new k8s.apps.v1.StatefulSet(
      `${name}-statefulset`,
      vaultStatefulSet({
        flavour,
        clusterName: cn,
        namespace: ns,
        replicas,
        serviceName: headless.metadata.name,
        sealChecksum: seals.apply((s) => sealSettingsDigest({ stanzas: s })),
        pod: vaultPodSpec({
          flavour,
          clusterName: cn,
          namespace: ns,
          image,
          consulAgent,
          serviceAccountName: sa.metadata.name,
          configMapName: config.metadata.name,
          tlsSecretName: tlsSecret.metadata.name,
          sealConfigMapName,
          transitTokenSecretName: tokenSecretName,
          resources: args.resources,
          zoneSpread: args.zoneSpread,
          requireClientCert: args.requireClientCert,
        }),
        raftData: storage.type === "raft" ? { storageClassName: storage.storageClassName, size: storage.size } : undefined,
      }),
      child,
    );

    if (args.ingress)
      new k8s.networking.v1.Ingress(
        `${name}-ingress`,
        vaultIngress({ flavour, clusterName: cn, namespace: ns, activeService: active.metadata.name, ingress: args.ingress }),
        child,
      );
    if (args.networkPolicy)
      new k8s.networking.v1.NetworkPolicy(
        `${name}-netpol`,
        vaultNetworkPolicy({ flavour, clusterName: cn, namespace: ns, consul: storage.type === "consul", policy: args.networkPolicy }),
        child,
      );

    this.clusterName = cn;
    this.namespace = ns;
    this.address = pulumi.all([active.metadata.name, ns]).apply(([svc, n]) => `https://${serviceHost(svc, n)}:${API_PORT}`);
    this.podNames = replicas.apply((r) => Array.from({ length: r }, (_, i) => names.pod(i)));
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
}
