/**
 * The helper stack program (index.ts on stack "helper") under mocks: the backup unsealer,
 * its key copy restored from the primary stack's outputs (StackReference), and its outputs.
 */
import * as pulumi from "@pulumi/pulumi";
import { TLS_OFF, kindName, strings, validateK8s } from "../pulumi/harness";
import { CERT, HELPER_CONFIG, PRIMARY_OUTPUTS, StackRun, resolved, runStack, SECRET_STACK_OUTPUTS } from "./stack-mocks";

const HELPER = HELPER_CONFIG;

describe("helper stack", () => {
  let run: StackRun;
  beforeAll(async () => {
    run = await runStack("helper", HELPER, PRIMARY_OUTPUTS);
    if (run.error) throw run.error;
  });
  const named = (name: string) => run.registered.find((r) => r.name === name)!;

  it("reads the primary stack's outputs and registers exactly the helper's resources", () => {
    expect(run.registered.filter((r) => r.type === "pulumi:pulumi:StackReference").map((r) => r.name)).toEqual([
      "acme/vault-mutual-unseal/primary",
    ]);
    expect(
      run.registered
        .filter((r) => !r.custom)
        .map((r) => `${r.type.split(":")[2]} ${r.name}`)
        .sort(),
    ).toEqual(["HelperBackup helper", "VaultCluster helper-vault"]);
    expect(
      run.registered
        .filter((r) => r.type.startsWith("pulumi-nodejs:dynamic"))
        .map((r) => `${r.type.split(":")[2]} ${r.name}`)
        .sort(),
    ).toEqual([
      "AuditDevice helper-audit",
      "OperatorToken helper-operator-token",
      "TransitKeyRestore helper-key-copy",
      "TransitLink helper-emergency-link",
      "Unseal helper-unseal",
      "VaultInit helper-init",
    ]);
    const objects = run.registered.filter((r) => r.type.startsWith("kubernetes:"));
    expect(objects.map((r) => `${r.inputs.metadata?.namespace ?? "-"}/${kindName(r)}`).sort()).toEqual(
      [
        "-/Namespace vault-helper",
        ...[
          "ConfigMap vault-helper-config",
          "NetworkPolicy vault-helper-unseal-only",
          "PodDisruptionBudget vault-helper",
          "Role vault-helper",
          "RoleBinding vault-helper",
          "Secret vault-helper-tls",
          "Service vault-helper",
          "Service vault-helper-active",
          "Service vault-helper-external",
          "Service vault-helper-internal",
          "Service vault-helper-standby",
          "ServiceAccount vault-helper",
          "StatefulSet vault-helper",
        ].map((x) => `vault-helper/${x}`),
      ].sort(),
    );
    for (const r of objects) validateK8s(r);
    for (const r of objects)
      for (const s of strings(r.inputs))
        for (const off of TLS_OFF) expect([kindName(r), s.path, off.test(s.value)]).toEqual([kindName(r), s.path, false]);
  });

  it("is one Shamir node serving the primary CA's certificate, restoring the backup with the drift check on", () => {
    expect(named("helper-init").inputs).toMatchObject({ kind: "shamir", shares: 3, threshold: 2 });
    expect(named("helper-init").inputs.nodes).toMatchObject({
      kind: "kubernetes",
      context: "backup-cluster",
      namespace: "vault-helper",
      statefulSet: "vault-helper",
      replicas: 1,
      // The providers' client certificate from the primary: the helper serves no client without one.
      tls: {
        caPem: CERT("primary-ca"),
        serverName: "vault-helper.example.internal",
        certPem: CERT("helper-operator"),
        keyPem: "HELPER-OPERATOR-KEY",
      },
    });
    const config = run.registered.find((r) => r.inputs.kind === "ConfigMap" && r.inputs.metadata?.name === "vault-helper-config")!;
    expect(config.inputs.data["server.hcl"]).toMatch(/tls_require_and_verify_client_cert\s*=\s*true/);
    const restore = named("helper-key-copy");
    expect(restore.inputs).toMatchObject({
      backup: "BACKUP-OF-THE-KEY",
      latestVersion: 3,
      mountPath: "transit/",
      keyName: "autounseal",
      failOnDrift: true,
    });
    expect(restore.secretPaths).toEqual(expect.arrayContaining(["backup", "token", "nodes"]));
    expect(named("helper-emergency-link").inputs).toMatchObject({
      createKey: false,
      allowBackup: false,
      mountPath: "transit/",
      keyName: "autounseal",
    });
    const tls = run.registered.find((r) => r.inputs.kind === "Secret" && r.inputs.metadata?.name === "vault-helper-tls")!;
    expect(tls.inputs.stringData).toEqual({ "ca.crt": CERT("primary-ca"), "tls.crt": CERT("helper"), "tls.key": "HELPER-SERVER-KEY" });
    expect(tls.secretPaths).toContain("stringData");
  });

  it("is reachable by vault's emergency seal through a LoadBalancer on its unsealed pods, in the namespace the primary names", async () => {
    const svc = run.registered.find((r) => r.inputs.kind === "Service" && r.inputs.metadata?.name === "vault-helper-external")!;
    expect(svc.inputs.metadata.namespace).toBe("vault-helper");
    expect((await resolved(run.outputs!.helperExternalService)).value).toBe("vault-helper/vault-helper-external");
    expect(svc.inputs.spec.loadBalancerSourceRanges).toEqual(["198.51.100.0/24"]);
    expect(svc.inputs.spec).toMatchObject({
      type: "LoadBalancer",
      selector: { "app.kubernetes.io/instance": "vault-helper", "vault-mutual-unseal/serving": "true" },
      ports: [{ port: 8200 }],
    });
  });

  it("is fenced: its NetworkPolicy admits the API port from vault's ranges (the LoadBalancer's sourceRanges) and its own pods, nothing else", () => {
    const np = run.registered.find((r) => r.inputs.kind === "NetworkPolicy" && r.inputs.metadata?.name === "vault-helper-unseal-only")!;
    validateK8s(np);
    expect(np.inputs.metadata).toMatchObject({ name: "vault-helper-unseal-only", namespace: "vault-helper" });
    const helperPods = named("helper-vault-statefulset").inputs.spec.selector.matchLabels;
    expect(helperPods).toMatchObject({ "app.kubernetes.io/instance": "vault-helper" });
    expect(np.inputs.spec).toEqual({
      podSelector: { matchLabels: helperPods },
      policyTypes: ["Ingress"],
      ingress: [
        {
          from: [{ podSelector: { matchLabels: helperPods } }],
          ports: [
            { protocol: "TCP", port: 8200 },
            { protocol: "TCP", port: 8201 },
          ],
        },
        { from: [{ ipBlock: { cidr: "198.51.100.0/24" } }], ports: [{ protocol: "TCP", port: 8200 }] },
      ],
    });
  });

  it("keeps the emergency token alive: renewed by its own runs, since no seal renews it while it waits", () => {
    expect(named("helper-emergency-link").inputs).toMatchObject({ keepAlive: true });
  });

  it("leaves the emergency token alive when its link is deleted, unless revokeSealTokensOnDelete says otherwise", async () => {
    expect(named("helper-emergency-link").inputs).toMatchObject({ revokeTokenOnDelete: false });
    const revoking = await runStack("helper", { ...HELPER, revokeSealTokensOnDelete: true }, PRIMARY_OUTPUTS);
    if (revoking.error) throw revoking.error;
    expect(revoking.registered.find((r) => r.name === "helper-emergency-link")!.inputs).toMatchObject({ revokeTokenOnDelete: true });
  });

  it("outputs no root token and no unseal key: its only secret is the emergency token, which the primary stack reads", async () => {
    const o = run.outputs!;
    const secret: string[] = [];
    for (const [key, value] of Object.entries(o)) if (pulumi.Output.isInstance(value) && (await resolved(value)).secret) secret.push(key);
    expect(secret.sort()).toEqual(SECRET_STACK_OUTPUTS.helper);
    expect(Object.keys(o).filter((k) => /RootToken|Keys$/.test(k))).toEqual([]);
    expect((await resolved(o.emergencySealToken)).value).toBe("token-helper-emergency-link");
    expect((await resolved(o.helperAddress)).value).toBe("https://vault-helper-active.vault-helper.svc:8200");
  });

  it("refuses a bad config before any resource", async () => {
    const bad = await runStack("helper", { ...HELPER, replicas: 2, primaryStack: "primary" }, PRIMARY_OUTPUTS);
    expect((bad.error as Error).message).toMatch(/vault-mutual-unseal:replicas[\s\S]*vault-mutual-unseal:primaryStack/);
    expect(bad.registered).toEqual([]);
  });
});

describe("helper stack, fenced exposure", () => {
  const policyOf = (run: StackRun) =>
    run.registered.find((r) => r.inputs.kind === "NetworkPolicy" && r.inputs.metadata?.name === "vault-helper-unseal-only")!;
  const externalOf = (run: StackRun) =>
    run.registered.find((r) => r.inputs.kind === "Service" && r.inputs.metadata?.name === "vault-helper-external")!;

  it("admits peerCidrs beside the LoadBalancer's sourceRanges, each range once", async () => {
    const run = await runStack("helper", { ...HELPER, peerCidrs: ["203.0.113.0/28", "198.51.100.0/24"] }, PRIMARY_OUTPUTS);
    if (run.error) throw run.error;
    validateK8s(policyOf(run));
    expect(policyOf(run).inputs.spec.ingress[1]).toEqual({
      from: [{ ipBlock: { cidr: "198.51.100.0/24" } }, { ipBlock: { cidr: "203.0.113.0/28" } }],
      ports: [{ protocol: "TCP", port: 8200 }],
    });
  });

  it("with Consul storage and three nodes: its own pods on the API and cluster ports, and the gossip of its agents", async () => {
    const run = await runStack("helper", { ...HELPER, storage: "consul", replicas: 3 }, PRIMARY_OUTPUTS);
    if (run.error) throw run.error;
    const np = policyOf(run);
    validateK8s(np);
    const helperPods = np.inputs.spec.podSelector.matchLabels;
    expect(np.inputs.spec.ingress.map((r: { ports: { port: number; protocol: string }[] }) => r.ports)).toEqual([
      [
        { protocol: "TCP", port: 8200 },
        { protocol: "TCP", port: 8201 },
      ],
      [{ protocol: "TCP", port: 8200 }],
      [
        { protocol: "TCP", port: 8301 },
        { protocol: "UDP", port: 8301 },
      ],
    ]);
    expect(np.inputs.spec.ingress[0].from).toEqual([{ podSelector: { matchLabels: helperPods } }]);
    expect(np.inputs.spec.ingress[1].from).toEqual([{ ipBlock: { cidr: "198.51.100.0/24" } }]);
  });

  it("refuses a NodePort without the opt-in, saying why and what to use, before any resource", async () => {
    const run = await runStack(
      "helper",
      { ...HELPER, expose: { type: "NodePort", nodePort: 30820 }, peerCidrs: ["10.232.0.0/16"] },
      PRIMARY_OUTPUTS,
    );
    expect((run.error as Error).message).toMatch(
      /vault-mutual-unseal:expose\.type: NodePort is refused for the helper: a NodePort opens it to whoever reaches any node .*the helper holds the key that unseals vault\. Use \{ type: LoadBalancer, sourceRanges: \[<vault's egress ranges>\] \}, or set expose\.allowNodePort: true/,
    );
    expect(run.registered).toEqual([]);
  });

  it("accepts a NodePort with expose.allowNodePort, fenced by its NetworkPolicy to peerCidrs", async () => {
    const run = await runStack(
      "helper",
      { ...HELPER, expose: { type: "NodePort", nodePort: 30820, allowNodePort: true }, peerCidrs: ["10.232.0.0/16"] },
      PRIMARY_OUTPUTS,
    );
    if (run.error) throw run.error;
    const svc = externalOf(run);
    validateK8s(svc);
    expect(svc.inputs.spec).toMatchObject({
      type: "NodePort",
      externalTrafficPolicy: "Local",
      ports: [{ name: "https", port: 8200, targetPort: "https", nodePort: 30820 }],
    });
    expect(Object.keys(svc.inputs.spec)).not.toContain("allowNodePort");
    validateK8s(policyOf(run));
    expect(policyOf(run).inputs.spec.ingress[1]).toEqual({
      from: [{ ipBlock: { cidr: "10.232.0.0/16" } }],
      ports: [{ protocol: "TCP", port: 8200 }],
    });
  });
});

describe("helper stack, primary outputs", () => {
  it("a missing one (a primary without helperAddress) fails saying what to do", async () => {
    const { primaryValue } = await import("../../stacks/helper");
    expect(() =>
      primaryValue("acme/vault-mutual-unseal/primary", "helperTls", "set helperAddress on the primary stack", undefined),
    ).toThrow('the primary stack acme/vault-mutual-unseal/primary has no output "helperTls": set helperAddress on the primary stack');
    expect(primaryValue("acme/vault-mutual-unseal/primary", "transitMount", "run the primary", "transit/")).toBe("transit/");
  });
});
