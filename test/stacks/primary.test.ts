/**
 * The primary stack program (index.ts on stack "primary") under mocks: the exact resources
 * of the bootstrap, their order by data flow, the key properties, secret outputs, the
 * emergency switch, and refusal of a bad config before any resource.
 */
import * as pulumi from "@pulumi/pulumi";
import { FAKE_CERT, Registered, TLS_OFF, kindName, strings, validateK8s } from "../pulumi/harness";
import { pairPlan } from "../../core/pair-plan";
import { blockOf, readHcl } from "../unit/hcl-reader";
import { KUBECONFIG, StackRun, resolved, runStack, SECRET_STACK_OUTPUTS } from "./stack-mocks";

const HELPER = "https://vault-helper.example.internal:8200";
export const PRIMARY = {
  flavour: "vault",
  storage: "consul",
  vault: { context: "prod", namespace: "vault" },
  vaultUnlock: { context: "prod", namespace: "vault-unlock" },
  ingressHost: "vault.example.internal",
  helperAddress: HELPER,
  kubeconfig: KUBECONFIG,
};

const k8s = (run: StackRun) => run.registered.filter((r) => r.type.startsWith("kubernetes:") && r.type !== "pulumi:providers:kubernetes");
/** Dynamic provider resources (`pulumi-nodejs:dynamic/<module>:<Type>` once they name their type). */
const dynamic = (run: StackRun) => run.registered.filter((r) => r.type.startsWith("pulumi-nodejs:dynamic"));
const named = (run: StackRun, name: string): Registered => {
  const r = run.registered.find((x) => x.name === name);
  if (!r) throw new Error(`no resource ${name}; have ${run.registered.map((x) => x.name).join(", ")}`);
  return r;
};
const object = (run: StackRun, kind: string, name: string, namespace: string) => {
  const found = k8s(run).filter(
    (r) => r.inputs.kind === kind && r.inputs.metadata?.name === name && r.inputs.metadata?.namespace === namespace,
  );
  if (found.length !== 1) throw new Error(`expected one ${kind} ${namespace}/${name}, found ${found.length}`);
  return found[0];
};

const HELPER_OUTPUTS = { emergencySealToken: "HELPER-EMERGENCY-TOKEN" };

describe("primary stack", () => {
  let run: StackRun;
  beforeAll(async () => {
    run = await runStack("primary", PRIMARY);
    if (run.error) throw run.error;
  });

  it("registers exactly the bootstrap's components and dynamic resources, and one Kubernetes provider per context", () => {
    const components = run.registered
      .filter((r) => !r.custom)
      .map((r) => `${r.type.split(":")[2]} ${r.name}`)
      .sort();
    expect(components).toEqual([
      "ConsulCluster consul-vault",
      "ConsulCluster consul-vault-unlock",
      "MutualUnsealPair pair",
      "Pki edge-pki",
      "Pki helper-pki",
      "Pki vault-pki",
      "Pki vault-unlock-pki",
      "TransitUnsealLink seal-of-vault",
      "TransitUnsealLink seal-of-vault-unlock",
      "VaultCluster vault",
      "VaultCluster vault-unlock",
    ]);
    expect(
      dynamic(run)
        .map((r) => `${r.type.split(":")[2]} ${r.name}`)
        .sort(),
    ).toEqual([
      "AuditDevice vault-audit",
      "AuditDevice vault-unlock-audit",
      "OperatorToken vault-operator-token",
      "OperatorToken vault-unlock-operator-token",
      "SealMigration vault-unlock-seal-migration",
      "SealRollout vault-seal-rollout",
      "TransitKeyBackup vault-transit-key-backup",
      "TransitLink seal-of-vault-transit",
      "TransitLink seal-of-vault-unlock-transit",
      "Unseal vault-unlock-unseal",
      "VaultInit vault-init",
      "VaultInit vault-unlock-init",
    ]);
    expect(run.registered.filter((r) => r.type === "pulumi:providers:kubernetes").map((r) => [r.name, r.inputs.context])).toEqual([
      ["k8s-prod", "prod"],
    ]);
    expect(run.registered.filter((r) => r.type === "pulumi:pulumi:StackReference")).toEqual([]);
  });

  it("renders exactly these Kubernetes objects, each valid against the Kubernetes schema", () => {
    expect(
      k8s(run)
        .map((r) => `${r.inputs.metadata?.namespace ?? "-"}/${kindName(r)}`)
        .sort(),
    ).toEqual(
      [
        "-/Namespace vault",
        "-/Namespace vault-unlock",
        ...[
          "ConfigMap consul-vault-unlock-config",
          "ConfigMap vault-unlock-config",
          "ConfigMap vault-unlock-consul-agent",
          "NetworkPolicy consul-vault-unlock-servers",
          "NetworkPolicy vault-unlock-unseal-only",
          "PodDisruptionBudget consul-vault-unlock",
          "PodDisruptionBudget vault-unlock",
          "Role vault-unlock",
          "RoleBinding vault-unlock",
          "Secret consul-vault-unlock-gossip",
          "Secret consul-vault-unlock-tls",
          "Secret vault-unlock-consul-tls",
          "Secret vault-unlock-tls",
          "Secret vault-unlock-transit-tls",
          "Service consul-vault-unlock",
          "Service consul-vault-unlock-server",
          "Service vault-unlock",
          "Service vault-unlock-active",
          "Service vault-unlock-internal",
          "Service vault-unlock-standby",
          "ServiceAccount vault-unlock",
          "StatefulSet consul-vault-unlock-server",
          "StatefulSet vault-unlock",
        ].map((x) => `vault-unlock/${x}`),
        ...[
          "ConfigMap consul-vault-config",
          "ConfigMap vault-config",
          "ConfigMap vault-consul-agent",
          "ConfigMap vault-seal",
          "Ingress vault",
          "NetworkPolicy consul-vault-servers",
          "PodDisruptionBudget consul-vault",
          "PodDisruptionBudget vault",
          "Role vault",
          "RoleBinding vault",
          "Secret consul-vault-gossip",
          "Secret consul-vault-tls",
          "Secret vault-consul-tls",
          "Secret vault-edge-tls",
          "Secret vault-tls",
          "Secret vault-transit-tls",
          "Secret vault-transit-token",
          "Service consul-vault",
          "Service consul-vault-server",
          "Service vault",
          "Service vault-active",
          "Service vault-internal",
          "Service vault-standby",
          "ServiceAccount vault",
          "StatefulSet consul-vault-server",
          "StatefulSet vault",
        ].map((x) => `vault/${x}`),
      ].sort(),
    );
    for (const r of k8s(run)) validateK8s(r);
  });

  it("takes vault's seal from the seal ConfigMap (pointing at vault-unlock), never from server.hcl", () => {
    const seal = object(run, "ConfigMap", "vault-seal", "vault").inputs;
    expect(seal.data["seal.hcl"]).toContain('address = "https://vault-unlock.vault-unlock.svc:8200"');
    expect(seal.data["seal.hcl"]).toContain('tls_ca_cert = "/vault/transit-tls/ca.crt"');
    expect(seal.data["peer-address"]).toBe("https://vault-unlock.vault-unlock.svc:8200");
    expect(JSON.parse(seal.metadata.annotations["vault-mutual-unseal/seal-stanzas"])[0].address).toBe(
      "https://vault-unlock.vault-unlock.svc:8200",
    );
    expect(object(run, "ConfigMap", "vault-config", "vault").inputs.data["server.hcl"]).not.toMatch(/seal "transit"/);
    // The pod template reads exactly these names.
    const pod = object(run, "StatefulSet", "vault", "vault").inputs.spec.template.spec;
    expect(pod.volumes.find((v: { name: string }) => v.name === "seal").configMap.name).toBe("vault-seal");
    expect(pod.volumes.find((v: { name: string }) => v.name === "transit-tls").secret.secretName).toBe("vault-transit-tls");
    const tokenEnv = pod.containers[0].env.find((e: { name: string }) => e.name === "VAULT_TRANSIT_SEAL_TOKEN");
    expect(tokenEnv.valueFrom.secretKeyRef).toMatchObject({ name: "vault-transit-token", key: "token" });
  });

  it("keeps the transit tokens only in Secrets, as secrets, and never switches TLS verification off", () => {
    const token = object(run, "Secret", "vault-transit-token", "vault");
    expect(token.inputs.stringData).toEqual({ token: "token-seal-of-vault-transit" });
    expect(token.secretPaths).toContain("stringData");
    for (const r of run.registered) {
      for (const s of strings(r.inputs)) {
        if (/^token-seal-of/.test(s.value))
          expect([r.name, s.path]).toEqual([r.name, r.type === "kubernetes:core/v1:Secret" ? "stringData.token" : "toToken"]);
      }
    }
    // A token reaching the migration provider travels as a secret.
    expect(named(run, "vault-unlock-seal-migration").secretPaths).toEqual(
      expect.arrayContaining(["toToken", "keys", "adminToken", "nodes"]),
    );
    for (const r of k8s(run))
      for (const s of strings(r.inputs))
        for (const off of TLS_OFF) expect([kindName(r), s.path, off.test(s.value)]).toEqual([kindName(r), s.path, false]);
  });

  it("registers every step of the pair's plan waiting for the steps the plan puts before it", () => {
    // A step named in `after` is a resource or a component: waiting for a component is waiting for its children.
    const waitsFor = (name: string, earlier: string) =>
      (run.dependencies.get(name) ?? []).some((d) => d === earlier || d.startsWith(`${earlier}-`));
    const plan = pairPlan();
    expect(plan.map((s) => s.name).filter((n) => !run.registered.some((r) => r.name === n))).toEqual([]);
    const missing = plan.flatMap((s) => s.after.filter((a) => !waitsFor(s.name, a)).map((a) => `${s.name} does not wait for ${a}`));
    expect(missing).toEqual([]);
  });

  it("gives a root token only to each cluster's operator-token step, which gets its own init's, and every other step the operator token", () => {
    const holders = dynamic(run)
      .flatMap((r) => strings(r.inputs).map((s) => ({ name: r.name, path: s.path, value: s.value })))
      .filter((s) => s.value.startsWith("root-"));
    expect(holders.map((h) => `${h.name} ${h.path} ${h.value}`).sort()).toEqual([
      "vault-operator-token rootToken root-vault-init",
      "vault-unlock-operator-token rootToken root-vault-unlock-init",
    ]);
    expect(named(run, "vault-operator-token").inputs.seals).toEqual([
      expect.objectContaining({ policyName: "autounseal-seal-of-vault-unlock", backup: false, restore: false }),
    ]);
    expect(named(run, "vault-unlock-operator-token").inputs.seals).toEqual([
      expect.objectContaining({ policyName: "autounseal-seal-of-vault", backup: true, restore: false }),
    ]);
    expect(named(run, "vault-audit").inputs.adminToken).toBe("operator-token-vault-operator-token");
    expect(named(run, "vault-transit-key-backup").inputs.token).toBe("operator-token-vault-unlock-operator-token");
  });

  it("registers the plan's steps with the plan's parameters", () => {
    expect(named(run, "vault-unlock-init").inputs).toMatchObject({ kind: "shamir", shares: 3, threshold: 2 });
    expect(named(run, "vault-init").inputs).toMatchObject({ kind: "recovery", shares: 3, threshold: 2 });
    expect(named(run, "seal-of-vault-transit").inputs).toMatchObject({
      allowBackup: true,
      tokenPeriod: "720h",
      adminToken: "operator-token-vault-unlock-operator-token",
      mountPath: "transit/",
      keyName: "autounseal",
    });
    expect(named(run, "seal-of-vault-unlock-transit").inputs).toMatchObject({
      allowBackup: false,
      adminToken: "operator-token-vault-operator-token",
    });
    expect(named(run, "vault-unlock-seal-migration").inputs).toMatchObject({
      from: { type: "shamir" },
      to: { type: "transit", address: "https://vault.vault.svc:8200", tlsServerName: "vault.vault.svc" },
      toToken: "token-seal-of-vault-unlock-transit",
    });
    // Sealed pods are not ready until later resources unseal them: the provider must not wait for readiness.
    for (const sts of ["vault", "vault-unlock"])
      expect(object(run, "StatefulSet", sts, sts).inputs.metadata.annotations).toEqual({ "pulumi.com/skipAwait": "true" });
    // The providers reach the pods by port-forward with the kubeconfig, TLS verified against the CA.
    const nodes = named(run, "vault-init").inputs.nodes;
    expect(nodes).toMatchObject({
      kind: "kubernetes",
      kubeconfig: KUBECONFIG,
      context: "prod",
      namespace: "vault",
      statefulSet: "vault",
      replicas: 3,
      port: 8200,
      sealConfigMap: "vault-seal",
      sealTokenSecret: "vault-transit-token",
    });
    // The providers present their own client certificate (vault-unlock and the helper require one).
    expect(nodes.tls).toEqual({
      caPem: expect.stringContaining("BEGIN CERTIFICATE"),
      serverName: "vault-active.vault.svc",
      certPem: expect.stringContaining("vault-pki-client-operator-cert"),
      keyPem: expect.stringContaining("vault-pki-client-operator-key"),
    });
  });

  it("serves on vault-unlock only clients with a certificate from its own CA, its probes and Raft joins presenting the pod's own; vault stays open to its users' clients", () => {
    const listener = (cluster: string) =>
      blockOf(readHcl(object(run, "ConfigMap", `${cluster}-config`, cluster).inputs.data["server.hcl"]), "listener").attrs;
    expect(listener("vault-unlock")).toMatchObject({ tls_client_ca_file: "/vault/tls/ca.crt", tls_require_and_verify_client_cert: true });
    expect(listener("vault").tls_require_and_verify_client_cert).toBeUndefined();
    const container = (cluster: string) => object(run, "StatefulSet", cluster, cluster).inputs.spec.template.spec.containers[0];
    const unlock = container("vault-unlock");
    // The kubelet's HTTPS probes present no certificate: the CLI in the container does, with the pod's.
    expect(unlock.readinessProbe.exec.command).toEqual(["/bin/sh", "-c", "vault status >/dev/null"]);
    expect(unlock.livenessProbe.exec.command).toEqual(["/bin/sh", "-c", "vault status >/dev/null; [ $? -ne 1 ]"]);
    expect(unlock.startupProbe.exec.command).toEqual(["/bin/sh", "-c", "vault status >/dev/null; [ $? -ne 1 ]"]);
    expect(unlock.env).toEqual(
      expect.arrayContaining([
        { name: "VAULT_CLIENT_CERT", value: "/vault/tls/tls.crt" },
        { name: "VAULT_CLIENT_KEY", value: "/vault/tls/tls.key" },
      ]),
    );
    expect(container("vault").readinessProbe.httpGet).toMatchObject({ path: "/v1/sys/health?standbyok=true", scheme: "HTTPS" });
    const cert = run.registered.find(
      (r) => r.type === "tls:index/locallySignedCert:LocallySignedCert" && r.name === "vault-unlock-pki-server-vault-unlock-cert",
    );
    expect(cert?.inputs.allowedUses).toContain("client_auth");
    const vaultCert = run.registered.find(
      (r) => r.type === "tls:index/locallySignedCert:LocallySignedCert" && r.name === "vault-pki-server-vault-cert",
    );
    expect(vaultCert?.inputs.allowedUses).not.toContain("client_auth");
  });

  it("gives vault, vault-unlock and the helper a CA each: a cluster's server certificate and every client certificate it accepts come from its CA, and vault's emergency seal presents the helper's", async () => {
    const issuer = (cert: string) => named(run, cert).inputs.caCertPem;
    const ca = (pki: string) => FAKE_CERT(`${pki}-ca`);
    expect(new Set([ca("vault-pki"), ca("vault-unlock-pki"), ca("helper-pki")]).size).toBe(3);
    // Who may call each cluster: its providers, and the seal of the cluster it unseals.
    for (const [pki, certs] of [
      ["vault-pki", ["server-vault", "client-operator", "client-transit-vault-unlock"]],
      ["vault-unlock-pki", ["server-vault-unlock", "client-operator", "client-transit-vault"]],
      ["helper-pki", ["server-helper", "client-helper-operator", "client-transit-vault"]],
    ] as const)
      for (const c of certs) expect([c, issuer(`${pki}-${c}-cert`)]).toEqual([c, ca(pki)]);
    // vault's seal: towards vault-unlock with vault-unlock's CA and certificate, towards the helper with the helper's, in one Secret.
    const transit = (cluster: string) => object(run, "Secret", `${cluster}-transit-tls`, cluster).inputs.stringData;
    expect(transit("vault")).toEqual({
      "ca.crt": ca("vault-unlock-pki"),
      "tls.crt": FAKE_CERT("vault-unlock-pki-client-transit-vault-cert"),
      "tls.key": expect.any(String),
      "emergency-ca.crt": ca("helper-pki"),
      "emergency-tls.crt": FAKE_CERT("helper-pki-client-transit-vault-cert"),
      "emergency-tls.key": expect.any(String),
    });
    expect(transit("vault-unlock")).toMatchObject({
      "ca.crt": ca("vault-pki"),
      "tls.crt": FAKE_CERT("vault-pki-client-transit-vault-unlock-cert"),
    });
    // The listener that checks client certificates trusts the cluster's own CA only.
    expect(object(run, "Secret", "vault-unlock-tls", "vault-unlock").inputs.stringData["ca.crt"]).toBe(ca("vault-unlock-pki"));
    for (const out of ["helperTls", "helperOperatorTls"])
      expect((await resolved<{ caCertPem: string }>(run.outputs![out])).value.caCertPem).toBe(ca("helper-pki"));
  });

  it("has the step that moves each cluster onto its link's token revoke the link's superseded tokens, on the link's unsealer", () => {
    const superseded = (step: string) => named(run, step).inputs.supersededTokens;
    expect(superseded("vault-seal-rollout")).toMatchObject({
      unsealer: { kind: "kubernetes", namespace: "vault-unlock", statefulSet: "vault-unlock" },
      adminToken: "operator-token-vault-unlock-operator-token",
      accessors: ["superseded-accessor-seal-of-vault-transit"],
    });
    expect(superseded("vault-unlock-seal-migration")).toMatchObject({
      unsealer: { kind: "kubernetes", namespace: "vault", statefulSet: "vault" },
      adminToken: "operator-token-vault-operator-token",
      accessors: ["superseded-accessor-seal-of-vault-unlock-transit"],
    });
    // The unsealer's operator token travels as a secret.
    for (const step of ["vault-seal-rollout", "vault-unlock-seal-migration"])
      expect(named(run, step).secretPaths.some((p) => p.startsWith("supersededTokens"))).toBe(true);
  });

  it("leaves the seal tokens alive when a link is deleted, unless revokeSealTokensOnDelete says otherwise", async () => {
    for (const link of ["seal-of-vault-transit", "seal-of-vault-unlock-transit"])
      expect(named(run, link).inputs.revokeTokenOnDelete).toBe(false);
    const revoking = await runStack("primary", { ...PRIMARY, revokeSealTokensOnDelete: true });
    if (revoking.error) throw revoking.error;
    for (const link of ["seal-of-vault-transit", "seal-of-vault-unlock-transit"])
      expect(named(revoking, link).inputs.revokeTokenOnDelete).toBe(true);
  });

  it("serves the Ingress with TLS from an edge CA of its own, never vault's internal key, and never waits on Services of sealed pods", () => {
    expect(object(run, "Ingress", "vault", "vault").inputs.spec.tls).toEqual([
      { hosts: ["vault.example.internal"], secretName: "vault-edge-tls" },
    ]);
    // The edge certificate names the host and nothing inside; vault's own certificate does not name the host.
    expect(named(run, "edge-pki-server-edge-csr").inputs.dnsNames).toEqual(["vault.example.internal", "localhost"]);
    expect(named(run, "vault-pki-server-vault-csr").inputs.dnsNames).not.toContain("vault.example.internal");
    const edgeSecret = object(run, "Secret", "vault-edge-tls", "vault");
    expect(edgeSecret.inputs.type).toBe("kubernetes.io/tls");
    expect(edgeSecret.secretPaths).toContain("stringData");
    // Another CA: a client trusting the edge trusts nothing inside.
    expect(named(run, "edge-pki-ca").inputs.subject).not.toEqual(named(run, "vault-pki-ca").inputs.subject);
    for (const [ns, kind, name] of [
      ["vault", "Service", "vault-active"],
      ["vault", "Service", "vault-standby"],
      ["vault", "Service", "vault-internal"],
      ["vault", "Ingress", "vault"],
      ["vault-unlock", "Service", "vault-unlock-active"],
    ]) {
      expect([name, object(run, kind, name, ns).inputs.metadata.annotations["pulumi.com/skipAwait"]]).toEqual([name, "true"]);
    }
  });

  it("issues the helper's certificate for the host vault dials, its Services and its pods in the helper's namespace", () => {
    expect(named(run, "helper-pki-server-helper-csr").inputs.dnsNames).toEqual(
      expect.arrayContaining([
        "vault-helper.example.internal",
        "vault-helper-active.vault-helper.svc",
        "*.vault-helper-internal.vault-helper.svc",
      ]),
    );
    expect(run.outputs!.helperNamespace).toBe("vault-helper");
  });

  it("lets only vault's pods reach vault-unlock, and only each Vault cluster's pods reach its Consul", () => {
    const unlock = object(run, "NetworkPolicy", "vault-unlock-unseal-only", "vault-unlock").inputs.spec;
    const vaultPods = object(run, "StatefulSet", "vault", "vault").inputs.spec.selector.matchLabels;
    expect(unlock.ingress[1].from).toEqual([
      { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "vault" } }, podSelector: { matchLabels: vaultPods } },
    ]);
    // The client agents in vault-unlock's own pods gossip with each other too.
    expect(unlock.ingress[2].ports).toEqual([
      { protocol: "TCP", port: 8301 },
      { protocol: "UDP", port: 8301 },
    ]);
    const consul = object(run, "NetworkPolicy", "consul-vault-servers", "vault").inputs.spec;
    expect(consul.ingress[1].from).toEqual([{ podSelector: { matchLabels: vaultPods } }]);
  });

  it("outputs no root token and no key: its only secrets are the key backup and the helper's TLS, which the helper stack reads", async () => {
    const o = run.outputs!;
    const secret: string[] = [];
    for (const [key, value] of Object.entries(o)) if (pulumi.Output.isInstance(value) && (await resolved(value)).secret) secret.push(key);
    expect(secret.sort()).toEqual(SECRET_STACK_OUTPUTS.primary);
    expect(Object.keys(o).filter((k) => /RootToken|Keys$/.test(k))).toEqual([]);
    expect((await resolved(o.transitKeyBackup)).value).toBe("BACKUP-OF-THE-KEY");
    expect((await resolved(o.vaultAddress)).value).toBe("https://vault-active.vault.svc:8200");
    expect((await resolved(o.sealOfVaultTokenAccessor)).value).toBe("accessor-seal-of-vault-transit");
    expect((await resolved(o.sealOfVaultUnlockTokenAccessor)).value).toBe("accessor-seal-of-vault-unlock-transit");
    expect((await resolved(o.vaultSealAddress)).value).toBe("https://vault-unlock.vault-unlock.svc:8200");
  });
});

describe("primary stack, emergency switch", () => {
  let normal: StackRun;
  let emergency: StackRun;
  beforeAll(async () => {
    normal = await runStack("primary", PRIMARY);
    emergency = await runStack("primary", { ...PRIMARY, emergency: true, helperStack: "acme/vault-mutual-unseal/helper" }, HELPER_OUTPUTS);
    if (emergency.error) throw emergency.error;
  });

  it("re-points vault's seal ConfigMap and token Secret at the helper, and rolls vault's pods onto them", () => {
    const seal = object(emergency, "ConfigMap", "vault-seal", "vault").inputs;
    expect(seal.data["seal.hcl"]).toContain(`address = "${HELPER}"`);
    expect(seal.data["seal.hcl"]).toContain('tls_server_name = "vault-helper.example.internal"');
    expect(seal.data["seal.hcl"]).toContain('key_name = "autounseal"');
    expect(seal.data["peer-address"]).toBe(HELPER);
    expect(object(emergency, "Secret", "vault-transit-token", "vault").inputs.stringData).toEqual({ token: "HELPER-EMERGENCY-TOKEN" });
    expect(named(emergency, "vault-seal-rollout").inputs.sealDigest).not.toEqual(named(normal, "vault-seal-rollout").inputs.sealDigest);
    expect(emergency.registered.filter((r) => r.type === "pulumi:pulumi:StackReference").map((r) => r.name)).toEqual([
      "acme/vault-mutual-unseal/helper",
    ]);
  });

  it("changes nothing else: the same resources, the link on vault-unlock kept", () => {
    const names = (r: StackRun) =>
      r.registered
        .map((x) => `${x.type} ${x.name}`)
        .filter((x) => !x.includes("StackReference"))
        .sort();
    expect(names(emergency)).toEqual(names(normal));
    expect(named(emergency, "seal-of-vault-transit").inputs).toEqual(named(normal, "seal-of-vault-transit").inputs);
    // Only the two seal objects differ: no StatefulSet or other object changes for the switch.
    const byName = (r: StackRun) => new Map(k8s(r).map((x) => [x.name, JSON.stringify(x.inputs)]));
    const before = byName(normal);
    const changed = [...byName(emergency)].filter(([name, inputs]) => before.get(name) !== inputs).map(([name]) => name);
    expect(changed.sort()).toEqual(["seal-of-vault-seal", "seal-of-vault-token"]);
  });
});

describe("primary stack, two Kubernetes clusters", () => {
  let run: StackRun;
  beforeAll(async () => {
    run = await runStack("primary", {
      ...PRIMARY,
      vault: { context: "prod", namespace: "vault", transitAddress: "https://vault-transit.prod.example:8200" },
      vaultUnlock: {
        context: "dc2",
        namespace: "vault-unlock",
        transitAddress: "https://vault-unlock.dc2.example:8200",
        peerCidrs: ["192.0.2.0/24"],
        expose: { type: "LoadBalancer", sourceRanges: ["192.0.2.0/24"] },
      },
    });
    if (run.error) throw run.error;
  });

  it("uses one Kubernetes provider per context and exposes each cluster to its peer at its transit address", () => {
    expect(
      run.registered
        .filter((r) => r.type === "pulumi:providers:kubernetes")
        .map((r) => r.inputs.context)
        .sort(),
    ).toEqual(["dc2", "prod"]);
    const unlock = object(run, "Service", "vault-unlock-external", "vault-unlock");
    validateK8s(unlock);
    expect(unlock.inputs.spec).toMatchObject({
      type: "LoadBalancer",
      externalTrafficPolicy: "Local",
      loadBalancerSourceRanges: ["192.0.2.0/24"],
      ports: [{ port: 8200 }],
    });
    expect(unlock.inputs.spec.selector).toMatchObject({
      "app.kubernetes.io/instance": "vault-unlock",
      "vault-mutual-unseal/serving": "true",
    });
    expect(object(run, "Service", "vault-external", "vault").inputs.spec.type).toBe("LoadBalancer");
    // vault's seal dials vault-unlock's address, whose host its certificate names.
    expect(object(run, "ConfigMap", "vault-seal", "vault").inputs.data["peer-address"]).toBe("https://vault-unlock.dc2.example:8200");
    expect(named(run, "vault-unlock-pki-server-vault-unlock-csr").inputs.dnsNames).toContain("vault-unlock.dc2.example");
  });

  it("admits vault's traffic to vault-unlock from the configured ranges", () => {
    const from = object(run, "NetworkPolicy", "vault-unlock-unseal-only", "vault-unlock").inputs.spec.ingress[1].from;
    expect(from).toContainEqual({ ipBlock: { cidr: "192.0.2.0/24" } });
  });
});

describe("primary stack, a second run with no change", () => {
  // What the engine diffs is what the program registers: the same config and state must give
  // the same inputs, or a second `pulumi up` would change something. (The providers' own
  // diffs, which also look at the servers, are tested against real servers in test/providers.)
  it("registers the same resources with the same inputs", async () => {
    const first = await runStack("primary", PRIMARY);
    const second = await runStack("primary", PRIMARY);
    const inputs = (r: StackRun) => r.registered.map((x) => `${x.type} ${x.name} ${JSON.stringify(x.inputs)}`).sort();
    expect(inputs(second)).toEqual(inputs(first));
  });
});

describe("primary stack, namespaces made by the platform team", () => {
  it("creates its namespaces with Pod Security restricted enforced", async () => {
    const run = await runStack("primary", PRIMARY);
    expect(
      k8s(run)
        .filter((r) => r.inputs.kind === "Namespace")
        .map((r) => [r.inputs.metadata.name, r.inputs.metadata.labels]),
    ).toEqual([
      ["vault", { "pod-security.kubernetes.io/enforce": "restricted" }],
      ["vault-unlock", { "pod-security.kubernetes.io/enforce": "restricted" }],
    ]);
  });

  it("registers no Namespace and puts everything in the configured ones", async () => {
    const run = await runStack("primary", { ...PRIMARY, createNamespaces: false });
    if (run.error) throw run.error;
    expect(k8s(run).filter((r) => r.inputs.kind === "Namespace")).toEqual([]);
    expect([...new Set(k8s(run).map((r) => r.inputs.metadata.namespace))].sort()).toEqual(["vault", "vault-unlock"]);
  });
});

describe("primary stack with operators' PGP keys", () => {
  const PGP = ["PGP-KEY-ALICE", "PGP-KEY-BOB", "PGP-KEY-CAROL"];
  let run: StackRun;
  beforeAll(async () => {
    run = await runStack("primary", { ...PRIMARY, recoveryPgpKeys: PGP });
    if (run.error) throw run.error;
  });
  const rotation = (name: string) => run.registered.find((r) => r.name === name)!;

  it("rotates vault's recovery keys after its init and vault-unlock's after its migration, to those keys, from the init's keys (secret)", () => {
    for (const [name, init, waits] of [
      ["vault-recovery-keys", "vault-init", "vault-init"],
      ["vault-unlock-recovery-keys", "vault-unlock-init", "vault-unlock-seal-migration"],
    ]) {
      const r = rotation(name);
      expect(r.type).toBe("pulumi-nodejs:dynamic/vault-mutual-unseal:RecoveryKeyRotation");
      expect(r.inputs).toMatchObject({
        pgpKeys: PGP,
        shares: 3,
        threshold: 2,
        flavour: "vault",
        currentKeys: [`key1-${init}`, `key2-${init}`, `key3-${init}`],
      });
      expect(r.secretPaths).toEqual(expect.arrayContaining(["currentKeys", "adminToken", "nodes"]));
      expect(run.dependencies.get(name)).toContain(waits);
    }
  });

  it("outputs both clusters' encrypted shares and fingerprints, not as secrets (only each key's holder can read a share)", async () => {
    // A plain object of outputs, as the program returns it: lifted as the engine does.
    const out = await resolved(run.pulumi.output(run.outputs!.recoveryKeysEncrypted));
    expect(out.secret).toBe(false);
    expect(out.value).toEqual({
      vault: { keys: ["SHARE-vault-recovery-keys"], pgpFingerprints: ["fp-vault-recovery-keys"] },
      vaultUnlock: { keys: ["SHARE-vault-unlock-recovery-keys"], pgpFingerprints: ["fp-vault-unlock-recovery-keys"] },
    });
  });

  it("refuses a number of PGP keys other than keyShares, naming the key, before any resource", async () => {
    const bad = await runStack("primary", { ...PRIMARY, recoveryPgpKeys: PGP.slice(0, 2) });
    expect((bad.error as Error).message).toMatch(
      /vault-mutual-unseal:recoveryPgpKeys: needs one PGP key per key share: keyShares is 3 but 2/,
    );
    expect(bad.registered).toEqual([]);
  });
});

describe("primary stack, bad config", () => {
  it("names a kubeconfig context that does not exist and a misspelt key, with the other problems, before any resource", async () => {
    const run = await runStack("primary", { ...PRIMARY, vault: { context: "staging", namespace: "vault" }, replicaz: 3, replicas: 2 });
    const message = (run.error as Error).message;
    expect(message).toMatch(
      /vault-mutual-unseal:vault\.context: "staging" is not a context of the kubeconfig \(it has: prod, dc2, backup-cluster\)/,
    );
    expect(message).toMatch(/unknown key\(s\) replicaz/);
    expect(message).toContain("vault-mutual-unseal:replicas");
    expect(run.registered).toEqual([]);
  });

  it("fails with every problem before any resource is registered", async () => {
    const run = await runStack("primary", {
      ...PRIMARY,
      replicas: 2,
      keyThreshold: 5,
      helperAddress: "http://helper:8200",
      emergency: true,
    });
    expect(run.error).toBeInstanceOf(Error);
    const message = (run.error as Error).message;
    for (const key of ["replicas", "keyThreshold", "helperAddress", "emergency"]) expect(message).toContain(`vault-mutual-unseal:${key}`);
    expect(run.registered).toEqual([]);
  });
});

describe("index.ts", () => {
  it("refuses a stack whose name is no role and that sets no role, naming the role key and its values", async () => {
    const run = await runStack("staging", PRIMARY);
    expect((run.error as Error).message).toMatch(
      /vault-mutual-unseal:role: is not set and the stack's name "staging" is not a role: .*primary.*helper/,
    );
    expect(run.registered).toEqual([]);
  });

  it("runs the primary program on a stack of any name whose role is primary", async () => {
    const run = await runStack("prod-primary", { ...PRIMARY, role: "primary" });
    if (run.error) throw run.error;
    expect(run.registered.filter((r) => r.type.endsWith(":MutualUnsealPair")).map((r) => r.name)).toEqual(["pair"]);
  });

  it("refuses a role other than primary or helper, naming the value", async () => {
    const run = await runStack("primary", { ...PRIMARY, role: "backup" });
    expect((run.error as Error).message).toMatch(/vault-mutual-unseal:role: must be "primary" or "helper", got "backup"/);
    expect(run.registered).toEqual([]);
  });
});
