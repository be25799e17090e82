/** TransitUnsealLink: the link on the unsealer and the sealed side's seal objects. */
import * as pulumi from "@pulumi/pulumi";
import { TLS_OFF, installMocks, k8sObjects, kindName, one, registered, settle, strings, validateK8s, value } from "./harness";

type LinkModule = typeof import("../../components/transit-unseal-link");
let m: LinkModule;

beforeAll(async () => {
  await installMocks();
  m = await import("../../components/transit-unseal-link");
});
beforeEach(() => registered.splice(0));

const TRANSIT_TLS = { caCertPem: "CA-PEM", certPem: "CLIENT-PEM", keyPem: "CLIENT-KEY" };
const UNSEALER = {
  kind: "kubernetes" as const,
  kubeconfig: pulumi.secret("KUBECONFIG"),
  namespace: "vault-unlock",
  statefulSet: "vault-unlock",
  replicas: 3,
  port: 8200,
  tls: { caPem: "CA-PEM", serverName: "vault-unlock-active.vault-unlock.svc" },
  sealConfigMap: "vault-unlock-seal",
  sealTokenSecret: "vault-unlock-transit-token",
};

async function deploy(extra: Partial<import("../../components/transit-unseal-link").TransitUnsealLinkArgs> = {}) {
  const link = new m.TransitUnsealLink("seal-of-vault", {
    flavour: "vault",
    unsealer: UNSEALER,
    unsealerAdminToken: pulumi.secret("ROOT"),
    unsealerAddress: "https://vault-unlock-active.vault-unlock.svc:8200",
    allowBackup: true,
    tokenPeriod: "720h",
    sealedNamespace: "vault",
    sealedClusterName: "vault",
    transitTls: pulumi.secret(TRANSIT_TLS),
    bornSealed: true,
    ...extra,
  });
  await settle();
  return link;
}

describe("TransitUnsealLink", () => {
  it("born sealed: the transit link on the unsealer, and the seal ConfigMap, token Secret and transit TLS Secret the pod template reads", async () => {
    await deploy();
    expect(registered.map((r) => `${r.type} ${r.name}`).sort()).toEqual([
      "kubernetes:core/v1:ConfigMap seal-of-vault-seal",
      "kubernetes:core/v1:Secret seal-of-vault-token",
      "kubernetes:core/v1:Secret seal-of-vault-transit-tls",
      "pulumi-nodejs:dynamic/vault-mutual-unseal:TransitLink seal-of-vault-transit",
      "vault-mutual-unseal:index:TransitUnsealLink seal-of-vault",
    ]);
    expect(k8sObjects().map(kindName).sort()).toEqual(["ConfigMap vault-seal", "Secret vault-transit-tls", "Secret vault-transit-token"]);
    for (const r of k8sObjects()) {
      validateK8s(r);
      for (const s of strings(r.inputs))
        for (const off of TLS_OFF) expect([kindName(r), s.path, off.test(s.value)]).toEqual([kindName(r), s.path, false]);
    }
    const link = registered.find((r) => r.name === "seal-of-vault-transit")!;
    expect(link.inputs).toMatchObject({
      mountPath: "transit/",
      keyName: "autounseal",
      policyName: "autounseal-seal-of-vault",
      allowBackup: true,
      tokenPeriod: "720h",
      displayName: "seal-of-vault",
    });
    expect(link.secretPaths).toEqual(expect.arrayContaining(["adminToken", "nodes"]));
    const cm = one("ConfigMap", "vault-seal").inputs;
    expect(Object.keys(cm.data).sort()).toEqual([
      "peer-address",
      "peer-ca-cert",
      "peer-client-cert",
      "peer-client-key",
      "peer-server-name",
      "seal.hcl",
    ]);
    expect(cm.data["seal.hcl"]).toMatch(
      /seal "transit" \{[\s\S]*address = "https:\/\/vault-unlock-active\.vault-unlock\.svc:8200"[\s\S]*tls_server_name = "vault-unlock-active\.vault-unlock\.svc"/,
    );
    expect(cm.data["seal.hcl"]).not.toMatch(/token/);
    expect(one("Secret", "vault-transit-tls").inputs).toMatchObject({
      type: "kubernetes.io/tls",
      stringData: { "ca.crt": "CA-PEM", "tls.crt": "CLIENT-PEM", "tls.key": "CLIENT-KEY" },
    });
    expect(one("Secret", "vault-transit-token").secretPaths).toContain("stringData");
  });

  it("not born sealed: only the link and the TLS Secret; the seal objects are the migration's, written by the node adapter", async () => {
    const link = await deploy({ bornSealed: false, allowBackup: false });
    expect(k8sObjects().map(kindName)).toEqual(["Secret vault-transit-tls"]);
    expect(await value(link.seal)).toMatchObject({
      type: "transit",
      address: "https://vault-unlock-active.vault-unlock.svc:8200",
      keyName: "autounseal",
      mountPath: "transit/",
      tlsCaCert: "/vault/transit-tls/ca.crt",
    });
  });

  it("redirect: the same key at another holder (the helper), with its token", async () => {
    const link = await deploy({
      redirect: { address: "https://vault-helper.example.internal:8200", token: pulumi.secret("HELPER-TOKEN") },
    });
    expect(one("ConfigMap", "vault-seal").inputs.data["peer-address"]).toBe("https://vault-helper.example.internal:8200");
    expect(one("Secret", "vault-transit-token").inputs.stringData).toEqual({ token: "HELPER-TOKEN" });
    expect((await value(link.activeSeal)).keyName).toBe((await value(link.seal)).keyName);
    expect(
      () =>
        new m.TransitUnsealLink("bad", {
          flavour: "vault",
          unsealer: UNSEALER,
          unsealerAdminToken: "x",
          unsealerAddress: "https://a:8200",
          sealedNamespace: "vault",
          sealedClusterName: "vault",
          transitTls: TRANSIT_TLS,
          bornSealed: false,
          redirect: { address: "https://h:8200", token: "t" },
        }),
    ).toThrow(/redirect needs bornSealed/);
  });

  it("emergencyTls: the helper's CA and client certificate sit beside the unsealer's in the one Secret, whichever the seal points at; the redirect's stanza and peer gate use them", async () => {
    const HELPER_TLS = { caCertPem: "HELPER-CA-PEM", certPem: "HELPER-CLIENT-PEM", keyPem: "HELPER-CLIENT-KEY" };
    const bothBundles = {
      "ca.crt": "CA-PEM",
      "tls.crt": "CLIENT-PEM",
      "tls.key": "CLIENT-KEY",
      "emergency-ca.crt": "HELPER-CA-PEM",
      "emergency-tls.crt": "HELPER-CLIENT-PEM",
      "emergency-tls.key": "HELPER-CLIENT-KEY",
    };
    const normal = await deploy({ emergencyTls: pulumi.secret(HELPER_TLS) });
    expect(one("Secret", "vault-transit-tls").inputs.stringData).toEqual(bothBundles);
    expect(one("Secret", "vault-transit-tls").secretPaths).toContain("stringData");
    expect(await value(normal.activeSeal)).toMatchObject({
      tlsCaCert: "/vault/transit-tls/ca.crt",
      tlsClientCert: "/vault/transit-tls/tls.crt",
    });

    registered.splice(0);
    const redirected = await deploy({
      emergencyTls: pulumi.secret(HELPER_TLS),
      redirect: { address: "https://vault-helper.example.internal:8200", token: pulumi.secret("HELPER-TOKEN") },
    });
    expect(one("Secret", "vault-transit-tls").inputs.stringData).toEqual(bothBundles);
    expect(await value(redirected.activeSeal)).toMatchObject({
      address: "https://vault-helper.example.internal:8200",
      tlsCaCert: "/vault/transit-tls/emergency-ca.crt",
      tlsClientCert: "/vault/transit-tls/emergency-tls.crt",
      tlsClientKey: "/vault/transit-tls/emergency-tls.key",
    });
    const cm = one("ConfigMap", "vault-seal").inputs.data;
    expect(cm["seal.hcl"]).toContain('tls_ca_cert = "/vault/transit-tls/emergency-ca.crt"');
    expect(cm["peer-ca-cert"]).toBe("/vault/transit-tls/emergency-ca.crt");
    expect(cm["peer-client-key"]).toBe("/vault/transit-tls/emergency-tls.key");
  });

  it("the stanza annotation is what the node adapter reads back", async () => {
    const { storedSeal } = await import("../../adapters/kubernetes/seal-record");
    await deploy();
    const cm = one("ConfigMap", "vault-seal").inputs;
    const stored = storedSeal({ namespace: "vault", configMap: "vault-seal", secret: "vault-transit-token", labels: {} }, cm, {
      data: { token: Buffer.from("T").toString("base64") },
    });
    expect(stored.settings.stanzas[0]).toMatchObject({
      address: "https://vault-unlock-active.vault-unlock.svc:8200",
      keyName: "autounseal",
    });
    expect(stored.settings.transitToken).toBe("T");
  });
});
