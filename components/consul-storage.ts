/**
 * Consul as one Vault cluster's storage: the certificates its servers and the Vault pods'
 * client agents need (issued by the caller's Pki), and the ConsulCluster itself, named
 * `consul-<vault cluster>`. The pair builds one per Vault cluster, the helper stack its own.
 */
import * as pulumi from "@pulumi/pulumi";
import { consulNames } from "../adapters/kubernetes/names";
import { Flavour } from "../core/render/server-config";
import { ConsulCluster } from "./consul-cluster";
import { ServerCertSpec, TlsBundle } from "./pki";
import { ZoneSpread } from "./pod-spread";
import { VaultStorageArgs } from "./vault-cluster";
import { vaultPodLabels } from "./vault-labels";

/** The name of the Consul cluster that stores `vaultCluster`'s data. */
export const consulClusterOf = (vaultCluster: string) => `consul-${vaultCluster}`;

/** Server certificate (its Services, `server.dc1.consul`) and the agents' (`client.dc1.consul`), both with client auth. */
export function consulCertSpecs(vaultCluster: string, namespace: pulumi.Input<string>): { server: ServerCertSpec; agent: ServerCertSpec } {
  const n = consulNames(consulClusterOf(vaultCluster));
  return {
    server: {
      namespace,
      services: [n.service],
      headlessService: n.headlessService,
      extraDnsNames: ["server.dc1.consul"],
      clientAuth: true,
    },
    agent: { namespace, services: [], extraDnsNames: ["client.dc1.consul"], clientAuth: true },
  };
}

export interface ConsulStorageArgs {
  vaultCluster: string;
  flavour: Flavour;
  namespace: pulumi.Input<string>;
  replicas: number;
  storageClassName?: string;
  zoneSpread?: ZoneSpread;
  /** Issued for consulCertSpecs' server and agent. */
  serverTls: pulumi.Input<TlsBundle>;
  agentTls: pulumi.Input<TlsBundle>;
}

/** The ConsulCluster for one Vault cluster, and the storage settings its VaultCluster takes. */
export function consulStorage(args: ConsulStorageArgs, opts: pulumi.ComponentResourceOptions): VaultStorageArgs {
  const cluster = new ConsulCluster(
    consulClusterOf(args.vaultCluster),
    {
      namespace: args.namespace,
      replicas: args.replicas,
      tls: args.serverTls,
      storageClassName: args.storageClassName,
      // Only the Vault pods' agents are admitted.
      clientPodLabels: vaultPodLabels(args.flavour, args.vaultCluster),
      zoneSpread: args.zoneSpread,
    },
    opts,
  );
  return { type: "consul", agent: cluster.agentSettings, agentTls: args.agentTls };
}
