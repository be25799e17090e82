/**
 * TEST EQUIPMENT (engine stand-in for the e2e runs, not part of the product): real keys and
 * certificates for the `tls:*` resources the project registers (components/pki.ts), with the
 * output names of the tls provider (node_modules/@pulumi/tls/*.d.ts). Like that provider,
 * an ECDSA key's `privateKeyPem` is SEC1 ("EC PRIVATE KEY"), which Go's crypto/tls (OpenBao,
 * Vault, Consul) accepts, and `privateKeyPemPkcs8` is PKCS#8. Certificates follow what Go's
 * x509.CreateCertificate does for that provider: critical basic constraints and key usage,
 * a subject key id on CAs, the issuer's key id as authority key id.
 */
// @peculiar/x509 resolves its algorithms through tsyringe, which needs the Reflect polyfill first.
import "reflect-metadata";
import * as crypto from "crypto";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(crypto.webcrypto as never);
const subtle = crypto.webcrypto.subtle;
type CryptoKey = crypto.webcrypto.CryptoKey;
type Algorithm = crypto.webcrypto.Algorithm;

type Props = Record<string, unknown>;

export const TLS_TYPES = {
  privateKey: "tls:index/privateKey:PrivateKey",
  selfSignedCert: "tls:index/selfSignedCert:SelfSignedCert",
  certRequest: "tls:index/certRequest:CertRequest",
  locallySignedCert: "tls:index/locallySignedCert:LocallySignedCert",
} as const;

/** Outputs the tls provider marks secret. */
export const TLS_SECRET_OUTPUTS = ["privateKeyPem", "privateKeyPemPkcs8", "privateKeyOpenssh", "caPrivateKeyPem"];

const CURVES: Record<string, { node: string; web: string; hash: string; ssh: string }> = {
  P224: { node: "secp224r1", web: "P-224", hash: "SHA-256", ssh: "nistp224" },
  P256: { node: "prime256v1", web: "P-256", hash: "SHA-256", ssh: "nistp256" },
  P384: { node: "secp384r1", web: "P-384", hash: "SHA-384", ssh: "nistp384" },
  P521: { node: "secp521r1", web: "P-521", hash: "SHA-512", ssh: "nistp521" },
};

const KEY_USAGES: Record<string, x509.KeyUsageFlags> = {
  digital_signature: x509.KeyUsageFlags.digitalSignature,
  content_commitment: x509.KeyUsageFlags.nonRepudiation,
  key_encipherment: x509.KeyUsageFlags.keyEncipherment,
  data_encipherment: x509.KeyUsageFlags.dataEncipherment,
  key_agreement: x509.KeyUsageFlags.keyAgreement,
  cert_signing: x509.KeyUsageFlags.keyCertSign,
  crl_signing: x509.KeyUsageFlags.cRLSign,
  encipher_only: x509.KeyUsageFlags.encipherOnly,
  decipher_only: x509.KeyUsageFlags.decipherOnly,
};

const EXT_KEY_USAGES: Record<string, string> = {
  any_extended: "2.5.29.37.0",
  server_auth: x509.ExtendedKeyUsage.serverAuth,
  client_auth: x509.ExtendedKeyUsage.clientAuth,
  code_signing: x509.ExtendedKeyUsage.codeSigning,
  email_protection: x509.ExtendedKeyUsage.emailProtection,
  ipsec_end_system: "1.3.6.1.5.5.7.3.5",
  ipsec_tunnel: "1.3.6.1.5.5.7.3.6",
  ipsec_user: "1.3.6.1.5.5.7.3.7",
  timestamping: x509.ExtendedKeyUsage.timeStamping,
  ocsp_signing: x509.ExtendedKeyUsage.ocspSigning,
  microsoft_server_gated_crypto: "1.3.6.1.4.1.311.10.3.3",
  netscape_server_gated_crypto: "2.16.840.1.113730.4.1",
};

/** The subject fields of the tls provider, in Go's pkix.Name order. */
const SUBJECT_FIELDS: [string, string][] = [
  ["country", "C"],
  ["organization", "O"],
  ["organizationalUnit", "OU"],
  ["locality", "L"],
  ["province", "ST"],
  ["streetAddresses", "street"],
  ["postalCode", "postalCode"],
  ["serialNumber", "serialNumber"],
  ["commonName", "CN"],
];

export class TlsInputError extends Error {}

function sshString(b: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}

/** OpenSSH public key line and fingerprints of an ECDSA or RSA public key. */
function sshPublic(pub: crypto.KeyObject): { line: string; md5: string; sha256: string } {
  const jwk = pub.export({ format: "jwk" }) as crypto.JsonWebKey;
  let type: string;
  let blob: Buffer;
  if (jwk.kty === "EC") {
    const curve = Object.values(CURVES).find((c) => c.web === jwk.crv);
    if (!curve) throw new TlsInputError(`no OpenSSH form for curve ${jwk.crv}`);
    type = `ecdsa-sha2-${curve.ssh}`;
    const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, "base64url"), Buffer.from(jwk.y!, "base64url")]);
    blob = Buffer.concat([sshString(Buffer.from(type)), sshString(Buffer.from(curve.ssh)), sshString(point)]);
  } else {
    type = "ssh-rsa";
    const mpint = (b64: string) => {
      const b = Buffer.from(b64, "base64url");
      return sshString(b[0] & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
    };
    blob = Buffer.concat([sshString(Buffer.from(type)), mpint(jwk.e!), mpint(jwk.n!)]);
  }
  const md5 = crypto.createHash("md5").update(blob).digest("hex").match(/../g)!.join(":");
  const sha256 = `SHA256:${crypto.createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
  return { line: `${type} ${blob.toString("base64")}\n`, md5, sha256 };
}

export function createPrivateKey(inputs: Props): Props {
  const algorithm = String(inputs.algorithm ?? "");
  let pair: crypto.KeyPairKeyObjectResult;
  let pem: string;
  if (algorithm === "ECDSA") {
    const curveName = String(inputs.ecdsaCurve ?? "P224");
    const curve = CURVES[curveName];
    if (!curve) throw new TlsInputError(`ecdsaCurve: "${curveName}" is not one of ${Object.keys(CURVES).join(", ")}`);
    pair = crypto.generateKeyPairSync("ec", { namedCurve: curve.node });
    pem = pair.privateKey.export({ type: "sec1", format: "pem" }) as string;
  } else if (algorithm === "RSA") {
    pair = crypto.generateKeyPairSync("rsa", { modulusLength: Number(inputs.rsaBits ?? 2048) });
    pem = pair.privateKey.export({ type: "pkcs1", format: "pem" }) as string;
  } else {
    throw new TlsInputError(`algorithm: "${algorithm}" is not supported by the engine stand-in (ECDSA, RSA)`);
  }
  const ssh = sshPublic(pair.publicKey);
  return {
    ...inputs,
    ecdsaCurve: algorithm === "ECDSA" ? String(inputs.ecdsaCurve ?? "P224") : inputs.ecdsaCurve,
    privateKeyPem: pem,
    privateKeyPemPkcs8: pair.privateKey.export({ type: "pkcs8", format: "pem" }),
    // The stand-in does not write OpenSSH private keys (the project never reads them).
    privateKeyOpenssh: "",
    publicKeyPem: pair.publicKey.export({ type: "spki", format: "pem" }),
    publicKeyOpenssh: ssh.line,
    publicKeyFingerprintMd5: ssh.md5,
    publicKeyFingerprintSha256: ssh.sha256,
  };
}

/** The id the tls provider gives a key: a hash of its public key. */
export const keyId = (outputs: Props) => crypto.createHash("sha1").update(String(outputs.publicKeyPem)).digest("hex");

interface SigningKey {
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  algorithm: Algorithm & { hash?: string };
  keyAlgorithm: string;
}

async function importKey(pem: string, what: string): Promise<SigningKey> {
  let key: crypto.KeyObject;
  try {
    key = crypto.createPrivateKey(pem);
  } catch (e) {
    throw new TlsInputError(`${what}: not a PEM private key (${(e as Error).message})`);
  }
  const pkcs8 = key.export({ type: "pkcs8", format: "der" });
  const spki = crypto.createPublicKey(key).export({ type: "spki", format: "der" });
  if (key.asymmetricKeyType === "ec") {
    const jwk = key.export({ format: "jwk" });
    const curve = Object.values(CURVES).find((c) => c.web === jwk.crv)!;
    const alg = { name: "ECDSA", namedCurve: curve.web };
    return {
      privateKey: await subtle.importKey("pkcs8", pkcs8, alg, true, ["sign"]),
      publicKey: await subtle.importKey("spki", spki, alg, true, ["verify"]),
      algorithm: { name: "ECDSA", hash: curve.hash } as Algorithm,
      keyAlgorithm: "ECDSA",
    };
  }
  if (key.asymmetricKeyType === "rsa") {
    const alg = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
    return {
      privateKey: await subtle.importKey("pkcs8", pkcs8, alg, true, ["sign"]),
      publicKey: await subtle.importKey("spki", spki, alg, true, ["verify"]),
      algorithm: alg,
      keyAlgorithm: "RSA",
    };
  }
  throw new TlsInputError(`${what}: ${key.asymmetricKeyType} keys are not supported by the engine stand-in (ECDSA, RSA)`);
}

function subjectName(subject: unknown): x509.JsonName {
  const s = (subject ?? {}) as Props;
  const name: x509.JsonName = [];
  for (const [field, attr] of SUBJECT_FIELDS) {
    const v = s[field];
    const values = Array.isArray(v) ? v.map(String) : v === undefined || v === null || v === "" ? [] : [String(v)];
    if (values.length > 0) name.push({ [attr]: values });
  }
  return name;
}

function sanExtension(inputs: Props): x509.Extension[] {
  const list = (k: string) => ((inputs[k] as unknown[]) ?? []).map(String);
  const names: x509.JsonGeneralName[] = [
    ...list("dnsNames").map((value) => ({ type: "dns" as const, value })),
    ...list("ipAddresses").map((value) => ({ type: "ip" as const, value })),
    ...list("uris").map((value) => ({ type: "url" as const, value })),
  ];
  return names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names)] : [];
}

function usageExtensions(inputs: Props): x509.Extension[] {
  const uses = ((inputs.allowedUses as unknown[]) ?? []).map(String);
  const unknown = uses.filter((u) => !(u in KEY_USAGES) && !(u in EXT_KEY_USAGES));
  if (unknown.length > 0)
    throw new TlsInputError(
      `allowedUses: ${unknown.join(", ")} not known (${[...Object.keys(KEY_USAGES), ...Object.keys(EXT_KEY_USAGES)].join(", ")})`,
    );
  const flags = uses.reduce((f, u) => f | (KEY_USAGES[u] ?? 0), 0);
  const ext = uses.filter((u) => u in EXT_KEY_USAGES).map((u) => EXT_KEY_USAGES[u]);
  const isCa = inputs.isCaCertificate === true;
  const maxPath = typeof inputs.maxPathLength === "number" && inputs.maxPathLength > 0 ? inputs.maxPathLength : undefined;
  return [
    new x509.BasicConstraintsExtension(isCa, isCa ? maxPath : undefined, true),
    ...(flags ? [new x509.KeyUsagesExtension(flags, true)] : []),
    ...(ext.length > 0 ? [new x509.ExtendedKeyUsageExtension(ext)] : []),
  ];
}

function validity(inputs: Props): { notBefore: Date; notAfter: Date } {
  const hours = Number(inputs.validityPeriodHours);
  if (!Number.isFinite(hours) || hours <= 0)
    throw new TlsInputError(`validityPeriodHours: must be a positive number of hours, got ${String(inputs.validityPeriodHours)}`);
  // Whole seconds, as RFC 3339 in the outputs and X.509 times have no milliseconds.
  const notBefore = new Date(Math.floor(Date.now() / 1000) * 1000);
  return { notBefore, notAfter: new Date(notBefore.getTime() + hours * 3600_000) };
}

/** A positive 128-bit serial, as the tls provider draws one. */
function serial(): string {
  const b = crypto.randomBytes(16);
  b[0] &= 0x7f;
  b[0] |= 0x01;
  return b.toString("hex");
}

function certOutputs(inputs: Props, cert: x509.X509Certificate, extra: Props = {}): Props {
  return {
    ...inputs,
    ...extra,
    certPem: cert.toString("pem") + "\n",
    validityStartTime: cert.notBefore.toISOString().replace(/\.000Z$/, "Z"),
    validityEndTime: cert.notAfter.toISOString().replace(/\.000Z$/, "Z"),
    // Early renewal is not modelled: a certificate the stand-in issued is never due.
    readyForRenewal: false,
  };
}

/** The id the tls provider gives a certificate: its serial number in decimal. */
export const certId = (outputs: Props) => BigInt(`0x${new x509.X509Certificate(String(outputs.certPem)).serialNumber}`).toString(10);

export async function createSelfSignedCert(inputs: Props): Promise<Props> {
  const key = await importKey(String(inputs.privateKeyPem ?? ""), "privateKeyPem");
  const name = subjectName(inputs.subject);
  const ski =
    inputs.isCaCertificate === true || inputs.setSubjectKeyId === true
      ? [await x509.SubjectKeyIdentifierExtension.create(key.publicKey)]
      : [];
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name,
    ...validity(inputs),
    keys: { privateKey: key.privateKey, publicKey: key.publicKey },
    signingAlgorithm: key.algorithm,
    extensions: [...usageExtensions(inputs), ...sanExtension(inputs), ...ski],
  });
  return certOutputs(inputs, cert, { keyAlgorithm: key.keyAlgorithm });
}

export async function createCertRequest(inputs: Props): Promise<Props> {
  const key = await importKey(String(inputs.privateKeyPem ?? ""), "privateKeyPem");
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: subjectName(inputs.subject),
    keys: { privateKey: key.privateKey, publicKey: key.publicKey },
    signingAlgorithm: key.algorithm,
    extensions: sanExtension(inputs),
  });
  return { ...inputs, keyAlgorithm: key.keyAlgorithm, certRequestPem: csr.toString("pem") + "\n" };
}

export const csrId = (outputs: Props) => crypto.createHash("sha1").update(String(outputs.certRequestPem)).digest("hex");

export async function createLocallySignedCert(inputs: Props): Promise<Props> {
  let csr: x509.Pkcs10CertificateRequest;
  let ca: x509.X509Certificate;
  try {
    csr = new x509.Pkcs10CertificateRequest(String(inputs.certRequestPem ?? ""));
  } catch (e) {
    throw new TlsInputError(`certRequestPem: not a PEM certificate request (${(e as Error).message})`);
  }
  try {
    ca = new x509.X509Certificate(String(inputs.caCertPem ?? ""));
  } catch (e) {
    throw new TlsInputError(`caCertPem: not a PEM certificate (${(e as Error).message})`);
  }
  if (!(await csr.verify())) throw new TlsInputError("certRequestPem: the request's signature does not verify");
  const caKey = await importKey(String(inputs.caPrivateKeyPem ?? ""), "caPrivateKeyPem");
  const caSki = ca.getExtension(x509.SubjectKeyIdentifierExtension);
  // The names come from the request, as the tls provider copies them (2.5.29.17: subjectAltName).
  const san = csr.getExtension("2.5.29.17");
  const ski = inputs.setSubjectKeyId === true ? [await x509.SubjectKeyIdentifierExtension.create(csr.publicKey)] : [];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: csr.subjectName,
    issuer: ca.subjectName,
    ...validity(inputs),
    publicKey: csr.publicKey,
    signingKey: caKey.privateKey,
    signingAlgorithm: caKey.algorithm,
    extensions: [
      ...usageExtensions(inputs),
      ...(san ? [san] : []),
      ...ski,
      ...(caSki ? [new x509.AuthorityKeyIdentifierExtension(caSki.keyId)] : []),
    ],
  });
  return certOutputs(inputs, cert, { caKeyAlgorithm: caKey.keyAlgorithm });
}

/** Creates any supported tls resource: its id and outputs. */
export async function createTls(type: string, inputs: Props): Promise<{ id: string; outputs: Props }> {
  switch (type) {
    case TLS_TYPES.privateKey: {
      const outputs = createPrivateKey(inputs);
      return { id: keyId(outputs), outputs };
    }
    case TLS_TYPES.selfSignedCert: {
      const outputs = await createSelfSignedCert(inputs);
      return { id: certId(outputs), outputs };
    }
    case TLS_TYPES.certRequest: {
      const outputs = await createCertRequest(inputs);
      return { id: csrId(outputs), outputs };
    }
    case TLS_TYPES.locallySignedCert: {
      const outputs = await createLocallySignedCert(inputs);
      return { id: certId(outputs), outputs };
    }
    default:
      throw new TlsInputError(`${type} is not implemented by the engine stand-in`);
  }
}
