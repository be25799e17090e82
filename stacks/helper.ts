/**
 * The helper stack: the backup unsealer in a second Kubernetes cluster (HelperBackup),
 * holding a copy of the transit key that unseals `vault`, restored from the primary stack's
 * outputs read through a StackReference. Its server certificate comes from the primary's CA
 * (the primary's `helperTls` output), so `vault`'s emergency seal trusts it and it trusts
 * `vault`'s transit client certificate. With Consul storage it gets its own Consul cluster,
 * whose internal TLS uses a CA of its own.
 *
 * Outputs the emergency seal token that the primary stack reads when `emergency: true`.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { activeServerName } from "../components/cluster-access";
import { ConsulCluster } from "../components/consul-cluster";
import { HelperBackup } from "../components/helper-backup";
import { Pki } from "../components/pki";
import { TlsBundle } from "../components/pki";
import { VaultStorageArgs } from "../components/vault-cluster";
import { HELPER_KEYS, parseHelperConfig } from "./config";
import { rawConfig, readKubeconfig } from "./read-config";

export const HELPER_CLUSTER = "vault-helper";

export function helperProgram() {
  const cfg = parseHelperConfig(rawConfig(HELPER_KEYS));
  const kubeconfig = readKubeconfig();
  const provider = new k8s.Provider(`k8s-${cfg.context.replace(/[^A-Za-z0-9-]/g, "-")}`, { kubeconfig, context: cfg.context });
  const opts = { providers: { kubernetes: provider } };
  const ns = new k8s.core.v1.Namespace(`${HELPER_CLUSTER}-namespace`, { metadata: { name: cfg.namespace } }, { provider }).metadata.name;

  const primary = new pulumi.StackReference(cfg.primaryStack);
  const tls = primary.requireOutput("helperTls") as pulumi.Output<TlsBundle>;
  const serverName = primary.requireOutput("helperServerName") as pulumi.Output<string>;

  let storage: VaultStorageArgs = { type: "raft", storageClassName: cfg.storageClass };
  if (cfg.storage === "consul") {
    const pki = new Pki("helper-consul-pki", {
      caCommonName: "vault-mutual-unseal helper Consul CA",
      servers: {
        consul: { namespace: cfg.namespace, services: [`consul-${HELPER_CLUSTER}`], headlessService: `consul-${HELPER_CLUSTER}-server`, extraDnsNames: ["server.dc1.consul"], clientAuth: true },
        agent: { namespace: cfg.namespace, services: [], extraDnsNames: ["client.dc1.consul"], clientAuth: true },
      },
    });
    const consul = new ConsulCluster(`consul-${HELPER_CLUSTER}`, { namespace: ns, replicas: cfg.consulReplicas, tls: pki.serverBundle("consul"), storageClassName: cfg.storageClass }, opts);
    storage = { type: "consul", agent: consul.agentSettings, agentTls: pki.serverBundle("agent") };
  }

  const helper = new HelperBackup("helper", {
    flavour: cfg.flavour, namespace: ns, clusterName: HELPER_CLUSTER, image: cfg.image, replicas: cfg.replicas, storage,
    tls, serverName, kubeconfig, context: cfg.context, keyShares: cfg.keyShares, keyThreshold: cfg.keyThreshold,
    backup: primary.requireOutput("transitKeyBackup") as pulumi.Output<string>,
    latestVersion: primary.requireOutput("transitKeyLatestVersion") as pulumi.Output<number>,
    mountPath: primary.requireOutput("transitMount") as pulumi.Output<string>,
    keyName: primary.requireOutput("transitKeyName") as pulumi.Output<string>,
  }, opts);

  return {
    helperAddress: helper.address,
    helperInternalServerName: activeServerName(HELPER_CLUSTER, cfg.namespace),
    helperRootToken: helper.rootToken,
    helperUnsealKeys: helper.unsealKeys,
    emergencySealToken: helper.emergencyToken,
    emergencySealTokenAccessor: helper.emergencyAccessor,
    transitKeyVersion: helper.keyVersion,
    transitKeyInSync: helper.inSync,
    transitKeyVerdict: helper.verdict,
  };
}
