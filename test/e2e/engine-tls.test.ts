/**
 * Tests of the engine stand-in's tls and random resources (TEST EQUIPMENT for the e2e runs):
 * what OpenBao will be given must be real PEMs with the names, usages and validity asked for.
 */
import "reflect-metadata";
import { execFileSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as x509 from "@peculiar/x509";
import { createRandom, RANDOM_BYTES } from "../../e2e/engine/random";
import { createTls, TLS_TYPES as T } from "../../e2e/engine/tls";

async function chain(uses = ["digital_signature", "server_auth"]) {
  const caKey = await createTls(T.privateKey, { algorithm: "ECDSA", ecdsaCurve: "P256" });
  const ca = await createTls(T.selfSignedCert, {
    privateKeyPem: caKey.outputs.privateKeyPem,
    isCaCertificate: true,
    allowedUses: ["cert_signing", "crl_signing", "digital_signature"],
    subject: { commonName: "test CA", organization: "vmu" },
    validityPeriodHours: 240,
  });
  const key = await createTls(T.privateKey, { algorithm: "ECDSA", ecdsaCurve: "P256" });
  const csr = await createTls(T.certRequest, {
    privateKeyPem: key.outputs.privateKeyPem,
    subject: { commonName: "vault-active.vault.svc", organization: "vmu" },
    dnsNames: ["vault-active.vault.svc", "*.vault-internal.vault.svc", "localhost"],
    ipAddresses: ["127.0.0.1"],
  });
  const leaf = await createTls(T.locallySignedCert, {
    certRequestPem: csr.outputs.certRequestPem,
    caPrivateKeyPem: caKey.outputs.privateKeyPem,
    caCertPem: ca.outputs.certPem,
    allowedUses: uses,
    validityPeriodHours: 24,
  });
  return {
    caKey,
    ca,
    key,
    leaf,
    leafCert: new x509.X509Certificate(String(leaf.outputs.certPem)),
    caCert: new x509.X509Certificate(String(ca.outputs.certPem)),
  };
}

const sanOf = (c: x509.X509Certificate) =>
  c.getExtension(x509.SubjectAlternativeNameExtension)!.names.items.map((n) => `${n.type}:${n.value}`);

describe("engine stand-in: tls", () => {
  it("writes an ECDSA private key as SEC1 'EC PRIVATE KEY' that parses as a P-256 key", async () => {
    const { outputs } = await createTls(T.privateKey, { algorithm: "ECDSA", ecdsaCurve: "P256" });
    expect(String(outputs.privateKeyPem)).toMatch(/^-----BEGIN EC PRIVATE KEY-----\n/);
    expect(crypto.createPrivateKey(String(outputs.privateKeyPem)).asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
  });

  it("gives the key's public half as publicKeyPem and in OpenSSH form", async () => {
    const { outputs } = await createTls(T.privateKey, { algorithm: "ECDSA", ecdsaCurve: "P256" });
    const derived = crypto.createPublicKey(String(outputs.privateKeyPem)).export({ type: "spki", format: "pem" });
    expect(outputs.publicKeyPem).toBe(derived);
    expect(String(outputs.publicKeyOpenssh)).toMatch(/^ecdsa-sha2-nistp256 AAAA/);
  });

  it("issues a leaf certificate that openssl verifies against the CA", async () => {
    const { ca, leaf } = await chain();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "standin-tls-"));
    try {
      fs.writeFileSync(path.join(dir, "ca.pem"), String(ca.outputs.certPem));
      fs.writeFileSync(path.join(dir, "leaf.pem"), String(leaf.outputs.certPem));
      expect(execFileSync("openssl", ["verify", "-CAfile", path.join(dir, "ca.pem"), path.join(dir, "leaf.pem")]).toString()).toContain(
        ": OK",
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("puts the request's DNS names and IP addresses in the leaf certificate", async () => {
    const { leafCert } = await chain();
    expect(sanOf(leafCert)).toEqual(["dns:vault-active.vault.svc", "dns:*.vault-internal.vault.svc", "dns:localhost", "ip:127.0.0.1"]);
  });

  it("gives the leaf the request's subject and the CA's subject as issuer", async () => {
    const { leafCert } = await chain();
    expect(leafCert.subject).toBe("O=vmu, CN=vault-active.vault.svc");
    expect(leafCert.issuer).toBe("O=vmu, CN=test CA");
  });

  it("turns allowedUses into key usage and extended key usage", async () => {
    const { leafCert } = await chain(["digital_signature", "server_auth", "client_auth"]);
    expect(leafCert.getExtension(x509.KeyUsagesExtension)!.usages).toBe(x509.KeyUsageFlags.digitalSignature);
    expect(leafCert.getExtension(x509.ExtendedKeyUsageExtension)!.usages).toEqual([
      x509.ExtendedKeyUsage.serverAuth,
      x509.ExtendedKeyUsage.clientAuth,
    ]);
  });

  it("marks the CA certificate as a CA that may sign certificates, and the leaf as no CA", async () => {
    const { caCert, leafCert } = await chain();
    expect(caCert.getExtension(x509.BasicConstraintsExtension)!.ca).toBe(true);
    expect(caCert.getExtension(x509.KeyUsagesExtension)!.usages & x509.KeyUsageFlags.keyCertSign).toBeTruthy();
    expect(leafCert.getExtension(x509.BasicConstraintsExtension)!.ca).toBe(false);
  });

  it("makes the certificate valid for validityPeriodHours from now, as validityStartTime/EndTime say", async () => {
    const { leaf, leafCert } = await chain();
    expect(leafCert.notAfter.getTime() - leafCert.notBefore.getTime()).toBe(24 * 3600_000);
    expect(Math.abs(leafCert.notBefore.getTime() - Date.now())).toBeLessThan(60_000);
    expect(new Date(String(leaf.outputs.validityEndTime)).getTime()).toBe(leafCert.notAfter.getTime());
  });

  it("refuses an allowedUses entry the tls provider does not know, naming it", async () => {
    const key = await createTls(T.privateKey, { algorithm: "ECDSA", ecdsaCurve: "P256" });
    await expect(
      createTls(T.selfSignedCert, {
        privateKeyPem: key.outputs.privateKeyPem,
        allowedUses: ["server_auth", "teleport"],
        validityPeriodHours: 1,
      }),
    ).rejects.toThrow("allowedUses: teleport not known");
  });
});

describe("engine stand-in: random", () => {
  it("gives RandomBytes of the requested length as base64 and hex of the same bytes", () => {
    const { outputs } = createRandom(RANDOM_BYTES, { length: 32 });
    expect(Buffer.from(String(outputs.base64), "base64")).toHaveLength(32);
    expect(Buffer.from(String(outputs.hex), "hex").toString("base64")).toBe(outputs.base64);
  });

  it("refuses a RandomBytes length that is not a whole number of bytes", () => {
    expect(() => createRandom(RANDOM_BYTES, { length: 0 })).toThrow("length: must be a whole number of bytes >= 1");
  });
});
