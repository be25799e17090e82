/**
 * Pulumi mock harness: records every resource a program registers, answers with plausible
 * outputs for the tls and random providers, refuses any provider function call, and checks
 * every Kubernetes object against the Kubernetes schema (kubernetes-models v4).
 *
 * `installMocks()` must run before a component module is imported (`await import(...)`).
 */
import * as pulumi from "@pulumi/pulumi";

export interface Registered {
  type: string;
  name: string;
  custom: boolean;
  /** Inputs with secrets unwrapped. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  inputs: any;
  /** Paths of the inputs that arrived as secrets. */
  secretPaths: string[];
}

/** How the mock monitor hands over a secret input: an object with Pulumi's signature key. */
const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

/** Resolves secret wrappers in mock inputs, recording the paths that were secret. */
export function unwrap(v: unknown, path: string, secrets: string[]): unknown {
  if (Array.isArray(v)) return v.map((x, i) => unwrap(x, `${path}[${i}]`, secrets));
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    if (o[SIG_KEY] === SECRET_SIG) {
      secrets.push(path);
      return unwrap(o.value, path, []);
    }
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, unwrap(x, path ? `${path}.${k}` : k, secrets)]));
  }
  return v;
}

export const registered: Registered[] = [];

/** Distinctive fake PEMs, so a test can find where key material ended up. */
export const FAKE_KEY = (name: string) => `-----BEGIN EC PRIVATE KEY-----\nmock-${name}\n-----END EC PRIVATE KEY-----\n`;
export const FAKE_CERT = (name: string) => `-----BEGIN CERTIFICATE-----\nmock-${name}\n-----END CERTIFICATE-----\n`;
export const FAKE_GOSSIP_KEY = Buffer.alloc(32, 7).toString("base64");

/** What the mocked @pulumi/tls and @pulumi/random resources answer (shared with the stack mocks). */
export function outputsFor(type: string, name: string): Record<string, unknown> {
  switch (type) {
    case "tls:index/privateKey:PrivateKey":
      return { privateKeyPem: FAKE_KEY(name), publicKeyPem: `public-${name}` };
    case "tls:index/selfSignedCert:SelfSignedCert":
    case "tls:index/locallySignedCert:LocallySignedCert":
      return { certPem: FAKE_CERT(name) };
    case "tls:index/certRequest:CertRequest":
      return { certRequestPem: `csr-${name}` };
    case "random:index/randomBytes:RandomBytes":
      return { base64: FAKE_GOSSIP_KEY, hex: Buffer.alloc(32, 7).toString("hex") };
    default:
      return {};
  }
}

export async function installMocks(): Promise<void> {
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        const secretPaths: string[] = [];
        const inputs = unwrap(args.inputs, "", secretPaths) as Record<string, unknown>;
        registered.push({ type: args.type, name: args.name, custom: args.custom ?? true, inputs, secretPaths });
        return { id: `${args.name}-id`, state: { ...inputs, ...outputsFor(args.type, args.name) } };
      },
      call(args) {
        throw new Error(`unexpected provider function call ${args.token}: components must not read live state`);
      },
    },
    "vault-mutual-unseal",
    "test",
    false,
  );
}

/** Waits until every registration started so far has been answered. */
export async function settle(): Promise<void> {
  const settings = (await import("@pulumi/pulumi/runtime/settings")) as unknown as { waitForRPCs(): Promise<void> };
  await settings.waitForRPCs();
}

export function value<T>(o: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => o.apply((v) => resolve(v)));
}

/** Kubernetes objects only, as `Kind name`. */
export function k8sObjects(rs: Registered[] = registered): Registered[] {
  return rs.filter((r) => r.type.startsWith("kubernetes:"));
}

export function kindName(r: Registered): string {
  return `${r.inputs.kind} ${r.inputs.metadata?.name}`;
}

export function one(kind: string, name: string, rs: Registered[] = registered): Registered {
  const found = k8sObjects(rs).filter((r) => r.inputs.kind === kind && r.inputs.metadata?.name === name);
  if (found.length !== 1)
    throw new Error(`expected one ${kind} ${name}, found ${found.length} among: ${k8sObjects(rs).map(kindName).join(", ")}`);
  return found[0];
}

/**
 * Validates a registered Kubernetes object with the schema of its kind. Throws the
 * validator's message, naming the object.
 */
export function validateK8s(r: Registered): void {
  const m = /^kubernetes:([^/]+)\/([^:]+):(.+)$/.exec(r.type);
  if (!m) throw new Error(`${r.type} is not a Kubernetes resource type`);
  const [, group, version, kind] = m;
  const modulePath = group === "core" ? `kubernetes-models/${version}` : `kubernetes-models/${group}/${version}`;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const models = require(modulePath) as Record<string, new (data: unknown) => { validate(): void }>;
  const Model = models[kind];
  if (!Model) throw new Error(`kubernetes-models has no ${kind} in ${modulePath}`);
  try {
    new Model(r.inputs).validate();
  } catch (e) {
    throw new Error(`${kindName(r)} does not match the Kubernetes schema: ${(e as Error).message}`, { cause: e });
  }
}

/** Every string anywhere in a value, with its path (for "where did this end up" checks). */
export function strings(v: unknown, path = ""): { path: string; value: string }[] {
  if (typeof v === "string") return [{ path, value: v }];
  if (Array.isArray(v)) return v.flatMap((x, i) => strings(x, `${path}[${i}]`));
  if (v && typeof v === "object") return Object.entries(v).flatMap(([k, x]) => strings(x, path ? `${path}.${k}` : k));
  return [];
}

/** Settings that would switch TLS verification off, in any spelling a manifest or config might use. */
export const TLS_OFF = [
  /tls_skip_verify/i,
  /skip[-_]?verify/i,
  /insecure/i,
  /tls_disable/i,
  /"verify_(incoming|outgoing|server_hostname)":\s*false/,
  /proxy-ssl-verify"?:\s*"?off/,
];
