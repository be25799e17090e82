/**
 * The project's private CA on `@pulumi/tls`, replacing the article's cfssl steps: one ECDSA
 * P-256 CA, server certificates whose names match the Services and pods that present them
 * (so nothing ever needs TLS verification switched off), and client certificates for the
 * transit links. Private keys only ever surface as secrets.
 */
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { serviceHost } from "../adapters/kubernetes/names";

/** A server certificate for the pods of one StatefulSet and the Services in front of them. */
export interface ServerCertSpec {
  /** Namespace of the Services (their DNS names are `<svc>.<namespace>.svc`). */
  namespace: pulumi.Input<string>;
  /** Names of the ClusterIP Services clients reach the pods through, e.g. `vault-active`. */
  services: pulumi.Input<pulumi.Input<string>[]>;
  /** Headless Service of the StatefulSet: pods are `<pod>.<headless>.<namespace>.svc`, covered by a wildcard. */
  headlessService?: pulumi.Input<string>;
  /** More DNS names, e.g. an Ingress host or Consul's `server.<datacenter>.consul`. */
  extraDnsNames?: pulumi.Input<pulumi.Input<string>[]>;
  /** Also valid as a client certificate (Consul servers and agents dial each other with it). */
  clientAuth?: boolean;
}

/** A client certificate, e.g. the one a transit seal presents to its unsealer. */
export interface ClientCertSpec {
  commonName: pulumi.Input<string>;
}

export interface PkiArgs {
  /** Common name of the CA; default `vault-mutual-unseal CA`. */
  caCommonName?: pulumi.Input<string>;
  /** CA lifetime in hours; default ten years. */
  caValidityHours?: pulumi.Input<number>;
  /** Leaf certificate lifetime in hours; default one year. */
  certValidityHours?: pulumi.Input<number>;
  /** `pulumi up` re-issues a leaf certificate this many hours before it expires; default 30 days. */
  earlyRenewalHours?: pulumi.Input<number>;
  /** Server certificates by id (e.g. `vault`, `consul-vault`). */
  servers?: Record<string, ServerCertSpec>;
  /** Client certificates by id (e.g. `transit-vault-unlock`). */
  clients?: Record<string, ClientCertSpec>;
}

/** A certificate and its private key (the key is a secret output). */
export interface IssuedCert {
  certPem: pulumi.Output<string>;
  keyPem: pulumi.Output<string>;
}

/** What a cluster mounts: the CA that verifies peers, its own certificate and key. */
export interface TlsBundle {
  caCertPem: string;
  certPem: string;
  keyPem: string;
}

/**
 * The keys of a TLS bundle in a Secret, the names every container here reads (`kubernetes.io/tls`
 * plus `ca.crt`); with a prefix, a second bundle in the same Secret (the emergency seal's).
 */
export const tlsSecretKeys = (prefix = "") => ({ ca: `${prefix}ca.crt`, cert: `${prefix}tls.crt`, key: `${prefix}tls.key` });

/** The Secret data of a TLS bundle (secret), under tlsSecretKeys(prefix). */
export function tlsSecretData(tls: pulumi.Input<TlsBundle>, prefix = ""): pulumi.Output<Record<string, string>> {
  const k = tlsSecretKeys(prefix);
  return pulumi.secret(pulumi.output(tls).apply((t) => ({ [k.ca]: t.caCertPem, [k.cert]: t.certPem, [k.key]: t.keyPem })));
}

/** Names every server certificate carries so in-pod CLIs and probes work over loopback. */
export const LOOPBACK_DNS = "localhost";
export const LOOPBACK_IP = "127.0.0.1";

/** The DNS names of a server certificate (pure, for tests and for callers that need them). */
export function serverDnsNames(namespace: string, services: string[], headless?: string, extra: string[] = []): string[] {
  const names = services.map((s) => serviceHost(s, namespace));
  if (headless) names.push(`*.${serviceHost(headless, namespace)}`, `*.${serviceHost(headless, namespace)}.cluster.local`);
  return [...new Set([...names, ...extra, LOOPBACK_DNS])];
}

const CA_USES = ["cert_signing", "crl_signing", "digital_signature"];
const SERVER_USES = ["digital_signature", "server_auth"];
const CLIENT_USES = ["digital_signature", "client_auth"];

export class Pki extends pulumi.ComponentResource {
  /** PEM of the CA every component trusts. */
  readonly caCertPem: pulumi.Output<string>;
  readonly servers: Record<string, IssuedCert>;
  readonly clients: Record<string, IssuedCert>;

  constructor(name: string, args: PkiArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vault-mutual-unseal:index:Pki", name, {}, opts);
    const validity = args.certValidityHours ?? 24 * 365;
    const early = args.earlyRenewalHours ?? 24 * 30;

    const caKey = this.key(`${name}-ca-key`);
    const ca = new tls.SelfSignedCert(
      `${name}-ca`,
      {
        privateKeyPem: caKey.privateKeyPem,
        isCaCertificate: true,
        allowedUses: CA_USES,
        subject: { commonName: args.caCommonName ?? "vault-mutual-unseal CA", organization: "vault-mutual-unseal" },
        validityPeriodHours: args.caValidityHours ?? 24 * 365 * 10,
      },
      { parent: this },
    );
    this.caCertPem = ca.certPem;

    const issue = (id: string, key: tls.PrivateKey, csr: tls.CertRequest, uses: string[]): IssuedCert => {
      const cert = new tls.LocallySignedCert(
        `${id}-cert`,
        {
          certRequestPem: csr.certRequestPem,
          caPrivateKeyPem: caKey.privateKeyPem,
          caCertPem: ca.certPem,
          allowedUses: uses,
          validityPeriodHours: validity,
          earlyRenewalHours: early,
        },
        { parent: this },
      );
      return { certPem: cert.certPem, keyPem: pulumi.secret(key.privateKeyPem) };
    };

    this.servers = {};
    for (const [id, spec] of Object.entries(args.servers ?? {})) {
      const key = this.key(`${name}-server-${id}-key`);
      const dnsNames = pulumi
        .all([spec.namespace, spec.services, spec.headlessService, spec.extraDnsNames ?? []])
        .apply(([ns, services, headless, extra]) => serverDnsNames(ns, services, headless, extra));
      const csr = new tls.CertRequest(
        `${name}-server-${id}-csr`,
        {
          privateKeyPem: key.privateKeyPem,
          subject: { commonName: dnsNames.apply((n) => n[0]), organization: "vault-mutual-unseal" },
          dnsNames,
          ipAddresses: [LOOPBACK_IP],
        },
        { parent: this },
      );
      this.servers[id] = issue(`${name}-server-${id}`, key, csr, spec.clientAuth ? [...SERVER_USES, "client_auth"] : SERVER_USES);
    }

    this.clients = {};
    for (const [id, spec] of Object.entries(args.clients ?? {})) {
      const key = this.key(`${name}-client-${id}-key`);
      const csr = new tls.CertRequest(
        `${name}-client-${id}-csr`,
        {
          privateKeyPem: key.privateKeyPem,
          subject: { commonName: spec.commonName, organization: "vault-mutual-unseal" },
        },
        { parent: this },
      );
      this.clients[id] = issue(`${name}-client-${id}`, key, csr, CLIENT_USES);
    }

    this.registerOutputs({ caCertPem: this.caCertPem, servers: this.servers, clients: this.clients });
  }

  /** The bundle a server mounts (secret: it holds the private key). */
  serverBundle(id: string): pulumi.Output<TlsBundle> {
    return this.bundle(this.servers, id, "server");
  }

  /** The bundle a transit seal presents to its unsealer (secret: it holds the private key). */
  clientBundle(id: string): pulumi.Output<TlsBundle> {
    return this.bundle(this.clients, id, "client");
  }

  private bundle(from: Record<string, IssuedCert>, id: string, kind: string): pulumi.Output<TlsBundle> {
    const c = from[id];
    if (!c)
      throw new Error(
        `Pki has no ${kind} certificate "${id}" (it has: ${Object.keys(from).join(", ") || "none"}): add it to args.${kind}s`,
      );
    return pulumi.secret(
      pulumi.all([this.caCertPem, c.certPem, c.keyPem]).apply(([caCertPem, certPem, keyPem]) => ({ caCertPem, certPem, keyPem })),
    );
  }

  private key(name: string): tls.PrivateKey {
    // @pulumi/tls already marks privateKeyPem secret; the wrap in `issue` keeps it so under mocks too.
    return new tls.PrivateKey(name, { algorithm: "ECDSA", ecdsaCurve: "P256" }, { parent: this });
  }
}
