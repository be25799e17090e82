/** vault-pod.ts's builders, called directly: the pod spec and StatefulSet a VaultCluster registers. */
import * as pulumi from "@pulumi/pulumi";
import { installMocks, value } from "./harness";

type PodModule = typeof import("../../components/vault-pod");
let m: PodModule;

beforeAll(async () => {
  await installMocks();
  m = await import("../../components/vault-pod");
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const resolve = (v: unknown): Promise<any> => value(pulumi.output(v));

const RAFT: Parameters<PodModule["vaultPodSpec"]>[0] = {
  flavour: "vault",
  clusterName: "vault-unlock",
  namespace: "ns",
  image: "hashicorp/vault:1.20.0",
  serviceAccountName: "vault-unlock",
  configMapName: "vault-unlock-config",
  tlsSecretName: "vault-unlock-tls",
  sealConfigMapName: "vault-unlock-seal",
  transitTokenSecretName: "vault-unlock-transit-token",
};
const CONSUL = {
  ...RAFT,
  clusterName: "vault",
  consulAgent: {
    image: "hashicorp/consul:1.20.0",
    gossipSecretName: "consul-gossip",
    configMapName: "vault-consul-agent",
    tlsSecretName: "vault-consul-tls",
  },
};
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const named = (list: any[], name: string) => list.find((x) => x.name === name);

describe("vaultPodSpec", () => {
  it("mounts the seal ConfigMap and the transit TLS Secret optional, so a pod starts before any seal is applied", async () => {
    const spec = await resolve(m.vaultPodSpec(RAFT));
    expect(named(spec.volumes, "seal")).toEqual({ name: "seal", configMap: { name: "vault-unlock-seal", optional: true } });
    expect(named(spec.volumes, "transit-tls")).toEqual({
      name: "transit-tls",
      secret: { secretName: "vault-unlock-transit-tls", optional: true },
    });
    for (const c of [...spec.containers, ...spec.initContainers].filter((x) => x.name !== "consul-agent"))
      expect([c.name, named(c.volumeMounts, "seal")]).toEqual([c.name, { name: "seal", mountPath: "/vault/seal", readOnly: true }]);
  });

  it("passes the transit token to the server container only, from the token Secret's key, optional", async () => {
    const spec = await resolve(m.vaultPodSpec(RAFT));
    const server = named(spec.containers, "vault");
    expect(server.env.filter((e: { name: string }) => e.name === "VAULT_TRANSIT_SEAL_TOKEN")).toEqual([
      {
        name: "VAULT_TRANSIT_SEAL_TOKEN",
        valueFrom: { secretKeyRef: { name: "vault-unlock-transit-token", key: "token", optional: true } },
      },
    ]);
    expect(named(spec.initContainers, "peer-gate").env.map((e: { name: string }) => e.name)).not.toContain("VAULT_TRANSIT_SEAL_TOKEN");
  });

  it("gives each pod its own api_addr and cluster_addr through the headless Service", async () => {
    const env = named((await resolve(m.vaultPodSpec(RAFT))).containers, "vault").env;
    expect(named(env, "VAULT_API_ADDR").value).toBe("https://$(POD_NAME).vault-unlock-internal.ns.svc:8200");
    expect(named(env, "VAULT_CLUSTER_ADDR").value).toBe("https://$(POD_NAME).vault-unlock-internal.ns.svc:8201");
  });

  it("with Raft: keeps the data on the claim template's volume, names the Raft node after the pod, and runs no Consul agent", async () => {
    const spec = await resolve(m.vaultPodSpec(RAFT));
    const server = named(spec.containers, "vault");
    expect(named(server.volumeMounts, "data")).toEqual({ name: "data", mountPath: "/vault/data" });
    expect(named(server.env, "VAULT_RAFT_NODE_ID")).toEqual({
      name: "VAULT_RAFT_NODE_ID",
      valueFrom: { fieldRef: { fieldPath: "metadata.name" } },
    });
    expect(spec.containers.map((c: { name: string }) => c.name)).toEqual(["vault"]);
  });

  it("with Consul storage: runs the agent sidecar with its own config, gossip key and certificate, and no Raft data volume", async () => {
    const spec = await resolve(m.vaultPodSpec(CONSUL));
    expect(spec.containers.map((c: { name: string; image: string }) => [c.name, c.image])).toEqual([
      ["vault", "hashicorp/vault:1.20.0"],
      ["consul-agent", "hashicorp/consul:1.20.0"],
    ]);
    expect(spec.volumes.filter((v: { name: string }) => v.name.startsWith("consul-"))).toEqual([
      { name: "consul-config", configMap: { name: "vault-consul-agent" } },
      { name: "consul-gossip", secret: { secretName: "consul-gossip" } },
      { name: "consul-tls", secret: { secretName: "vault-consul-tls" } },
      { name: "consul-data", emptyDir: {} },
    ]);
    const server = named(spec.containers, "vault");
    expect(named(server.volumeMounts, "data")).toBeUndefined();
    expect(named(server.env, "VAULT_RAFT_NODE_ID")).toBeUndefined();
  });

  it("runs OpenBao's bao CLI with BAO_ variables in the server and the peer gate", async () => {
    const spec = await resolve(m.vaultPodSpec({ ...RAFT, flavour: "openbao", image: "quay.io/openbao/openbao:2.7.2" }));
    expect(spec.containers[0].name).toBe("bao");
    expect(spec.containers[0].command.join(" ")).toContain("exec bao server -config=/vault/config/server.hcl");
    expect(named(spec.containers[0].env, "BAO_ADDR").value).toBe("https://127.0.0.1:8200");
    expect(named(spec.initContainers[0].env, "BAO_CLIENT_CERT").value).toBe("/vault/transit-tls/tls.crt");
  });

  it("keeps two pods of one cluster off one host, and with zoneSpread required off one zone", async () => {
    const spec = await resolve(m.vaultPodSpec({ ...RAFT, zoneSpread: "required" }));
    const terms = spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution;
    expect(terms.map((t: { topologyKey: string }) => t.topologyKey)).toEqual(["kubernetes.io/hostname", "topology.kubernetes.io/zone"]);
    expect(terms[0].labelSelector.matchLabels["app.kubernetes.io/instance"]).toBe("vault-unlock");
  });
});

describe("vaultStatefulSet", () => {
  const settings = (raft: boolean) => ({
    flavour: "vault" as const,
    clusterName: "vault-unlock",
    namespace: "ns",
    replicas: 3,
    serviceName: "vault-unlock-internal",
    sealChecksum: "DIGEST",
    pod: { containers: [] },
    raftData: raft ? { storageClassName: "fast-ssd" } : undefined,
  });

  it("labels its pods serving=true but selects them without that label, so a drained pod stays in its StatefulSet", async () => {
    const sts = await resolve(m.vaultStatefulSet(settings(true)));
    expect(sts.spec.template.metadata.labels["vault-mutual-unseal/serving"]).toBe("true");
    expect(sts.spec.selector.matchLabels).not.toHaveProperty("vault-mutual-unseal/serving");
    expect(sts.spec.template.metadata.labels).toMatchObject(sts.spec.selector.matchLabels);
  });

  it("starts every pod at once, never restarts one itself (the core rolls pods during seal changes), and Pulumi does not wait for them", async () => {
    const sts = await resolve(m.vaultStatefulSet(settings(true)));
    expect(sts.spec).toMatchObject({ podManagementPolicy: "Parallel", updateStrategy: { type: "OnDelete" } });
    expect(sts.metadata.annotations).toEqual({ "pulumi.com/skipAwait": "true" });
  });

  it("records the server.hcl seal's digest on the pod template", async () => {
    const sts = await resolve(m.vaultStatefulSet(settings(true)));
    expect(sts.spec.template.metadata.annotations).toEqual({ "vault-mutual-unseal/seal-checksum": "DIGEST" });
  });

  it("claims a 10Gi data volume per pod with Raft, none without", async () => {
    const raft = await resolve(m.vaultStatefulSet(settings(true)));
    expect(raft.spec.volumeClaimTemplates).toHaveLength(1);
    expect(raft.spec.volumeClaimTemplates[0].metadata.name).toBe("data");
    expect(raft.spec.volumeClaimTemplates[0].spec).toEqual({
      accessModes: ["ReadWriteOnce"],
      storageClassName: "fast-ssd",
      resources: { requests: { storage: "10Gi" } },
    });
    expect((await resolve(m.vaultStatefulSet(settings(false)))).spec.volumeClaimTemplates).toBeUndefined();
  });
});
