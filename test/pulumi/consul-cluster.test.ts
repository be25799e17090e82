import * as pulumi from "@pulumi/pulumi";
import {
  FAKE_GOSSIP_KEY,
  TLS_OFF,
  installMocks,
  k8sObjects,
  kindName,
  one,
  registered,
  settle,
  strings,
  validateK8s,
  value,
} from "./harness";

type ConsulModule = typeof import("../../components/consul-cluster");
let consul: ConsulModule;

beforeAll(async () => {
  await installMocks();
  consul = await import("../../components/consul-cluster");
});
beforeEach(() => registered.splice(0));

const TLS = { caCertPem: "CA-PEM", certPem: "SERVER-PEM", keyPem: "SERVER-KEY-PEM" };

async function deploy(extra: Partial<import("../../components/consul-cluster").ConsulClusterArgs> = {}) {
  const c = new consul.ConsulCluster("consul-vault", {
    namespace: "vault",
    tls: pulumi.secret(TLS),
    storageClassName: "fast-ssd",
    ...extra,
  });
  await settle();
  return c;
}

const serverPod = () => one("StatefulSet", "consul-vault-server").inputs.spec.template.spec;
const serverContainer = () => serverPod().containers[0];

describe("ConsulCluster", () => {
  it("creates exactly the server StatefulSet, its Services, PDB, gossip key, TLS and config, all valid Kubernetes objects", async () => {
    await deploy();
    expect(
      registered
        .filter((r) => !r.type.startsWith("kubernetes:"))
        .map((r) => `${r.type} ${r.name}`)
        .sort(),
    ).toEqual(["random:index/randomBytes:RandomBytes consul-vault-gossip-key", "vault-mutual-unseal:index:ConsulCluster consul-vault"]);
    expect(k8sObjects().map(kindName).sort()).toEqual([
      "ConfigMap consul-vault-config",
      "PodDisruptionBudget consul-vault",
      "Secret consul-vault-gossip",
      "Secret consul-vault-tls",
      "Service consul-vault",
      "Service consul-vault-server",
      "StatefulSet consul-vault-server",
    ]);
    expect(registered.find((r) => r.name === "consul-vault-gossip-key")?.inputs).toEqual({ length: 32 });
    for (const r of k8sObjects()) {
      expect(r.inputs.metadata.namespace).toBe("vault");
      validateK8s(r);
    }
  });

  it("runs 3 servers by default, each on its own host, that find each other before any is ready", async () => {
    await deploy();
    const sts = one("StatefulSet", "consul-vault-server").inputs.spec;
    expect(sts.replicas).toBe(3);
    expect(sts.podManagementPolicy).toBe("Parallel");
    expect(sts.serviceName).toBe("consul-vault-server");
    const labels = sts.selector.matchLabels;
    expect(sts.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution).toEqual([
      { labelSelector: { matchLabels: labels }, topologyKey: "kubernetes.io/hostname" },
    ]);
    expect(one("Service", "consul-vault-server").inputs.spec).toMatchObject({
      clusterIP: "None",
      publishNotReadyAddresses: true,
      selector: labels,
    });
    expect(one("Service", "consul-vault").inputs.spec.publishNotReadyAddresses).toBeUndefined();
    expect(one("PodDisruptionBudget", "consul-vault").inputs.spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: labels } });
    expect(sts.volumeClaimTemplates[0].spec).toEqual({
      accessModes: ["ReadWriteOnce"],
      storageClassName: "fast-ssd",
      resources: { requests: { storage: "10Gi" } },
    });
  });

  it("is ready only with a leader, is restarted only when the agent stops answering, and leaves the cluster on stop", async () => {
    await deploy();
    const c = serverContainer();
    expect(c.readinessProbe.exec.command).toEqual(["consul", "operator", "raft", "list-peers"]);
    // Gossip (on the pod IP), not HTTPS: an agent's HTTPS API listens on loopback only, out of the kubelet's reach.
    expect(c.livenessProbe).toMatchObject({ tcpSocket: { port: 8301 } });
    expect(c.livenessProbe.exec).toBeUndefined();
    expect(c.lifecycle.preStop.exec.command).toEqual(["consul", "leave"]);
    expect(c.env).toEqual(
      expect.arrayContaining([
        { name: "CONSUL_HTTP_ADDR", value: "https://127.0.0.1:8501" },
        { name: "CONSUL_CACERT", value: "/consul/tls/ca.crt" },
      ]),
    );
  });

  it("runs non-root with a read-only root filesystem and no capabilities", async () => {
    await deploy();
    expect(serverPod().securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
    expect(serverContainer().securityContext).toEqual({
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    });
    expect(serverPod().automountServiceAccountToken).toBe(false);
  });

  it("encrypts gossip and verifies TLS in every direction, with the key and certificates only in Secrets", async () => {
    const c = await deploy();
    const config = JSON.parse(one("ConfigMap", "consul-vault-config").inputs.data["consul.json"]);
    expect(config).toMatchObject({
      server: true,
      bootstrap_expect: 3,
      datacenter: "dc1",
      ports: { http: -1, https: 8501 },
      retry_join: [
        "consul-vault-server-0.consul-vault-server.vault.svc",
        "consul-vault-server-1.consul-vault-server.vault.svc",
        "consul-vault-server-2.consul-vault-server.vault.svc",
      ],
      encrypt_verify_incoming: true,
      encrypt_verify_outgoing: true,
      tls: {
        defaults: { verify_incoming: true, verify_outgoing: true, ca_file: "/consul/tls/ca.crt" },
        internal_rpc: { verify_server_hostname: true },
      },
    });
    expect(config.encrypt).toBeUndefined();
    const gossip = one("Secret", "consul-vault-gossip");
    expect(JSON.parse(gossip.inputs.stringData["gossip.json"])).toEqual({ encrypt: FAKE_GOSSIP_KEY });
    expect(gossip.secretPaths).toEqual(["stringData"]);
    const tls = one("Secret", "consul-vault-tls");
    expect(tls.inputs.stringData).toEqual({ "ca.crt": "CA-PEM", "tls.crt": "SERVER-PEM", "tls.key": "SERVER-KEY-PEM" });
    expect(tls.secretPaths).toEqual(["stringData"]);
    for (const r of k8sObjects().filter((x) => x.inputs.kind !== "Secret")) {
      for (const s of strings(r.inputs)) {
        expect([r.name, s.value.includes(FAKE_GOSSIP_KEY) || s.value.includes("SERVER-KEY-PEM")]).toEqual([r.name, false]);
        for (const off of TLS_OFF) expect([r.name, s.path, off.test(s.value)]).toEqual([r.name, s.path, false]);
      }
    }
    expect(await pulumi.isSecret(c.gossipKey)).toBe(true);
    expect(await value(c.agentSettings)).toEqual({
      image: "hashicorp/consul:1.20.0",
      datacenter: "dc1",
      retryJoin: config.retry_join,
      gossipSecretName: "consul-vault-gossip",
    });
  });

  it("takes 5 servers and refuses even counts before creating anything", async () => {
    await deploy({ replicas: 5 });
    expect(one("StatefulSet", "consul-vault-server").inputs.spec.replicas).toBe(5);
    registered.splice(0);
    expect(() => new consul.ConsulCluster("consul-even", { namespace: "vault", tls: TLS, replicas: 4 })).toThrow(
      "replicas: 4 is not a positive odd number",
    );
    expect(() => new consul.ConsulCluster("consul-zero", { namespace: "vault", tls: TLS, replicas: 0 })).toThrow(
      "replicas: 0 is not a positive odd number",
    );
    await settle();
    expect(registered).toEqual([]);
  });

  it("prefers spreading over zones when asked", async () => {
    await deploy({ zoneSpread: "preferred" });
    const anti = serverPod().affinity.podAntiAffinity;
    expect(anti.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey).toBe("topology.kubernetes.io/zone");
    expect(anti.requiredDuringSchedulingIgnoredDuringExecution.map((t: { topologyKey: string }) => t.topologyKey)).toEqual([
      "kubernetes.io/hostname",
    ]);
  });

  it("with its Vault pods' labels, admits only them and its own servers", async () => {
    const vaultPods = { "app.kubernetes.io/name": "vault", "app.kubernetes.io/instance": "vault" };
    await deploy({ clientPodLabels: vaultPods });
    const np = one("NetworkPolicy", "consul-vault-servers");
    validateK8s(np);
    const labels = one("StatefulSet", "consul-vault-server").inputs.spec.selector.matchLabels;
    expect(np.inputs.spec.podSelector).toEqual({ matchLabels: labels });
    const agentPorts = [
      { protocol: "TCP", port: 8300 },
      { protocol: "TCP", port: 8301 },
      { protocol: "UDP", port: 8301 },
      { protocol: "TCP", port: 8501 },
    ];
    expect(np.inputs.spec.ingress).toEqual([
      {
        from: [{ podSelector: { matchLabels: labels } }],
        ports: [...agentPorts, { protocol: "TCP", port: 8302 }, { protocol: "UDP", port: 8302 }],
      },
      { from: [{ podSelector: { matchLabels: vaultPods } }], ports: agentPorts },
    ]);
  });

  it("requires one pod per zone when asked", async () => {
    await deploy({ zoneSpread: "required" });
    const anti = serverPod().affinity.podAntiAffinity;
    expect(anti.requiredDuringSchedulingIgnoredDuringExecution.map((t: { topologyKey: string }) => t.topologyKey)).toEqual([
      "kubernetes.io/hostname",
      "topology.kubernetes.io/zone",
    ]);
    expect(anti.preferredDuringSchedulingIgnoredDuringExecution).toBeUndefined();
  });
});
