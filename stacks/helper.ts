/**
 * The helper stack: the backup unsealer in a second Kubernetes cluster (HelperBackup),
 * holding a copy of the transit key that unseals `vault`, restored from the primary stack's
 * outputs read through a StackReference. Its server certificate comes from a CA of its own
 * that the primary stack holds (the primary's `helperTls` output), so `vault`'s emergency seal
 * trusts it, and it accepts only the client certificates that CA issued: `vault`'s emergency
 * seal's and this stack's providers'. With Consul storage it gets its own Consul cluster,
 * whose internal TLS uses a CA of its own.
 *
 * Outputs the emergency seal token that the primary stack reads when `emergency: true`, and
 * no other secret: the helper's root token and unseal keys stay in the state (the helper-init
 * resource's secret outputs), out of reach of the primary's StackReference.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { activeServerName } from "../components/cluster-access";
import { consulCertSpecs, consulStorage } from "../components/consul-storage";
import { HelperBackup } from "../components/helper-backup";
import { Pki, TlsBundle } from "../components/pki";
import { CLUSTER_NAMES } from "../core/pair-plan";
import { POD_SECURITY_LABELS, vaultServiceNames, VaultStorageArgs } from "../components/vault-cluster";
import { exposeArgs, HELPER_TEXT_KEYS, helperContexts, helperPeerCidrs, parseHelperConfig } from "../components/config";
import { contextProblems, rawConfig, readKubeconfig } from "./read-config";

const HELPER_CLUSTER = CLUSTER_NAMES.helper;

const RUN_PRIMARY = "run `pulumi up --stack primary` first (the helper stack reads its outputs)";
const SET_HELPER_ADDRESS =
  "set helperAddress on the primary stack (the helper's certificate is issued there, for that host) and run `pulumi up --stack primary`";

/**
 * The primary's outputs the helper needs, each failing with what to do when the primary
 * has not got it (instead of Pulumi's bare "required output" error). Secret stays secret.
 */
export function primaryOutputs(primary: pulumi.StackReference, stack: string) {
  return <T>(name: string, fix: string): pulumi.Output<T> =>
    primary.getOutput(name).apply((v: unknown) => primaryValue<T>(stack, name, fix, v));
}

/** One output value of the primary, or the error that says what to do. */
export function primaryValue<T>(stack: string, name: string, fix: string, v: unknown): T {
  if (v === undefined || v === null) throw new Error(`the primary stack ${stack} has no output "${name}": ${fix}`);
  return v as T;
}

export function helperProgram() {
  const raw = rawConfig(HELPER_TEXT_KEYS);
  const kubeconfigText = readKubeconfig();
  const cfg = parseHelperConfig(raw, contextProblems(kubeconfigText, helperContexts(raw)));
  const kubeconfig = pulumi.secret(kubeconfigText);
  const provider = new k8s.Provider(`k8s-${cfg.context.replace(/[^A-Za-z0-9-]/g, "-")}`, { kubeconfig, context: cfg.context });
  const opts = { providers: { kubernetes: provider } };
  const primary = new pulumi.StackReference(cfg.primaryStack);
  // The primary issued the helper's certificate (from the helper's CA) for its Services in this namespace.
  const need = primaryOutputs(primary, cfg.primaryStack);
  const namespace = need<string>("helperNamespace", RUN_PRIMARY);
  const ns = cfg.createNamespaces
    ? new k8s.core.v1.Namespace(`${HELPER_CLUSTER}-namespace`, { metadata: { name: namespace, labels: POD_SECURITY_LABELS } }, { provider })
        .metadata.name
    : namespace;

  const tls = need<TlsBundle>("helperTls", SET_HELPER_ADDRESS);
  const serverName = need<string>("helperServerName", SET_HELPER_ADDRESS);

  let storage: VaultStorageArgs = { type: "raft", storageClassName: cfg.storageClass };
  if (cfg.storage === "consul") {
    // Consul's internal TLS has a CA of its own: the helper's CA is only for who may call the helper.
    const specs = consulCertSpecs(HELPER_CLUSTER, namespace);
    const pki = new Pki("helper-consul-pki", {
      caCommonName: "vault-mutual-unseal helper Consul CA",
      servers: { consul: specs.server, agent: specs.agent },
    });
    storage = consulStorage(
      {
        vaultCluster: HELPER_CLUSTER,
        flavour: cfg.flavour,
        namespace: ns,
        replicas: cfg.consulReplicas,
        storageClassName: cfg.storageClass,
        zoneSpread: cfg.zoneSpread,
        serverTls: pki.serverBundle("consul"),
        agentTls: pki.serverBundle("agent"),
      },
      opts,
    );
  }

  const expose = exposeArgs(cfg.expose);
  const helper = new HelperBackup(
    "helper",
    {
      flavour: cfg.flavour,
      namespace: ns,
      clusterName: HELPER_CLUSTER,
      image: cfg.image,
      replicas: cfg.replicas,
      storage,
      zoneSpread: cfg.zoneSpread,
      expose,
      // Where vault's emergency seal arrives from: the helper's NetworkPolicy admits nothing else (its own pods aside).
      peerCidrs: helperPeerCidrs(cfg),
      tls,
      serverName,
      operatorTls: need<TlsBundle>("helperOperatorTls", SET_HELPER_ADDRESS),
      kubeconfig,
      context: cfg.context,
      keyShares: cfg.keyShares,
      keyThreshold: cfg.keyThreshold,
      adopt: cfg.adopt && pulumi.secret(cfg.adopt),
      backup: need<string>("transitKeyBackup", RUN_PRIMARY),
      latestVersion: need<number>("transitKeyLatestVersion", RUN_PRIMARY),
      revokeTokenOnDelete: cfg.revokeSealTokensOnDelete,
    },
    opts,
  );

  return {
    /** In-cluster address; `vault`'s emergency seal uses the primary's helperAddress, pointed at helperExternalService. */
    helperAddress: helper.address,
    helperInternalServerName: activeServerName(HELPER_CLUSTER, namespace),
    /** The Service whose external address the primary's helperAddress host must resolve to (kubectl get svc). */
    helperExternalService: !expose ? undefined : pulumi.interpolate`${namespace}/${vaultServiceNames(HELPER_CLUSTER).external}`,
    emergencySealToken: helper.emergencyToken,
    emergencySealTokenAccessor: helper.emergencyAccessor,
    transitKeyVersion: helper.keyVersion,
    transitKeyInSync: helper.inSync,
    transitKeyVerdict: helper.verdict,
  };
}
