/**
 * `check` and `diff` of every provider, through the provider objects Pulumi serializes:
 * each bad input is refused with its property path and a message that says what to do;
 * unknown values (preview) never fail; `diff` says what replaces and what updates. No server
 * is contacted: the clusters named here are not registered, so the diffs' live look
 * (live-state.ts) cannot ask and the recorded state decides, as in a preview without access.
 */
import * as pulumi from "@pulumi/pulumi";
import { NodeAccess } from "../../providers/node-access";
import { UNKNOWN } from "../../providers/provider-inputs";
import { sealMigrationProvider, SealMigrationInputs } from "../../providers/seal-migration";
import { transitLinkProvider, TransitLinkInputs, TransitLinkOutputs } from "../../providers/transit-link";
import { unsealProvider, UnsealInputs } from "../../providers/unseal";
import { vaultInitProvider, VaultInitInputs, VaultInitOutputs } from "../../providers/vault-init";
import { auditDeviceProvider } from "../../providers/audit-device";
import { sealRolloutProvider } from "../../providers/seal-rollout";
import { transitKeyBackupProvider } from "../../providers/transit-key-backup";
import { transitKeyRestoreProvider } from "../../providers/transit-key-restore";
import { checkNew } from "./harness";

type Provider = pulumi.dynamic.ResourceProvider;

const CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const local = (cluster: string): NodeAccess => ({ kind: "local", cluster });
const k8s = (over: Record<string, unknown> = {}) => ({
  kind: "kubernetes",
  kubeconfig: "apiVersion: v1",
  namespace: "vault",
  statefulSet: "vault",
  replicas: 3,
  port: 8200,
  tls: { caPem: CA, serverName: "vault" },
  sealConfigMap: "vault-seal",
  sealTokenSecret: "vault-seal-token",
  ...over,
});
const transit = (over: Record<string, unknown> = {}) => ({
  type: "transit",
  address: "https://vault-unlock.vault-unlock.svc:8200",
  keyName: "autounseal",
  mountPath: "transit",
  ...over,
});

const init: VaultInitInputs = { version: 1, nodes: local("a"), kind: "shamir", shares: 3, threshold: 2 };
const unseal: UnsealInputs = { version: 1, nodes: local("a"), keys: ["k1", "k2"] };
const link: TransitLinkInputs = { version: 1, nodes: local("u"), adminToken: "root", mountPath: "transit", keyName: "autounseal" };
const migration = {
  version: 1,
  nodes: local("a"),
  from: { type: "shamir" },
  to: transit(),
  toToken: "t",
  keys: ["k1"],
  adminToken: "root",
} as SealMigrationInputs;

const providers: Record<string, [Provider, object]> = {
  VaultInit: [vaultInitProvider, init],
  Unseal: [unsealProvider, unseal],
  TransitLink: [transitLinkProvider, link],
  SealMigration: [sealMigrationProvider, migration],
  TransitKeyBackup: [
    transitKeyBackupProvider,
    { version: 1, nodes: local("u"), token: "root", mountPath: "transit", keyName: "autounseal" },
  ],
  TransitKeyRestore: [
    transitKeyRestoreProvider,
    { version: 1, nodes: local("h"), token: "root", mountPath: "transit", keyName: "autounseal", backup: "b", latestVersion: 1 },
  ],
  SealRollout: [
    sealRolloutProvider,
    {
      version: 1,
      nodes: local("a"),
      sealDigest: "d",
      adminToken: "root",
      supersededTokens: { unsealer: local("u"), adminToken: "r", accessors: [] },
    },
  ],
  AuditDevice: [auditDeviceProvider, { version: 1, nodes: local("a"), adminToken: "root" }],
};

async function failures(p: Provider, news: object, olds: object = {}): Promise<pulumi.dynamic.CheckFailure[]> {
  return (await p.check!(olds, news)).failures ?? [];
}

describe("check accepts good inputs", () => {
  test.each(Object.entries(providers))("%s", async (_name, [p, good]) => {
    expect(await failures(p, good)).toEqual([]);
  });

  test("a kubernetes node access passes", async () => {
    expect(await failures(vaultInitProvider, { ...init, nodes: k8s() })).toEqual([]);
    expect(
      await failures(vaultInitProvider, {
        ...init,
        nodes: k8s({ context: "prod", tls: { caPem: CA, serverName: "vault", certPem: "c", keyPem: "k" } }),
      }),
    ).toEqual([]);
  });
});

// [provider, bad inputs (merged over the good ones), property, part of the reason]
const bad: [string, Record<string, unknown>, string, string | RegExp][] = [
  ["VaultInit", { kind: "pgp" }, "kind", `must be "shamir" (unseal keys) or "recovery"`],
  ["VaultInit", { shares: 0 }, "shares", "must be a whole number from 1 up, got 0"],
  ["VaultInit", { shares: 2.5 }, "shares", "got 2.5"],
  ["VaultInit", { threshold: "2" }, "threshold", "must be a whole number from 1 up, got a string"],
  ["VaultInit", { threshold: 4 }, "threshold", "(4) is greater than shares (3): the keys could never unseal"],
  ["VaultInit", { threshold: 1 }, "threshold", "must be at least 2 when there are several shares"],
  ["VaultInit", { pgpKeys: ["a"] }, "pgpKeys", "needs one key per share: 3 shares but 1 PGP keys"],
  ["VaultInit", { pgpKeys: [] }, "pgpKeys", "must be a non-empty list of base64 PGP public keys"],
  ["VaultInit", { adopt: { keys: [], rootToken: "" } }, "adopt.keys", "must be a non-empty list of the keys returned by the earlier init"],
  ["VaultInit", { adopt: { keys: ["k"], rootToken: "" } }, "adopt.rootToken", "must be the root token returned by the earlier init"],
  ["VaultInit", { adopt: "yes" }, "adopt", "must be { keys, rootToken }"],
  ["VaultInit", { startTimeoutMs: 5 }, "startTimeoutMs", "must be a whole number from 1000 up, got 5"],
  ["VaultInit", { version: 2 }, "version", "written by a newer version (2) of the providers than this checkout knows (1)"],
  ["VaultInit", { nodes: undefined }, "nodes", `must describe the cluster's nodes`],
  ["VaultInit", { nodes: { kind: "ssh" } }, "nodes.kind", `must be "kubernetes" or "local", got "ssh"`],
  ["VaultInit", { nodes: { kind: "local", cluster: "" } }, "nodes.cluster", "must be a non-empty string, got an empty string"],
  // Kubernetes access: the adapter's own checks (adapters/kubernetes/access.ts), under the input's path.
  ["VaultInit", { nodes: k8s({ namespace: "Vault_NS" }) }, "nodes.namespace", `"Vault_NS" is not a namespace name`],
  ["VaultInit", { nodes: k8s({ kubeconfig: "" }) }, "nodes.kubeconfig", "is empty: give the kubeconfig file's content"],
  ["VaultInit", { nodes: k8s({ port: 70000 }) }, "nodes.port", "70000 is not a TCP port"],
  ["VaultInit", { nodes: k8s({ replicas: 0 }) }, "nodes.replicas", "0 is not a positive whole number of pods"],
  ["VaultInit", { nodes: k8s({ tls: undefined }) }, "nodes.tls.caPem", "is not a PEM certificate"],
  ["VaultInit", { nodes: k8s({ tls: { caPem: CA } }) }, "nodes.tls.serverName", "is empty"],
  ["VaultInit", { nodes: k8s({ tls: { caPem: CA, serverName: "v", certPem: "c" } }) }, "nodes.tls.certPem", "set both certPem and keyPem"],
  ["VaultInit", { nodes: k8s({ sealTokenSecret: "Seal Token" }) }, "nodes.sealTokenSecret", "is not a Kubernetes object name"],
  ["Unseal", { keys: [] }, "keys", "must be a non-empty list of unseal keys"],
  ["Unseal", { keys: ["k1", ""] }, "keys", "element 1 must be a non-empty string"],
  ["Unseal", { keys: "k1" }, "keys", "got a string"],
  ["TransitLink", { adminToken: "" }, "adminToken", "must be the unsealer's operator token (or root token)"],
  ["TransitLink", { mountPath: "//" }, "mountPath", "must name a mount, e.g. transit"],
  ["TransitLink", { keyName: "auto/unseal" }, "keyName", `"auto/unseal" may only hold letters, digits`],
  ["TransitLink", { tokenPeriod: "0h" }, "tokenPeriod", `"0h" is not a period: a token without one dies at its max TTL`],
  ["TransitLink", { tokenPeriod: "a month" }, "tokenPeriod", `"a month" is not a duration: use e.g. 720h`],
  ["TransitLink", { allowBackup: "yes" }, "allowBackup", "must be true or false, got a string"],
  ["TransitLink", { createKey: 1 }, "createKey", "must be true or false, got 1"],
  ["SealMigration", { toToken: undefined }, "toToken", "migrating to a transit seal needs the token of the new transit link"],
  [
    "SealMigration",
    { from: transit(), to: { type: "shamir" }, toToken: undefined },
    "fromToken",
    "migrating away from a transit seal needs its token",
  ],
  ["SealMigration", { to: { type: "shamir" } }, "to", "from Shamir to Shamir is not a migration"],
  [
    "SealMigration",
    { from: transit(), fromToken: "f", to: transit({ address: "https://helper:8200" }) },
    "to",
    "names the same key and mount as the old one: that is a re-pointing",
  ],
  [
    "SealMigration",
    { from: transit(), fromToken: "f", to: transit({ keyName: "other" }), flavour: "vault" },
    "toToken",
    "needs per-block env:// token references, an OpenBao feature",
  ],
  [
    "SealMigration",
    { to: transit({ address: "http://vault-unlock:8200" }) },
    "to.address",
    "is not https: the transit link carries the keys",
  ],
  ["SealMigration", { to: transit({ address: "vault-unlock:8200" }) }, "to.address", /not (a URL|https)/],
  ["SealMigration", { to: transit({ keyName: "" }) }, "to.keyName", "must be a non-empty string"],
  // The same key-name and mount rules as every other provider's (provider-inputs.ts).
  ["SealMigration", { to: transit({ keyName: "auto unseal" }) }, "to.keyName", `"auto unseal" may only hold letters, digits`],
  [
    "SealMigration",
    { from: transit(), fromToken: "f", to: transit({ keyName: "k2", mountPath: "/" }) },
    "to.mountPath",
    "must name a mount",
  ],
  ["SealMigration", { to: transit({ tlsClientCert: "/tls/c.crt" }) }, "to.tlsClientCert", "set both tlsClientCert and tlsClientKey"],
  ["SealMigration", { to: { type: "awskms" } }, "to.type", `must be "shamir" or "transit", got "awskms"`],
  ["SealMigration", { from: "shamir" }, "from", "must be a seal"],
  ["SealMigration", { flavour: "consul" }, "flavour", `must be "openbao" or "vault", got "consul"`],
  ["SealMigration", { keys: undefined }, "keys", "must be a non-empty list of unseal keys (from Shamir) or recovery keys"],
  ["SealMigration", { adminToken: undefined }, "adminToken", "the migration steps the active node down"],
  ["SealMigration", { timeoutMs: 10 }, "timeoutMs", "from 1000 up, got 10"],
  ["TransitKeyBackup", { keyName: "a/b" }, "keyName", "may only hold letters"],
  ["TransitKeyBackup", { mountPath: "/" }, "mountPath", "must name a mount"],
  ["TransitKeyBackup", { token: "" }, "token", "must be a token of the unsealer that may read the key and its backup"],
  // The same key-name and mount rules as TransitLink's and TransitKeyBackup's (provider-inputs.ts).
  ["TransitKeyRestore", { keyName: "a/b" }, "keyName", `"a/b" may only hold letters, digits, '.', '_' and '-'`],
  ["TransitKeyRestore", { mountPath: "/" }, "mountPath", "must name a mount, e.g. transit"],
  ["TransitKeyRestore", { token: undefined }, "token", "must be the helper's operator token (or root token) (got nothing)"],
  ["TransitKeyRestore", { failOnDrift: "no" }, "failOnDrift", "must be true or false, got a string"],
  ["TransitKeyRestore", { backup: "" }, "backup", "must be the primary stack's transitKeyBackup output"],
  ["TransitKeyRestore", { latestVersion: 0 }, "latestVersion", "from 1 up, got 0"],
  ["SealRollout", { adminToken: "" }, "adminToken", "the rollout steps the active node down"],
  ["SealRollout", { graceSeconds: 301 }, "graceSeconds", "got 301"],
  // The superseded seal tokens: the same rule for SealRollout and SealMigration (superseded-tokens.ts).
  ["SealRollout", { supersededTokens: "a1" }, "supersededTokens", "must be { unsealer, adminToken, accessors }"],
  [
    "SealRollout",
    { supersededTokens: { unsealer: local("u"), adminToken: "", accessors: ["a1"] } },
    "supersededTokens.adminToken",
    "revoking the superseded seal tokens needs it",
  ],
  [
    "SealMigration",
    { supersededTokens: { unsealer: local("u"), adminToken: "r", accessors: [""] } },
    "supersededTokens.accessors",
    "element 0 must be a non-empty string (a token accessor)",
  ],
  [
    "SealMigration",
    { supersededTokens: { adminToken: "r", accessors: [] } },
    "supersededTokens.unsealer",
    "must describe the cluster's nodes",
  ],
  ["TransitLink", { revokeTokenOnDelete: "yes" }, "revokeTokenOnDelete", "must be true or false, got a string"],
  ["AuditDevice", { adminToken: undefined }, "adminToken", "audit devices need sudo"],
  ["AuditDevice", { nodes: k8s({ replicas: 0 }) }, "nodes.replicas", "is not a positive whole number of pods"],
];

describe("check refuses bad inputs with the property name", () => {
  test.each(Object.entries(providers))("%s refuses a state written by a newer version of the providers", async (_name, [p, good]) => {
    const found = await failures(p, { ...good, version: 99 });
    expect(found).toEqual([{ property: "version", reason: expect.stringContaining("written by a newer version (99) of the providers") }]);
  });

  test.each(bad)("%s %j → %s", async (name, over, property, reason) => {
    const [p, good] = providers[name];
    const found = await failures(p, { ...good, ...over });
    expect(found.map((f) => f.property)).toContain(property);
    const f = found.find((x) => x.property === property)!;
    if (typeof reason === "string") expect(f.reason).toContain(reason);
    else expect(f.reason).toMatch(reason);
  });

  test("every problem is reported at once", async () => {
    const found = await failures(vaultInitProvider, { ...init, kind: "x", shares: 0, nodes: k8s({ port: 0, namespace: "" }) });
    expect(found.map((f) => f.property).sort()).toEqual(["kind", "nodes.namespace", "nodes.port", "shares"]);
  });

  test("a reason never shows a token or key, only its shape", async () => {
    const found = await failures(sealMigrationProvider, { ...migration, keys: ["s3cr3t-key", 7], adminToken: 12345 });
    expect(JSON.stringify(found)).not.toContain("s3cr3t");
  });
});

describe("VaultInit: what init fixed cannot change", () => {
  test.each<[string, Partial<VaultInitInputs>, string]>([
    ["shares", { shares: 5, threshold: 3 }, "cannot change after init: local/a was initialized with shares = 3"],
    ["threshold", { threshold: 3 }, "was initialized with threshold = 2. Changing it needs a rekey"],
    ["kind", { kind: "recovery" }, "was initialized with kind = shamir"],
    ["pgpKeys", { pgpKeys: ["a", "b", "c"] }, "was initialized with pgpKeys = none"],
  ])("%s", async (property, change, reason) => {
    const found = await failures(vaultInitProvider, { ...init, ...change }, init);
    expect(found.find((f) => f.property === property)?.reason).toContain(reason);
  });

  test("another cluster may have other settings: that is a new init", async () => {
    expect(await failures(vaultInitProvider, { ...init, nodes: local("b"), shares: 5, threshold: 3 }, init)).toEqual([]);
  });

  test("a new kubeconfig for the same cluster changes nothing that init fixed", async () => {
    const old = { ...init, nodes: k8s() as NodeAccess };
    expect(await failures(vaultInitProvider, { ...old, nodes: k8s({ kubeconfig: "rotated", replicas: 5 }) }, old)).toEqual([]);
  });

  test("update refuses the same changes, without touching any server", async () => {
    const olds: VaultInitOutputs = { ...init, keys: ["k"], rootToken: "r", adopted: false };
    await expect(vaultInitProvider.update!("id", olds, { ...init, threshold: 3 })).rejects.toThrow("threshold: cannot change after init");
  });
});

describe("unknown values (preview) never fail check", () => {
  test.each<[string, Record<string, unknown>]>([
    ["VaultInit", { nodes: UNKNOWN, shares: UNKNOWN, threshold: UNKNOWN }],
    ["VaultInit", { nodes: k8s({ kubeconfig: UNKNOWN, tls: UNKNOWN, namespace: UNKNOWN, replicas: UNKNOWN }), adopt: UNKNOWN }],
    ["VaultInit", { nodes: k8s({ tls: { caPem: UNKNOWN, serverName: "vault" } }) }],
    ["VaultInit", { adopt: { keys: UNKNOWN, rootToken: UNKNOWN } }],
    ["Unseal", { keys: UNKNOWN }],
    ["Unseal", { keys: ["k1", UNKNOWN] }],
    ["TransitLink", { adminToken: UNKNOWN, keyName: UNKNOWN, tokenPeriod: UNKNOWN }],
    ["SealMigration", { toToken: UNKNOWN }],
    ["SealMigration", { to: UNKNOWN, toToken: UNKNOWN }],
    ["SealMigration", { to: transit({ address: UNKNOWN }) }],
    ["SealMigration", { from: transit(), fromToken: UNKNOWN, to: transit({ keyName: "other" }), toToken: UNKNOWN, flavour: "vault" }],
  ])("%s %j", async (name, over) => {
    const [p, good] = providers[name];
    expect(await failures(p, { ...good, ...over })).toEqual([]);
  });

  test("the sentinel is Pulumi's", () => {
    expect(UNKNOWN).toBe(pulumi.runtime.unknownValue);
  });
});

describe("check makes defaults explicit, so the next run compares equal", () => {
  test("TransitKeyRestore", async () => {
    const [p, good] = providers.TransitKeyRestore;
    expect(await checkNew(p, good)).toMatchObject({ failOnDrift: true });
  });

  test("TransitLink", async () => {
    expect(await checkNew(transitLinkProvider, link)).toMatchObject({
      policyName: "autounseal-seal",
      tokenPeriod: "720h",
      allowBackup: false,
      createKey: true,
    });
  });
});

describe("diff: what replaces and what updates", () => {
  const initOuts: VaultInitOutputs = { ...init, keys: ["k"], rootToken: "r", adopted: false };
  const linkOuts: TransitLinkOutputs = {
    ...link,
    policyName: "autounseal-seal",
    tokenPeriod: "720h",
    allowBackup: false,
    createKey: true,
    token: "t",
    accessor: "a",
    ttlSeconds: 1,
    periodSeconds: 1,
    tokenHealthy: true,
    tokenVerdict: "healthy",
  };
  const linkNews: TransitLinkInputs = { ...link, policyName: "autounseal-seal", tokenPeriod: "720h", allowBackup: false, createKey: true };

  test.each<[string, Provider, object, object, { changes: boolean; replaces: string[] }]>([
    ["VaultInit unchanged", vaultInitProvider, initOuts, init, { changes: false, replaces: [] }],
    ["VaultInit another cluster", vaultInitProvider, initOuts, { ...init, nodes: local("b") }, { changes: true, replaces: ["nodes"] }],
    [
      "VaultInit new kubeconfig",
      vaultInitProvider,
      { ...initOuts, nodes: k8s() },
      { ...init, nodes: k8s({ kubeconfig: "new" }) },
      { changes: true, replaces: [] },
    ],
    [
      "VaultInit another namespace",
      vaultInitProvider,
      { ...initOuts, nodes: k8s() },
      { ...init, nodes: k8s({ namespace: "vault2" }) },
      { changes: true, replaces: ["nodes"] },
    ],
    [
      "VaultInit shares (refused by check/update, never a re-init)",
      vaultInitProvider,
      initOuts,
      { ...init, shares: 5 },
      { changes: true, replaces: [] },
    ],
    ["VaultInit cluster not known yet", vaultInitProvider, initOuts, { ...init, nodes: UNKNOWN }, { changes: true, replaces: [] }],
    [
      "VaultInit adopt added",
      vaultInitProvider,
      initOuts,
      { ...init, adopt: { keys: ["k"], rootToken: "r" } },
      { changes: true, replaces: [] },
    ],
    [
      "Unseal unchanged",
      unsealProvider,
      { ...unseal, unsealedNodes: ["a-0"], sealedNodes: [], sealType: "shamir" },
      unseal,
      { changes: false, replaces: [] },
    ],
    [
      "Unseal with nodes found sealed by read",
      unsealProvider,
      { ...unseal, unsealedNodes: [], sealedNodes: ["a-0"], sealType: "shamir" },
      unseal,
      { changes: true, replaces: [] },
    ],
    [
      "Unseal new keys",
      unsealProvider,
      { ...unseal, unsealedNodes: [], sealedNodes: [], sealType: "shamir" },
      { ...unseal, keys: ["k3"] },
      { changes: true, replaces: [] },
    ],
    ["TransitLink unchanged", transitLinkProvider, linkOuts, linkNews, { changes: false, replaces: [] }],
    ["TransitLink new period", transitLinkProvider, linkOuts, { ...linkNews, tokenPeriod: "24h" }, { changes: true, replaces: [] }],
    ["TransitLink new root token", transitLinkProvider, linkOuts, { ...linkNews, adminToken: "root2" }, { changes: true, replaces: [] }],
    [
      "TransitLink token found dead by read",
      transitLinkProvider,
      { ...linkOuts, tokenHealthy: false },
      linkNews,
      { changes: true, replaces: [] },
    ],
    ["TransitLink another key", transitLinkProvider, linkOuts, { ...linkNews, keyName: "other" }, { changes: true, replaces: ["keyName"] }],
    [
      "TransitLink another mount",
      transitLinkProvider,
      linkOuts,
      { ...linkNews, mountPath: "seal" },
      { changes: true, replaces: ["mountPath"] },
    ],
    [
      "TransitLink same mount spelled with a slash",
      transitLinkProvider,
      linkOuts,
      { ...linkNews, mountPath: "transit/" },
      { changes: true, replaces: [] },
    ],
    [
      "TransitLink another unsealer",
      transitLinkProvider,
      linkOuts,
      { ...linkNews, nodes: local("u2") },
      { changes: true, replaces: ["nodes"] },
    ],
    [
      "SealMigration new token",
      sealMigrationProvider,
      { ...migration, sealType: "transit", changed: true },
      { ...migration, toToken: "t2" },
      { changes: true, replaces: [] },
    ],
    [
      "SealMigration new target",
      sealMigrationProvider,
      { ...migration, sealType: "transit", changed: true },
      { ...migration, to: transit({ keyName: "k2" }) },
      { changes: true, replaces: [] },
    ],
    [
      "SealMigration unchanged",
      sealMigrationProvider,
      { ...migration, sealType: "transit", changed: true },
      migration,
      { changes: false, replaces: [] },
    ],
  ])("%s", async (_name, p, olds, news, expected) => {
    expect(await p.diff!("id", olds, news)).toMatchObject(expected);
  });
});
