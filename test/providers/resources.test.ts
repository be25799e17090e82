/**
 * The resource classes under Pulumi mocks: each registers its own type token with the
 * serialized provider and the `version` input, and asks the engine to keep every key,
 * token and credential secret in the state (`additionalSecretOutputs`, read off the
 * registration request, which the mocks themselves ignore).
 */
import * as pulumi from "@pulumi/pulumi";
import { installMocks, registered, settle } from "../pulumi/harness";

type Providers = {
  init: typeof import("../../providers/vault-init");
  unseal: typeof import("../../providers/unseal");
  link: typeof import("../../providers/transit-link");
  migration: typeof import("../../providers/seal-migration");
  backup: typeof import("../../providers/transit-key-backup");
  restore: typeof import("../../providers/transit-key-restore");
  rollout: typeof import("../../providers/seal-rollout");
  audit: typeof import("../../providers/audit-device");
  operator: typeof import("../../providers/operator-token");
};
let m: Providers;
const secretOutputs = new Map<string, string[]>();

interface RegisterRequest {
  getName(): string;
  getAdditionalsecretoutputsList(): string[];
}

beforeAll(async () => {
  await installMocks();
  const settings = (await import("@pulumi/pulumi/runtime/settings")) as unknown as {
    getMonitor(): { registerResource(req: RegisterRequest, cb: unknown): unknown };
  };
  const monitor = settings.getMonitor();
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, cb) => {
    secretOutputs.set(req.getName(), req.getAdditionalsecretoutputsList());
    return register(req, cb);
  };
  m = {
    init: await import("../../providers/vault-init"),
    unseal: await import("../../providers/unseal"),
    link: await import("../../providers/transit-link"),
    migration: await import("../../providers/seal-migration"),
    backup: await import("../../providers/transit-key-backup"),
    restore: await import("../../providers/transit-key-restore"),
    rollout: await import("../../providers/seal-rollout"),
    audit: await import("../../providers/audit-device"),
    operator: await import("../../providers/operator-token"),
  };
});

const nodes = (statefulSet: string) => ({
  kind: "kubernetes" as const,
  kubeconfig: pulumi.secret("apiVersion: v1"),
  namespace: statefulSet,
  statefulSet,
  replicas: 3,
  port: 8200,
  tls: { caPem: "ca", serverName: statefulSet },
  sealConfigMap: `${statefulSet}-seal`,
  sealTokenSecret: `${statefulSet}-seal-token`,
});

test("each resource registers its type, version and provider, and keeps its secrets secret", async () => {
  const init = new m.init.VaultInit("vault-unlock-init", { nodes: nodes("vault-unlock"), kind: "shamir", shares: 3, threshold: 2 });
  new m.unseal.Unseal("vault-unlock-unseal", { nodes: nodes("vault-unlock"), keys: init.keys });
  const link = new m.link.TransitLink("seal-of-vault", {
    nodes: nodes("vault-unlock"),
    adminToken: init.rootToken,
    mountPath: "transit",
    keyName: "autounseal",
  });
  new m.migration.SealMigration("vault-unlock-migration", {
    nodes: nodes("vault-unlock"),
    from: { type: "shamir" },
    to: { type: "transit", address: "https://vault-active.vault.svc:8200", keyName: "k", mountPath: "transit" },
    toToken: link.token,
    keys: init.keys,
    adminToken: init.rootToken,
  });
  const backup = new m.backup.TransitKeyBackup("key-backup", {
    nodes: nodes("vault-unlock"),
    token: init.rootToken,
    mountPath: "transit",
    keyName: "autounseal",
  });
  new m.restore.TransitKeyRestore("key-restore", {
    nodes: nodes("helper"),
    token: "h",
    mountPath: "transit",
    keyName: "autounseal",
    backup: backup.backup,
    latestVersion: backup.latestVersion,
  });
  new m.rollout.SealRollout("vault-rollout", { nodes: nodes("vault"), sealDigest: "d", adminToken: "r" });
  new m.audit.AuditDevice("vault-audit", { nodes: nodes("vault"), adminToken: "r" });
  new m.operator.OperatorToken("vault-operator-token", { nodes: nodes("vault"), rootToken: init.rootToken, flavour: "openbao", seals: [] });
  await settle();

  const expected: Record<string, [string, string[]]> = {
    "vault-unlock-init": ["VaultInit", ["keys", "rootToken", "adopt", "nodes"]],
    "vault-unlock-unseal": ["Unseal", ["keys", "nodes"]],
    "seal-of-vault": ["TransitLink", ["token", "adminToken", "nodes"]],
    "vault-unlock-migration": ["SealMigration", ["keys", "adminToken", "toToken", "fromToken", "nodes", "supersededTokens"]],
    "key-backup": ["TransitKeyBackup", ["backup", "token", "nodes"]],
    "key-restore": ["TransitKeyRestore", ["backup", "token", "nodes"]],
    // supersededTokens carries the unsealer's operator token; the accessors it revokes (revokedAccessors) are plain.
    "vault-rollout": ["SealRollout", ["adminToken", "nodes", "supersededTokens"]],
    "vault-audit": ["AuditDevice", ["adminToken", "nodes"]],
    "vault-operator-token": ["OperatorToken", ["token", "rootToken", "nodes"]],
  };
  for (const [name, [type, secrets]] of Object.entries(expected)) {
    const r = registered.find((x) => x.name === name)!;
    expect(r.type).toBe(`pulumi-nodejs:dynamic/vault-mutual-unseal:${type}`);
    expect(r.inputs.version).toBe(1);
    expect(r.inputs.__provider).toContain("projectRequire");
    expect([...(secretOutputs.get(name) ?? [])].sort()).toEqual([...secrets].sort());
  }
  // A secret kubeconfig makes the whole access a secret on its way in.
  expect(registered.find((x) => x.name === "vault-unlock-init")!.secretPaths).toContain("nodes");
});

test("a key, token or backup given as a plain value is still a secret input, so the state never keeps it in clear text", async () => {
  const plainNodes = { ...nodes("vault"), kubeconfig: "apiVersion: v1" };
  new m.rollout.SealRollout("plain-rollout", { nodes: plainNodes, sealDigest: "d", adminToken: "r" });
  new m.restore.TransitKeyRestore("plain-restore", {
    nodes: plainNodes,
    token: "h",
    mountPath: "transit",
    keyName: "autounseal",
    backup: "BACKUP",
    latestVersion: 1,
  });
  new m.unseal.Unseal("plain-unseal", { nodes: plainNodes, keys: ["k1", "k2"] });
  await settle();
  const secretInputs = (name: string) => [...registered.find((x) => x.name === name)!.secretPaths].sort();
  expect(secretInputs("plain-rollout")).toEqual(["adminToken", "nodes"]);
  expect(secretInputs("plain-restore")).toEqual(["backup", "nodes", "token"]);
  expect(secretInputs("plain-unseal")).toEqual(["keys", "nodes"]);
});
