/**
 * The naming module: the names of objects that exist in live deployments. A change here
 * renames (recreates) them, and a reader using an old name would not find them.
 */
import {
  TRANSIT_TOKEN_KEY,
  activeServiceHost,
  consulNames,
  consulPodHost,
  vaultNames,
  vaultPodHost,
} from "../../adapters/kubernetes/names";

describe("vaultNames", () => {
  it("names a Vault cluster's objects as deployed clusters have them", () => {
    const n = vaultNames("vault-unlock");
    expect({ ...n, pod: n.pod(2) }).toEqual({
      clusterName: "vault-unlock",
      statefulSet: "vault-unlock",
      pod: "vault-unlock-2",
      serviceAccount: "vault-unlock",
      role: "vault-unlock",
      roleBinding: "vault-unlock",
      podDisruptionBudget: "vault-unlock",
      ingress: "vault-unlock",
      configMap: "vault-unlock-config",
      tlsSecret: "vault-unlock-tls",
      transitTlsSecret: "vault-unlock-transit-tls",
      sealConfigMap: "vault-unlock-seal",
      transitTokenSecret: "vault-unlock-transit-token",
      edgeTlsSecret: "vault-unlock-edge-tls",
      initRecordSecret: "vault-unlock-init-record",
      consulAgentConfigMap: "vault-unlock-consul-agent",
      consulTlsSecret: "vault-unlock-consul-tls",
      unsealOnlyNetworkPolicy: "vault-unlock-unseal-only",
      dataVolumeClaim: "data",
      services: {
        active: "vault-unlock-active",
        unsealed: "vault-unlock",
        standby: "vault-unlock-standby",
        headless: "vault-unlock-internal",
        external: "vault-unlock-external",
      },
    });
    expect(TRANSIT_TOKEN_KEY).toBe("token");
  });

  it("gives the DNS names the certificates carry: the active Service's and each pod's through the headless Service", () => {
    expect(activeServiceHost("vault", "ns")).toBe("vault-active.ns.svc");
    expect(vaultPodHost("vault", 1, "ns")).toBe("vault-1.vault-internal.ns.svc");
  });
});

describe("consulNames", () => {
  it("names a Consul cluster's objects as deployed clusters have them", () => {
    const n = consulNames("consul-vault");
    expect({ ...n, pod: n.pod(0) }).toEqual({
      statefulSet: "consul-vault-server",
      pod: "consul-vault-server-0",
      headlessService: "consul-vault-server",
      service: "consul-vault",
      podDisruptionBudget: "consul-vault",
      gossipSecret: "consul-vault-gossip",
      tlsSecret: "consul-vault-tls",
      configMap: "consul-vault-config",
      networkPolicy: "consul-vault-servers",
      dataVolumeClaim: "data",
    });
    expect(consulPodHost("consul-vault", 2, "vault")).toBe("consul-vault-server-2.consul-vault-server.vault.svc");
  });
});
