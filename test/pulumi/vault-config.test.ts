/** vault-config.ts, called directly: the config ConfigMap's files. */
import { renderVaultConfig, transitSealTo, vaultConfigMapData } from "../../components/vault-config";
import { blockOf, blocksOf, readHcl } from "../unit/hcl-reader";

const base = { flavour: "vault" as const, clusterName: "vault", namespace: "vault", replicas: 3, storage: { type: "raft" as const } };

describe("vaultConfigMapData", () => {
  it("with a seal rendered into server.hcl, writes the peer gate's address, server name and TLS files beside it", () => {
    const seal = transitSealTo("https://vault-unlock.vault-unlock.svc:8200", { serverName: "vault-unlock-active.vault-unlock.svc" });
    const data = vaultConfigMapData({ ...base, seals: [seal] });
    expect(Object.keys(data).sort()).toEqual([
      "peer-address",
      "peer-ca-cert",
      "peer-client-cert",
      "peer-client-key",
      "peer-server-name",
      "server.hcl",
    ]);
    expect(data["peer-address"]).toBe("https://vault-unlock.vault-unlock.svc:8200");
    expect(data["peer-server-name"]).toBe("vault-unlock-active.vault-unlock.svc");
    expect(data["server.hcl"]).toContain('seal "transit"');
  });

  it("on Shamir, writes server.hcl only, so the peer gate lets the pod start at once", () => {
    const data = vaultConfigMapData({ ...base, seals: [] });
    expect(Object.keys(data)).toEqual(["server.hcl"]);
    expect(data["server.hcl"]).not.toContain("seal ");
  });
});

describe("renderVaultConfig with requireClientCert", () => {
  it("serves only clients with a certificate from the cluster's CA, and joins Raft presenting the pod's own certificate", () => {
    const hcl = readHcl(renderVaultConfig({ ...base, seals: [], requireClientCert: true }));
    expect(blockOf(hcl, "listener", "tcp").attrs).toMatchObject({
      tls_client_ca_file: "/vault/tls/ca.crt",
      tls_require_and_verify_client_cert: true,
    });
    const joins = blocksOf(blockOf(hcl, "storage", "raft"), "retry_join");
    expect(joins).toHaveLength(3);
    for (const j of joins)
      expect(j.attrs).toMatchObject({ leader_client_cert_file: "/vault/tls/tls.crt", leader_client_key_file: "/vault/tls/tls.key" });
  });

  it("without it, asks no client certificate of anyone", () => {
    const hcl = readHcl(renderVaultConfig({ ...base, seals: [] }));
    expect(blockOf(hcl, "listener", "tcp").attrs.tls_require_and_verify_client_cert).toBeUndefined();
    for (const j of blocksOf(blockOf(hcl, "storage", "raft"), "retry_join")) expect(j.attrs.leader_client_cert_file).toBeUndefined();
  });
});
