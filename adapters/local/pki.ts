/**
 * A private CA for servers started on this machine (tests and the lab): server
 * certificates with the names a node is reached by, and client certificates for transit
 * links. On Kubernetes the PKI component on @pulumi/tls plays this part.
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { webcrypto } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { mkdirPrivate, writePrivateFile } from "./private-files";

// @peculiar/x509 is typed against the DOM's WebCrypto; Node's implementation is the same API.
type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY = 24 * 3600 * 1000;

export interface IssuedFiles {
  certFile: string;
  keyFile: string;
}

async function keyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", key));
  return `-----BEGIN PRIVATE KEY-----\n${der
    .toString("base64")
    .match(/.{1,64}/g)!
    .join("\n")}\n-----END PRIVATE KEY-----\n`;
}

let serial = Date.now();
const nextSerial = () => (++serial).toString(16).padStart(16, "0");

export class LocalPki {
  private constructor(
    readonly dir: string,
    readonly caFile: string,
    private readonly ca: x509.X509Certificate,
    private readonly caKeys: CryptoKeyPair,
  ) {}

  /** Makes a new CA in `dir` (0700; private keys are written 0600). */
  static async create(dir: string, commonName = "vault-mutual-unseal test CA"): Promise<LocalPki> {
    mkdirPrivate(dir);
    const keys = (await webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"])) as CryptoKeyPair;
    const ca = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: nextSerial(),
      name: `CN=${commonName}`,
      notBefore: new Date(Date.now() - DAY),
      notAfter: new Date(Date.now() + 30 * DAY),
      keys,
      signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    const caFile = path.join(dir, "ca.pem");
    fs.writeFileSync(caFile, ca.toString("pem") + "\n");
    return new LocalPki(dir, caFile, ca, keys);
  }

  private async issue(
    name: string,
    commonName: string,
    sans: { dns?: string[]; ip?: string[] },
    usage: "server" | "client",
  ): Promise<IssuedFiles> {
    const keys = (await webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"])) as CryptoKeyPair;
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: nextSerial(),
      subject: `CN=${commonName}`,
      issuer: this.ca.subject,
      notBefore: new Date(Date.now() - DAY),
      notAfter: new Date(Date.now() + 7 * DAY),
      signingKey: this.caKeys.privateKey,
      publicKey: keys.publicKey,
      signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension(
          usage === "server" ? [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth] : [x509.ExtendedKeyUsage.clientAuth],
        ),
        new x509.SubjectAlternativeNameExtension([
          ...(sans.dns ?? []).map((value) => ({ type: "dns" as const, value })),
          ...(sans.ip ?? []).map((value) => ({ type: "ip" as const, value })),
        ]),
        await x509.AuthorityKeyIdentifierExtension.create(this.caKeys.publicKey),
      ],
    });
    const certFile = path.join(this.dir, `${name}.pem`);
    const keyFile = path.join(this.dir, `${name}-key.pem`);
    // The chain (leaf + CA) so clients that only know the CA can verify it.
    fs.writeFileSync(certFile, cert.toString("pem") + "\n");
    writePrivateFile(keyFile, await keyPem(keys.privateKey));
    return { certFile, keyFile };
  }

  /** Server certificate for a node reached as 127.0.0.1 and by `dnsNames`. It also serves as a client cert (Raft joins). */
  serverCert(name: string, dnsNames: string[]): Promise<IssuedFiles> {
    return this.issue(name, dnsNames[0] ?? name, { dns: [...dnsNames, "localhost"], ip: ["127.0.0.1"] }, "server");
  }

  /** Client certificate, e.g. the one a transit seal presents to its unsealer. */
  clientCert(name: string): Promise<IssuedFiles> {
    return this.issue(name, name, { dns: [name] }, "client");
  }
}
