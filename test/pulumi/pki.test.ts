import * as pulumi from "@pulumi/pulumi";
import { FAKE_KEY, installMocks, registered, settle, value } from "./harness";

type PkiModule = typeof import("../../components/pki");
let pkiModule: PkiModule;

beforeAll(async () => {
  await installMocks();
  pkiModule = await import("../../components/pki");
});
beforeEach(() => registered.splice(0));

async function twoClusterPki() {
  const pki = new pkiModule.Pki("pki", {
    servers: {
      vault: {
        namespace: "vault",
        services: ["vault-active", "vault-standby"],
        headlessService: "vault-internal",
        extraDnsNames: ["vault.example.org"],
      },
      "consul-vault": {
        namespace: "vault",
        services: ["consul-vault"],
        headlessService: "consul-vault-server",
        extraDnsNames: ["server.dc1.consul"],
        clientAuth: true,
      },
    },
    clients: { "transit-vault": { commonName: "vault transit seal" } },
  });
  await settle();
  return pki;
}

const byName = (name: string) => {
  const r = registered.find((x) => x.name === name);
  if (!r) throw new Error(`no resource ${name}; have ${registered.map((x) => x.name).join(", ")}`);
  return r;
};

describe("Pki", () => {
  it("creates exactly a CA and, per certificate, a P-256 key, a request and a CA-signed certificate", async () => {
    await twoClusterPki();
    expect(registered.map((r) => `${r.type} ${r.name}`).sort()).toEqual([
      "tls:index/certRequest:CertRequest pki-client-transit-vault-csr",
      "tls:index/certRequest:CertRequest pki-server-consul-vault-csr",
      "tls:index/certRequest:CertRequest pki-server-vault-csr",
      "tls:index/locallySignedCert:LocallySignedCert pki-client-transit-vault-cert",
      "tls:index/locallySignedCert:LocallySignedCert pki-server-consul-vault-cert",
      "tls:index/locallySignedCert:LocallySignedCert pki-server-vault-cert",
      "tls:index/privateKey:PrivateKey pki-ca-key",
      "tls:index/privateKey:PrivateKey pki-client-transit-vault-key",
      "tls:index/privateKey:PrivateKey pki-server-consul-vault-key",
      "tls:index/privateKey:PrivateKey pki-server-vault-key",
      "tls:index/selfSignedCert:SelfSignedCert pki-ca",
      "vault-mutual-unseal:index:Pki pki",
    ]);
    for (const key of registered.filter((r) => r.type === "tls:index/privateKey:PrivateKey")) {
      expect(key.inputs).toEqual({ algorithm: "ECDSA", ecdsaCurve: "P256" });
    }
    expect(byName("pki-ca").inputs).toMatchObject({
      isCaCertificate: true,
      allowedUses: ["cert_signing", "crl_signing", "digital_signature"],
      privateKeyPem: FAKE_KEY("pki-ca-key"),
    });
    // The CA key reaches the providers only as a secret.
    expect(byName("pki-ca").secretPaths).toEqual(["privateKeyPem"]);
    expect(byName("pki-server-vault-cert").secretPaths).toEqual(["caPrivateKeyPem"]);
  });

  it("names every Service, every pod of the headless Service, and loopback in a server certificate", async () => {
    await twoClusterPki();
    expect(byName("pki-server-vault-csr").inputs.dnsNames).toEqual([
      "vault-active.vault.svc",
      "vault-standby.vault.svc",
      "*.vault-internal.vault.svc",
      "*.vault-internal.vault.svc.cluster.local",
      "vault.example.org",
      "localhost",
    ]);
    expect(byName("pki-server-vault-csr").inputs.ipAddresses).toEqual(["127.0.0.1"]);
    expect(byName("pki-server-consul-vault-csr").inputs.dnsNames).toContain("server.dc1.consul");
  });

  it("signs server, server+client and client certificates with the CA, for exactly their uses", async () => {
    await twoClusterPki();
    const signed = (n: string) => byName(n).inputs;
    expect(signed("pki-server-vault-cert")).toMatchObject({
      caPrivateKeyPem: FAKE_KEY("pki-ca-key"),
      certRequestPem: "csr-pki-server-vault-csr",
      allowedUses: ["digital_signature", "server_auth"],
    });
    expect(signed("pki-server-consul-vault-cert").allowedUses).toEqual(["digital_signature", "server_auth", "client_auth"]);
    expect(signed("pki-client-transit-vault-cert").allowedUses).toEqual(["digital_signature", "client_auth"]);
    expect(signed("pki-client-transit-vault-csr").subject).toMatchObject({ commonName: "vault transit seal" });
    expect(signed("pki-client-transit-vault-csr").dnsNames).toBeUndefined();
    for (const c of registered.filter((r) => r.type === "tls:index/locallySignedCert:LocallySignedCert")) {
      expect(c.inputs.earlyRenewalHours).toBeGreaterThan(0);
    }
  });

  it("returns private keys and bundles only as secrets", async () => {
    const pki = await twoClusterPki();
    for (const cert of [pki.servers.vault, pki.servers["consul-vault"], pki.clients["transit-vault"]]) {
      expect(await pulumi.isSecret(cert.keyPem)).toBe(true);
      expect(await pulumi.isSecret(cert.certPem)).toBe(false);
    }
    const bundle = pki.serverBundle("vault");
    expect(await pulumi.isSecret(bundle)).toBe(true);
    expect(await value(bundle)).toEqual({
      caCertPem: expect.stringContaining("mock-pki-ca"),
      certPem: expect.stringContaining("mock-pki-server-vault-cert"),
      keyPem: FAKE_KEY("pki-server-vault-key"),
    });
    expect(await pulumi.isSecret(pki.clientBundle("transit-vault"))).toBe(true);
  });

  it("says which certificates exist when asked for one it did not issue", async () => {
    const pki = await twoClusterPki();
    expect(() => pki.clientBundle("transit-vault-unlock")).toThrow(
      'Pki has no client certificate "transit-vault-unlock" (it has: transit-vault): add it to args.clients',
    );
  });

  it("computes SANs as a pure function too", () => {
    expect(pkiModule.serverDnsNames("ns", ["a"], undefined, ["localhost"])).toEqual(["a.ns.svc", "localhost"]);
  });
});
