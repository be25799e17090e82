/** clusterAccess: the providers find the objects a VaultCluster made, by the same names. */
import * as pulumi from "@pulumi/pulumi";
import { installMocks, one, value } from "./harness";
import { VaultModule, deployVaultUnlock } from "./vault-fixtures";

let vault: VaultModule;
let access: typeof import("../../components/cluster-access");

beforeAll(async () => {
  await installMocks();
  vault = await import("../../components/vault-cluster");
  access = await import("../../components/cluster-access");
});

describe("clusterAccess", () => {
  it("points the providers at the StatefulSet, seal ConfigMap and token Secret the VaultCluster's pods use", async () => {
    await deployVaultUnlock(vault);
    const sts = one("StatefulSet", "vault-unlock").inputs;
    const spec = sts.spec.template.spec;
    const nodes = await value(
      pulumi.output(
        access.clusterAccess({
          kubeconfig: "KUBECONFIG",
          namespace: "vault-unlock",
          clusterName: "vault-unlock",
          replicas: 3,
          caPem: "CA-PEM",
          serverName: access.activeServerName("vault-unlock", "vault-unlock"),
        }),
      ),
    );
    expect(nodes).toMatchObject({ kind: "kubernetes", statefulSet: sts.metadata.name, port: spec.containers[0].ports[0].containerPort });
    expect(nodes.kind === "kubernetes" && nodes.sealConfigMap).toBe(
      spec.volumes.find((v: { name: string }) => v.name === "seal").configMap.name,
    );
    const tokenRef = spec.containers[0].env.find((e: { name: string }) => e.name === "VAULT_TRANSIT_SEAL_TOKEN").valueFrom.secretKeyRef;
    expect(nodes.kind === "kubernetes" && nodes.sealTokenSecret).toBe(tokenRef.name);
  });

  it("checks the name of the active Service, which the VaultCluster's certificate carries", async () => {
    const name = await value(access.activeServerName("vault", "ns"));
    expect(name).toBe("vault-active.ns.svc");
    expect(vault.vaultCertSpec("vault", "ns").services).toContain("vault-active");
  });
});
