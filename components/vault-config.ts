/**
 * What a Vault pod reads: its server.hcl, rendered by the core's renderer (what the
 * real-server tests prove is what gets deployed), and the ports and paths inside the pod.
 */
import { vaultNames, vaultPodHost, serviceHost } from "../adapters/kubernetes/names";
import { peerGateData } from "../adapters/kubernetes/seal-config";
import { renderBlock } from "../core/render/hcl";
import { SealStanza, TransitSeal } from "../core/render/seal";
import { ConsulStorage, Flavour, RaftStorage, ServerConfig, renderServerConfig } from "../core/render/server-config";
import { CONSUL_HTTPS_PORT } from "./consul-cluster";
import { tlsSecretKeys } from "./pki";

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
const tlsFilesOf = (prefix: string) => {
  const k = tlsSecretKeys(prefix);
  return {
    tlsCaCert: `${VAULT_DIRS.transitTls}/${k.ca}`,
    tlsClientCert: `${VAULT_DIRS.transitTls}/${k.cert}`,
    tlsClientKey: `${VAULT_DIRS.transitTls}/${k.key}`,
  };
};

/** The transit seal's TLS files towards its unsealer: the unsealer's CA and the client certificate that CA issued. */
export const TRANSIT_TLS_FILES = tlsFilesOf("");
/**
 * Towards the helper (the emergency seal), in the same Secret: the helper is a trust domain of
 * its own, so its CA and the client certificate it accepts differ from the unsealer's.
 */
export const EMERGENCY_TLS_PREFIX = "emergency-";
export const EMERGENCY_TLS_FILES = tlsFilesOf(EMERGENCY_TLS_PREFIX);

/** A transit seal towards `address` using the mounted transit TLS files (`tlsFiles`: the emergency ones towards the helper). */
export function transitSealTo(
  address: string,
  o: { serverName?: string; keyName?: string; mountPath?: string; tlsFiles?: typeof TRANSIT_TLS_FILES } = {},
): TransitSeal {
  return {
    type: "transit",
    address,
    keyName: o.keyName ?? "autounseal",
    mountPath: o.mountPath ?? "transit/",
    tlsServerName: o.serverName,
    ...(o.tlsFiles ?? TRANSIT_TLS_FILES),
  };
}

/** What renders one cluster's server.hcl (resolved values). */
export interface VaultConfigSettings {
  flavour: Flavour;
  clusterName: string;
  namespace: string;
  replicas: number;
  seals: SealStanza[];
  storage: { type: "raft" } | { type: "consul"; path: string };
  ui?: boolean;
  logLevel?: ServerConfig["logLevel"];
  /**
   * Only clients with a certificate from the cluster's CA are served (a leaked token is useless
   * without a client key). Raft's retry_join then presents the pod's own certificate, which is
   * issued with client_auth for it.
   */
  requireClientCert?: boolean;
}

/**
 * server.hcl for every pod. Per-pod values (api_addr, cluster_addr, Raft node_id) come from
 * env vars, which both servers prefer over the file; the file holds cluster-wide fallbacks.
 */
export function renderVaultConfig(c: VaultConfigSettings): string {
  const svc = vaultNames(c.clusterName).services;
  const storage: RaftStorage | ConsulStorage =
    c.storage.type === "raft"
      ? {
          type: "raft",
          path: VAULT_DIRS.data,
          nodeId: "",
          retryJoin: Array.from({ length: c.replicas }, (_, i) => ({
            leaderApiAddr: `https://${vaultPodHost(c.clusterName, i, c.namespace)}:${API_PORT}`,
            leaderCaCertFile: `${VAULT_DIRS.tls}/ca.crt`,
            ...(c.requireClientCert
              ? { leaderClientCertFile: `${VAULT_DIRS.tls}/tls.crt`, leaderClientKeyFile: `${VAULT_DIRS.tls}/tls.key` }
              : {}),
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
      requireClientCert: c.requireClientCert,
    },
    apiAddr: `https://${serviceHost(svc.active, c.namespace)}:${API_PORT}`,
    clusterAddr: `https://${serviceHost(svc.headless, c.namespace)}:${CLUSTER_PORT}`,
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
 * The data of the cluster's config ConfigMap: server.hcl, and the peer gate's files for a
 * seal rendered into it (a later seal brings its own in the seal ConfigMap).
 */
export function vaultConfigMapData(c: VaultConfigSettings): Record<string, string> {
  return { "server.hcl": renderVaultConfig(c), ...peerGateData(c.seals) };
}
