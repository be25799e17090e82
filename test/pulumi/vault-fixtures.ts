/**
 * The article's two clusters as VaultCluster arguments, for the mock tests:
 * - `vault-unlock`: Raft, Shamir at first (its transit seal arrives later through the optional
 *   seal ConfigMap), reachable only by `vault`'s pods;
 * - `vault`: Consul storage with the agent sidecar, born sealed by `vault-unlock`'s transit, with an Ingress.
 */
import * as pulumi from "@pulumi/pulumi";
import type * as VaultClusterModule from "../../components/vault-cluster";
import { registered, settle } from "./harness";

export type VaultModule = typeof VaultClusterModule;

export const SERVER_TLS = { caCertPem: "CA-PEM", certPem: "VAULT-SERVER-PEM", keyPem: "VAULT-SERVER-KEY" };
export const TRANSIT_TLS = { caCertPem: "CA-PEM", certPem: "TRANSIT-CLIENT-PEM", keyPem: "TRANSIT-CLIENT-KEY" };
export const AGENT_TLS = { caCertPem: "CA-PEM", certPem: "AGENT-PEM", keyPem: "AGENT-KEY" };
export const SECRET_MATERIAL = ["VAULT-SERVER-KEY", "TRANSIT-CLIENT-KEY", "AGENT-KEY"];
export const VAULT_UNLOCK_LABELS = {
  "app.kubernetes.io/name": "vault",
  "app.kubernetes.io/instance": "vault-unlock",
  "app.kubernetes.io/component": "server",
  "app.kubernetes.io/part-of": "vault-mutual-unseal",
};
export const AGENT = {
  image: "hashicorp/consul:1.20.0",
  datacenter: "dc1",
  retryJoin: ["consul-vault-server-0.consul-vault-server.vault.svc"],
  gossipSecretName: "consul-vault-gossip",
};

export function unlockSeal(m: VaultModule) {
  return m.transitSealTo("https://vault-unlock-active.vault-unlock.svc:8200", { serverName: "vault-unlock-active.vault-unlock.svc" });
}

export async function deployVaultUnlock(m: VaultModule, extra: Partial<VaultClusterModule.VaultClusterArgs> = {}) {
  registered.splice(0);
  const c = new m.VaultCluster("vault-unlock", {
    namespace: "vault-unlock",
    flavour: "vault",
    storage: { type: "raft", storageClassName: "fast-ssd" },
    tls: pulumi.secret(SERVER_TLS),
    transitTls: pulumi.secret(TRANSIT_TLS),
    networkPolicy: { peerNamespace: "vault", peerPodLabels: { ...VAULT_UNLOCK_LABELS, "app.kubernetes.io/instance": "vault" } },
    ...extra,
  });
  await settle();
  return c;
}

export async function deployVault(m: VaultModule, extra: Partial<VaultClusterModule.VaultClusterArgs> = {}) {
  registered.splice(0);
  const c = new m.VaultCluster("vault", {
    namespace: "vault",
    flavour: "vault",
    storage: { type: "consul", agent: AGENT, agentTls: pulumi.secret(AGENT_TLS) },
    tls: pulumi.secret(SERVER_TLS),
    seals: [unlockSeal(m)],
    transitTls: pulumi.secret(TRANSIT_TLS),
    ingress: { host: "vault.example.org", className: "nginx", tlsSecretName: "vault-ingress-tls" },
    ...extra,
  });
  await settle();
  return c;
}
