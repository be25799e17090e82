/**
 * Mocks for running a whole stack program (index.ts) under `pulumi.runtime.setMocks`: the
 * stack name and config are set first, every registration is recorded (secrets unwrapped,
 * their paths kept), dynamic resources and StackReferences answer with plausible outputs,
 * and any provider function call fails the test. Each scenario gets fresh modules
 * (jest.resetModules), so the program runs again from its first line.
 */
import type * as PulumiModule from "@pulumi/pulumi";
import { FAKE_CERT, outputsFor as componentOutputs, unwrap, type Registered } from "../pulumi/harness";

export const CERT = FAKE_CERT;
/** A kubeconfig with the contexts the tests name (the stacks check them before any resource). */
export const KUBECONFIG = [
  "apiVersion: v1",
  "kind: Config",
  "# mock kubeconfig with credentials",
  "clusters:",
  ...["prod", "dc2", "backup-cluster"].flatMap((c) => [`- name: ${c}`, "  cluster:", `    server: https://${c}.example:6443`]),
  "users:",
  "- name: admin",
  "  user:",
  "    token: mock-credential",
  "contexts:",
  ...["prod", "dc2", "backup-cluster"].flatMap((c) => [`- name: ${c}`, "  context:", `    cluster: ${c}`, "    user: admin"]),
  "",
].join("\n");

/**
 * The outputs each stack marks secret, as its StackReference reports them to a reader (per
 * output, as the engine does): what the other stack may read of it. The stack tests assert
 * each stack's secret outputs are exactly these.
 */
export const SECRET_STACK_OUTPUTS: Record<string, string[]> = {
  primary: ["helperOperatorTls", "helperTls", "transitKeyBackup"],
  helper: ["emergencySealToken"],
};

/** What the dynamic resources and StackReferences answer, by resource name. */
function outputsFor(type: string, name: string, stackOutputs: Record<string, unknown>): Record<string, unknown> {
  if (type === "pulumi:pulumi:StackReference") {
    const secret = Object.values(SECRET_STACK_OUTPUTS).flat();
    return { outputs: stackOutputs, secretOutputNames: Object.keys(stackOutputs).filter((k) => secret.includes(k)) };
  }
  if (!type.startsWith("pulumi-nodejs:dynamic")) return componentOutputs(type, name);
  if (name.endsWith("-init")) return { keys: [`key1-${name}`, `key2-${name}`, `key3-${name}`], rootToken: `root-${name}`, adopted: false };
  if (name.endsWith("-transit") || name.endsWith("-emergency-link"))
    return {
      token: `token-${name}`,
      accessor: `accessor-${name}`,
      ttlSeconds: 2592000,
      periodSeconds: 2592000,
      tokenHealthy: true,
      tokenVerdict: "healthy",
      supersededAccessors: [`superseded-accessor-${name}`],
    };
  if (name.endsWith("-operator-token")) return { token: `operator-token-${name}`, accessor: `accessor-${name}`, ttlSeconds: 2764800 };
  if (name.endsWith("-unseal")) return { unsealedNodes: ["pod-0"], sealedNodes: [], sealType: "shamir" };
  if (name.endsWith("-seal-migration")) return { sealType: "transit", changed: true };
  if (name.endsWith("-transit-key-backup")) return { backup: `BACKUP-OF-THE-KEY`, keyVersion: 1, latestVersion: 1 };
  if (name.endsWith("-key-copy")) return { helperVersion: 1, inSync: true, verdict: "in sync" };
  if (name.endsWith("-seal-rollout")) return { rolledDigest: "digest" };
  if (name.endsWith("-audit")) return { outcome: "enabled" };
  if (name.endsWith("-recovery-keys")) return { encryptedKeys: [`SHARE-${name}`], pgpFingerprints: [`fp-${name}`] };
  throw new Error(`no mock outputs for dynamic resource ${name}`);
}

export interface StackRun {
  registered: Registered[];
  /** Per resource name: the names of the resources its registration waits for (dependsOn and inputs, as the SDK sends them to the engine). */
  dependencies: Map<string, string[]>;
  /** The program's exports, or the error it threw. */
  outputs?: Record<string, unknown>;
  error?: unknown;
  pulumi: typeof PulumiModule;
}

/** Config values as Pulumi stores them: objects, numbers and booleans as JSON text. */
const asConfig = (config: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(config).map(([k, v]) => [`vault-mutual-unseal:${k}`, typeof v === "string" ? v : JSON.stringify(v)]));

export async function runStack(
  stack: string,
  config: Record<string, unknown>,
  stackOutputs: Record<string, unknown> = {},
): Promise<StackRun> {
  jest.resetModules();
  const pulumi = (await import("@pulumi/pulumi")) as typeof PulumiModule;
  const registered: Registered[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        const secretPaths: string[] = [];
        const inputs = unwrap(args.inputs, "", secretPaths) as Record<string, unknown>;
        registered.push({ type: args.type, name: args.name, custom: args.custom ?? true, inputs, secretPaths });
        return { id: `${args.name}-id`, state: { ...inputs, ...outputsFor(args.type, args.name, stackOutputs) } };
      },
      call(args) {
        throw new Error(`unexpected provider function call ${args.token}: the stacks must not read live state`);
      },
    },
    "vault-mutual-unseal",
    stack,
    false,
  );
  // The mocks' newResource is not told the dependencies: read them off the requests the SDK sends.
  const dependencies = new Map<string, string[]>();
  type Request = { getName(): string; getDependenciesList(): string[] };
  const settingsModule = (await import("@pulumi/pulumi/runtime/settings")) as unknown as {
    getMonitor(): { registerResource(req: Request, cb: unknown): unknown };
  };
  const monitor = settingsModule.getMonitor();
  const registerResource = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, cb) => {
    dependencies.set(
      req.getName(),
      req.getDependenciesList().map((urn) => urn.split("::").pop()!),
    );
    return registerResource(req, cb);
  };
  const secretKeys = "kubeconfig" in config ? ["vault-mutual-unseal:kubeconfig"] : [];
  pulumi.runtime.setAllConfig(asConfig(config), secretKeys);
  const run: StackRun = { registered, dependencies, pulumi };
  try {
    run.outputs = (await import("../../index")) as unknown as Record<string, unknown>;
  } catch (e) {
    run.error = e;
  }
  // Registrations wait for their dependencies (and dynamic providers are serialized first):
  // settle until the set of registrations stops growing.
  const settings = (await import("@pulumi/pulumi/runtime/settings")) as unknown as { waitForRPCs(): Promise<void> };
  for (let stable = 0, last = -1; stable < 3;) {
    await settings.waitForRPCs();
    await new Promise((r) => setTimeout(r, 50));
    stable = registered.length === last ? stable + 1 : 0;
    last = registered.length;
  }
  return run;
}

/** The resolved value of an output and whether it is secret. */
export async function resolved<T>(o: unknown): Promise<{ value: T; secret: boolean }> {
  const out = o as PulumiModule.Output<T>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const secret = await (out as any).isSecret;
  const value = await new Promise<T>((resolve) => out.apply((v) => resolve(v)));
  return { value, secret };
}

/** The helper stack's config and the primary outputs it reads, shared by the helper stack tests. */
export const HELPER_CONFIG = {
  flavour: "vault",
  storage: "raft",
  context: "backup-cluster",
  primaryStack: "acme/vault-mutual-unseal/primary",
  kubeconfig: KUBECONFIG,
  expose: { type: "LoadBalancer", sourceRanges: ["198.51.100.0/24"] },
};
export const PRIMARY_OUTPUTS = {
  helperTls: { caCertPem: CERT("primary-ca"), certPem: CERT("helper"), keyPem: "HELPER-SERVER-KEY" },
  helperOperatorTls: { caCertPem: CERT("primary-ca"), certPem: CERT("helper-operator"), keyPem: "HELPER-OPERATOR-KEY" },
  helperServerName: "vault-helper.example.internal",
  helperNamespace: "vault-helper",
  transitKeyBackup: "BACKUP-OF-THE-KEY",
  transitKeyLatestVersion: 3,
  transitMount: "transit/",
  transitKeyName: "autounseal",
};
