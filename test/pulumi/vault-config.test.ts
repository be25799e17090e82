/** vault-config.ts, called directly: the config ConfigMap's files. */
import { transitSealTo, vaultConfigMapData } from "../../components/vault-config";

const base = { flavour: "vault" as const, clusterName: "vault", namespace: "vault", replicas: 3, storage: { type: "raft" as const } };

describe("vaultConfigMapData", () => {
  it("with a seal rendered into server.hcl, writes the peer gate's address and server name beside it", () => {
    const seal = transitSealTo("https://vault-unlock.vault-unlock.svc:8200", { serverName: "vault-unlock-active.vault-unlock.svc" });
    const data = vaultConfigMapData({ ...base, seals: [seal] });
    expect(Object.keys(data).sort()).toEqual(["peer-address", "peer-server-name", "server.hcl"]);
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
