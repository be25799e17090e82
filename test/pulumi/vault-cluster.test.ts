/** VaultCluster: the Kubernetes objects, pod hardening, probes, Services and policies. */
import { installMocks, k8sObjects, kindName, one, registered, settle, validateK8s, value } from "./harness";
import { VAULT_UNLOCK_LABELS, VaultModule, deployVault, deployVaultUnlock } from "./vault-fixtures";

let m: VaultModule;

beforeAll(async () => {
  await installMocks();
  m = await import("../../components/vault-cluster");
});

const pod = (name: string) => one("StatefulSet", name).inputs.spec.template.spec;
const container = (name: string, c: string) => {
  const all = [...pod(name).containers, ...(pod(name).initContainers ?? [])];
  const found = all.find((x: { name: string }) => x.name === c);
  if (!found) throw new Error(`${name} has no container ${c}: ${all.map((x: { name: string }) => x.name).join(", ")}`);
  return found;
};

describe("VaultCluster objects", () => {
  it("vault-unlock (Raft, Shamir, unseal-only) is exactly these valid Kubernetes objects", async () => {
    await deployVaultUnlock(m);
    expect(registered.filter((r) => !r.custom).map((r) => `${r.type} ${r.name}`)).toEqual([
      "vault-mutual-unseal:index:VaultCluster vault-unlock",
    ]);
    expect(k8sObjects().map(kindName).sort()).toEqual([
      "ConfigMap vault-unlock-config",
      "NetworkPolicy vault-unlock-unseal-only",
      "PodDisruptionBudget vault-unlock",
      "Role vault-unlock",
      "RoleBinding vault-unlock",
      "Secret vault-unlock-tls",
      "Secret vault-unlock-transit-tls",
      "Service vault-unlock",
      "Service vault-unlock-active",
      "Service vault-unlock-internal",
      "Service vault-unlock-standby",
      "ServiceAccount vault-unlock",
      "StatefulSet vault-unlock",
    ]);
    expect(registered.filter((r) => r.custom && !r.type.startsWith("kubernetes:"))).toEqual([]);
    for (const r of k8sObjects()) {
      expect([kindName(r), r.inputs.metadata.namespace]).toEqual([kindName(r), "vault-unlock"]);
      validateK8s(r);
    }
  });

  it("vault (Consul storage, Ingress) is exactly these valid Kubernetes objects", async () => {
    await deployVault(m);
    expect(k8sObjects().map(kindName).sort()).toEqual([
      "ConfigMap vault-config",
      "ConfigMap vault-consul-agent",
      "Ingress vault",
      "PodDisruptionBudget vault",
      "Role vault",
      "RoleBinding vault",
      "Secret vault-consul-tls",
      "Secret vault-tls",
      "Secret vault-transit-tls",
      "Service vault",
      "Service vault-active",
      "Service vault-internal",
      "Service vault-standby",
      "ServiceAccount vault",
      "StatefulSet vault",
    ]);
    for (const r of k8sObjects()) validateK8s(r);
  });

  it("registers the pod spec and Services its builders make, with the names of the objects it created", async () => {
    const pulumi = await import("@pulumi/pulumi");
    const { vaultPodSpec } = await import("../../components/vault-pod");
    const { vaultServices } = await import("../../components/vault-network");
    await deployVaultUnlock(m, { zoneSpread: "preferred" });
    const built = await value(
      pulumi.output(
        vaultPodSpec({
          flavour: "vault",
          clusterName: "vault-unlock",
          namespace: "vault-unlock",
          image: "hashicorp/vault:1.20.0",
          serviceAccountName: "vault-unlock",
          configMapName: "vault-unlock-config",
          tlsSecretName: "vault-unlock-tls",
          sealConfigMapName: "vault-unlock-seal",
          transitTokenSecretName: "vault-unlock-transit-token",
          zoneSpread: "preferred",
        }),
      ),
    );
    expect(one("StatefulSet", "vault-unlock").inputs.spec.template.spec).toEqual(built);
    const services = await value(
      pulumi.output(vaultServices({ flavour: "vault", clusterName: "vault-unlock", namespace: "vault-unlock" })),
    );
    for (const svc of [services.headless, services.active, services.unsealed, services.standby]) {
      const registeredSvc = one("Service", svc.metadata!.name as string).inputs;
      expect([registeredSvc.metadata, registeredSvc.spec]).toEqual([svc.metadata, svc.spec]);
    }
  });

  it("the schema check itself rejects a malformed object", () => {
    expect(() =>
      validateK8s({
        type: "kubernetes:apps/v1:StatefulSet",
        name: "x",
        custom: true,
        secretPaths: [],
        inputs: { apiVersion: "apps/v1", kind: "StatefulSet", metadata: { name: "x" }, spec: { replicas: "three" } },
      }),
    ).toThrow("StatefulSet x does not match the Kubernetes schema");
  });

  it("starts all pods at once, is never rolled by Kubernetes, and keeps one pod per host", async () => {
    const c = await deployVaultUnlock(m);
    const spec = one("StatefulSet", "vault-unlock").inputs.spec;
    expect(spec).toMatchObject({
      replicas: 3,
      podManagementPolicy: "Parallel",
      updateStrategy: { type: "OnDelete" },
      serviceName: "vault-unlock-internal",
      selector: { matchLabels: VAULT_UNLOCK_LABELS },
    });
    // The serving label is in the template only (never in the StatefulSet's selector): the node adapter flips it to drain a pod.
    expect(spec.template.metadata.labels).toEqual({ ...VAULT_UNLOCK_LABELS, "vault-mutual-unseal/serving": "true" });
    // Sealed pods are not ready until later resources unseal them: pulumi up must not wait for them.
    expect(one("StatefulSet", "vault-unlock").inputs.metadata.annotations).toEqual({ "pulumi.com/skipAwait": "true" });
    expect(spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution).toEqual([
      { labelSelector: { matchLabels: VAULT_UNLOCK_LABELS }, topologyKey: "kubernetes.io/hostname" },
    ]);
    expect(one("PodDisruptionBudget", "vault-unlock").inputs.spec).toEqual({
      maxUnavailable: 1,
      selector: { matchLabels: VAULT_UNLOCK_LABELS },
    });
    expect(spec.volumeClaimTemplates[0].spec).toEqual({
      accessModes: ["ReadWriteOnce"],
      storageClassName: "fast-ssd",
      resources: { requests: { storage: "10Gi" } },
    });
    expect(await value(c.podNames)).toEqual(["vault-unlock-0", "vault-unlock-1", "vault-unlock-2"]);
    expect(await value(c.address)).toBe("https://vault-unlock-active.vault-unlock.svc:8200");
  });

  it("never restarts a sealed pod, keeps sealed pods out of the Services, and drains before stopping", async () => {
    await deployVaultUnlock(m);
    const v = container("vault-unlock", "vault");
    expect(v.livenessProbe.httpGet).toEqual({
      path: "/v1/sys/health?standbyok=true&sealedcode=204&uninitcode=204",
      port: 8200,
      scheme: "HTTPS",
    });
    expect(v.readinessProbe.httpGet).toEqual({ path: "/v1/sys/health?standbyok=true", port: 8200, scheme: "HTTPS" });
    expect(v.lifecycle.preStop.exec.command).toEqual(["/bin/sh", "-c", "sleep 6"]);
    // A container waiting at the peer gate is not killed by liveness for an hour.
    expect(v.startupProbe).toEqual({
      ...v.livenessProbe,
      initialDelaySeconds: undefined,
      periodSeconds: 5,
      timeoutSeconds: 3,
      failureThreshold: 720,
    });
    expect(pod("vault-unlock").terminationGracePeriodSeconds).toBeGreaterThan(6);
    expect(v.resources).toEqual({ requests: { cpu: "250m", memory: "256Mi" }, limits: { memory: "512Mi" } });
  });

  it("runs every container non-root on a read-only root filesystem with no capability (Pod Security restricted)", async () => {
    await deployVault(m);
    expect(pod("vault").securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
    for (const c of ["vault", "peer-gate", "consul-agent"]) {
      expect(container("vault", c).securityContext).toEqual({
        runAsNonRoot: true,
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ["ALL"] },
      });
    }
    expect(pod("vault").volumes).toContainEqual({ name: "tmp", emptyDir: { medium: "Memory", sizeLimit: "64Mi" } });
  });

  it("leaves a volume's ownership alone when it is already right (no re-chmod of the Raft database at every mount)", async () => {
    await deployVaultUnlock(m);
    expect(pod("vault-unlock").securityContext).toMatchObject({ fsGroup: 1000, fsGroupChangePolicy: "OnRootMismatch" });
  });

  it("publishes sealed pods only on the headless Service; active and standby follow service registration", async () => {
    await deployVaultUnlock(m);
    expect(one("Service", "vault-unlock-internal").inputs.spec).toMatchObject({
      clusterIP: "None",
      publishNotReadyAddresses: true,
      selector: VAULT_UNLOCK_LABELS,
    });
    const serving = { ...VAULT_UNLOCK_LABELS, "vault-mutual-unseal/serving": "true" };
    expect(one("Service", "vault-unlock-active").inputs.spec).toMatchObject({
      publishNotReadyAddresses: false,
      selector: { ...serving, "vault-active": "true" },
    });
    // What a peer's seal dials: every unsealed, serving pod (standbys forward to the active node).
    expect(one("Service", "vault-unlock").inputs.spec).toEqual({
      type: "ClusterIP",
      publishNotReadyAddresses: false,
      selector: serving,
      ports: [{ name: "https", port: 8200, targetPort: "https" }],
    });
    expect(one("Service", "vault-unlock-standby").inputs.spec).toMatchObject({
      publishNotReadyAddresses: false,
      selector: { ...VAULT_UNLOCK_LABELS, "vault-active": "false" },
    });
    // Its own pods only, by name: service registration labels the pod it runs in.
    expect(one("Role", "vault-unlock").inputs.rules).toEqual([
      {
        apiGroups: [""],
        resources: ["pods"],
        resourceNames: ["vault-unlock-0", "vault-unlock-1", "vault-unlock-2"],
        verbs: ["get", "update", "patch"],
      },
    ]);
    expect(one("RoleBinding", "vault-unlock").inputs.subjects).toEqual([
      { kind: "ServiceAccount", name: "vault-unlock", namespace: "vault-unlock" },
    ]);
    expect(pod("vault-unlock").serviceAccountName).toBe("vault-unlock");
  });

  it("lets only vault's pods and vault-unlock's own pods reach vault-unlock", async () => {
    await deployVaultUnlock(m, {
      networkPolicy: { peerNamespace: "vault", peerPodLabels: { "app.kubernetes.io/instance": "vault" }, peerCidrs: ["10.20.0.0/16"] },
    });
    expect(one("NetworkPolicy", "vault-unlock-unseal-only").inputs.spec).toEqual({
      podSelector: { matchLabels: VAULT_UNLOCK_LABELS },
      policyTypes: ["Ingress"],
      ingress: [
        {
          from: [{ podSelector: { matchLabels: VAULT_UNLOCK_LABELS } }],
          ports: [
            { protocol: "TCP", port: 8200 },
            { protocol: "TCP", port: 8201 },
          ],
        },
        {
          from: [
            {
              namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "vault" } },
              podSelector: { matchLabels: { "app.kubernetes.io/instance": "vault" } },
            },
            { ipBlock: { cidr: "10.20.0.0/16" } },
          ],
          ports: [{ protocol: "TCP", port: 8200 }],
        },
      ],
    });
  });

  it("with Consul storage, lets the client agents in its own pods gossip with each other and with its Consul servers", async () => {
    await deployVaultUnlock(m, {
      storage: {
        type: "consul",
        agent: { image: "hashicorp/consul:1.20.0", datacenter: "dc1", retryJoin: [], gossipSecretName: "g" },
        agentTls: { caCertPem: "", certPem: "", keyPem: "" },
      },
    });
    const rule = one("NetworkPolicy", "vault-unlock-unseal-only").inputs.spec.ingress[2];
    expect(rule).toEqual({
      from: [
        { podSelector: { matchLabels: VAULT_UNLOCK_LABELS } },
        { podSelector: { matchLabels: { "app.kubernetes.io/name": "consul" } } },
      ],
      ports: [
        { protocol: "TCP", port: 8301 },
        { protocol: "UDP", port: 8301 },
      ],
    });
    // The sidecar's liveness probe dials gossip on the pod IP: its HTTPS API listens on loopback only.
    const agent = one("StatefulSet", "vault-unlock").inputs.spec.template.spec.containers.find(
      (c: { name: string }) => c.name === "consul-agent",
    );
    expect(agent.livenessProbe.tcpSocket).toEqual({ port: 8301 });
  });

  it("exposes the unsealed nodes outside the Kubernetes cluster with TLS passed through, for a peer's seal", async () => {
    await deployVaultUnlock(m, {
      expose: { type: "LoadBalancer", sourceRanges: ["192.0.2.0/24"], annotations: { "lb/internal": "true" } },
    });
    const svc = one("Service", "vault-unlock-external");
    validateK8s(svc);
    expect(svc.inputs.metadata.annotations).toEqual({ "lb/internal": "true", "pulumi.com/skipAwait": "true" });
    expect(svc.inputs.spec).toEqual({
      type: "LoadBalancer",
      selector: { ...VAULT_UNLOCK_LABELS, "vault-mutual-unseal/serving": "true" },
      ports: [{ name: "https", port: 8200, targetPort: "https" }],
      externalTrafficPolicy: "Local",
      loadBalancerSourceRanges: ["192.0.2.0/24"],
    });
  });

  it("exposes the unsealed nodes on the fixed node port the config names", async () => {
    await deployVaultUnlock(m, { expose: { type: "NodePort", nodePort: 30820 } });
    const svc = one("Service", "vault-unlock-external");
    validateK8s(svc);
    expect(svc.inputs.spec.ports).toEqual([{ name: "https", port: 8200, targetPort: "https", nodePort: 30820 }]);
  });

  it("exposes vault through an Ingress that re-encrypts and verifies Vault's certificate", async () => {
    await deployVault(m, {
      ingress: {
        host: "vault.example.org",
        className: "nginx",
        tlsSecretName: "vault-ingress-tls",
        annotations: { "nginx.ingress.kubernetes.io/proxy-ssl-verify": "off", "x/y": "z" },
      },
    });
    const ing = one("Ingress", "vault").inputs;
    expect(ing.metadata.annotations).toEqual({
      "x/y": "z",
      "nginx.ingress.kubernetes.io/backend-protocol": "HTTPS",
      "nginx.ingress.kubernetes.io/proxy-ssl-verify": "on",
      "nginx.ingress.kubernetes.io/proxy-ssl-secret": "vault/vault-tls",
      "nginx.ingress.kubernetes.io/proxy-ssl-name": "vault-active.vault.svc",
      "nginx.ingress.kubernetes.io/proxy-ssl-server-name": "on",
      // Sealed pods are never behind it until later resources unseal them: no waiting for its endpoints.
      "pulumi.com/skipAwait": "true",
    });
    expect(ing.spec).toEqual({
      ingressClassName: "nginx",
      tls: [{ hosts: ["vault.example.org"], secretName: "vault-ingress-tls" }],
      rules: [
        {
          host: "vault.example.org",
          http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: "vault-active", port: { number: 8200 } } } }] },
        },
      ],
    });
  });

  it.each([
    [
      "OpenBao on Consul",
      { flavour: "openbao" as const, storage: { type: "consul" as const, agent: {} as never, agentTls: {} as never } },
      "storage.type: OpenBao has no Consul storage backend",
    ],
    [
      "an Ingress on an unseal-only cluster",
      { ingress: { host: "x" } },
      "networkPolicy: a NetworkPolicy is for a cluster that exists only to unseal",
    ],
    [
      "a NetworkPolicy that names no peer (an empty `from` admits every source)",
      { networkPolicy: { peerCidrs: [] } },
      "networkPolicy.peerCidrs: names no peer",
    ],
    ["an even Raft cluster", { replicas: 4 }, "replicas: 4 is not a positive odd number"],
    [
      "a transit seal over plain http",
      { seals: [{ type: "transit" as const, address: "http://vault:8200", keyName: "k", mountPath: "transit/" }] },
      "seals[0].address",
    ],
  ])("refuses %s before registering anything", async (_what, bad, message) => {
    registered.splice(0);
    expect(
      () =>
        new m.VaultCluster("bad", {
          namespace: "x",
          flavour: "vault",
          storage: { type: "raft" },
          tls: { caCertPem: "", certPem: "", keyPem: "" },
          networkPolicy: { peerNamespace: "p", peerPodLabels: {} },
          ...bad,
        }),
    ).toThrow(message);
    await settle();
    expect(registered).toEqual([]);
  });
});
