/**
 * The provider objects as Pulumi stores them: serialized with pulumi.runtime.serializeFunction
 * (what pulumi.dynamic.Resource does), they are a few lines that capture no state and no
 * secret. Then one is run the way the `pulumi-resource-pulumi-nodejs` host runs it: a plain
 * `node` process (no TypeScript loader), the text loaded with require-from-string, the
 * working directory the program's folder; there it validates, loads the project's code on
 * demand and initializes a real server. No Pulumi engine is needed for any of this.
 */
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { LocalCluster } from "../../adapters/local/local-cluster";
import { unsealCluster } from "../../core/steps/unseal";
import { auditDeviceProvider } from "../../providers/audit-device";
import { sealMigrationProvider } from "../../providers/seal-migration";
import { sealRolloutProvider } from "../../providers/seal-rollout";
import { transitKeyBackupProvider } from "../../providers/transit-key-backup";
import { transitKeyRestoreProvider } from "../../providers/transit-key-restore";
import { transitLinkProvider } from "../../providers/transit-link";
import { unsealProvider } from "../../providers/unseal";
import { vaultInitProvider } from "../../providers/vault-init";
import { Lab, newLab } from "../support/servers";

jest.setTimeout(120_000);

const ROOT = path.resolve(__dirname, "../..");
const PACKAGE = (JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { name: string }).name;

const providers: [string, pulumi.dynamic.ResourceProvider][] = [
  ["VaultInit", vaultInitProvider],
  ["Unseal", unsealProvider],
  ["TransitLink", transitLinkProvider],
  ["SealMigration", sealMigrationProvider],
  ["TransitKeyBackup", transitKeyBackupProvider],
  ["TransitKeyRestore", transitKeyRestoreProvider],
  ["SealRollout", sealRolloutProvider],
  ["AuditDevice", auditDeviceProvider],
];

const serialize = async (p: pulumi.dynamic.ResourceProvider) => pulumi.runtime.serializeFunction(() => p, { allowSecrets: true });

test.each(providers)("%s serializes to a few lines that capture no state and no secret", async (_name, p) => {
  const sf = await serialize(p);
  expect(sf.containsSecrets).toBe(false);
  expect(sf.text.length).toBeLessThan(6000);
  expect(sf.text).toContain("projectRequire");
  // The name it resolves the installed package by is package.json's.
  expect(sf.text).toContain(`const name = ${JSON.stringify(PACKAGE)};`);
  // Neither the local-cluster registry, nor the core, nor any module's state is in it.
  for (const absent of ["localClusters", "LocalCluster", "initCluster", "VaultClient", "migrateSeal", "__pulumi"])
    expect(sf.text).not.toContain(absent);
  expect(sf.text.match(/^function /gm)!.length).toBeLessThanOrEqual(12);
});

/** A stand-in for the dynamic-provider host: loads the serialized text and runs check, then (unless CHECK_ONLY) create. */
const HOST = `
const fs = require("fs");
const path = require("path");
const root = process.env.VMU_PROJECT_ROOT || process.cwd();
const load = (m) => require(require.resolve(m, { paths: [path.join(${JSON.stringify(ROOT)}, "node_modules/@pulumi/pulumi")] }));
const requireFromString = load("require-from-string");
const tsLoaded = () => Boolean(require("module")._extensions[".ts"]);
(async () => {
  const out = {};
  const provider = requireFromString(fs.readFileSync(process.argv[2], "utf8")).handler();
  out.tsBefore = tsLoaded();
  const good = JSON.parse(process.env.INPUTS);
  out.failures = (await provider.check({}, { ...good, shares: 0 })).failures;
  out.tsAfter = tsLoaded();
  if (process.env.CHECK_ONLY) return console.log(JSON.stringify(out));
  // What a test registers in-process: a one-node "local" cluster reached by address.
  const { registerLocalCluster } = require(path.join(root, "providers/node-access"));
  const { VaultClient } = require(path.join(root, "core/vault-client"));
  const t = JSON.parse(process.env.TARGET);
  let record;
  registerLocalCluster(good.nodes.cluster, {
    name: good.nodes.cluster,
    nodeIds: () => ["n0"],
    client: (_id, token) => new VaultClient({ address: t.address, token, tls: { caFile: t.caFile, serverName: t.serverName } }),
    appliedSeal: async () => ({ stanzas: [] }),
    applySeal: async () => { throw new Error("not here"); },
    runningSealDigest: async () => undefined,
    restart: async () => { throw new Error("not here"); },
    saveInitRecord: async (r) => { record = r; },
    loadInitRecord: async () => record,
    forgetInitRecord: async () => { record = undefined; },
    initRecordLocation: () => "this process's memory",
  });
  const created = await provider.create((await provider.check({}, good)).inputs);
  out.created = { id: created.id, keys: created.outs.keys, rootToken: created.outs.rootToken };
  console.log(JSON.stringify(out));
})().catch((e) => {
  console.log(JSON.stringify({ error: e.message }));
});
`;

function runHost(dir: string, cwd: string, env: Record<string, string>, provider = "provider.js"): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    // A clean environment, as the engine gives the plugin: no loader, no project override.
    execFile(
      process.execPath,
      [path.join(dir, "host.js"), path.join(dir, provider)],
      { cwd, env: { PATH: process.env.PATH ?? "", HOME: os.homedir(), ...env }, timeout: 90_000 },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`host failed: ${err.message}\n${stderr}`));
        const last = stdout.trim().split("\n").pop() ?? "";
        try {
          resolve(JSON.parse(last));
        } catch {
          reject(new Error(`host printed no result:\n${stdout}\n${stderr}`));
        }
      },
    );
  });
}

describe("in a stand-in for the dynamic-provider host", () => {
  let lab: Lab;
  let c: LocalCluster;
  let dir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    lab = await newLab("prov-host");
    c = await lab.cluster({ name: "host-init", size: 1, seal: { stanzas: [] } });
    await c.startAll();
    dir = path.join(lab.dir, "host");
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, "provider.js"), (await serialize(vaultInitProvider)).text);
    fs.writeFileSync(path.join(dir, "host.js"), HOST);
    // The `__provider` text states written before the package resolution (commit d7bf7a4) hold: it loads providers/ from the working directory.
    fs.copyFileSync(path.join(ROOT, "test/package/fixtures/vault-init-provider-0.1.0.serialized.txt"), path.join(dir, "old-provider.js"));
    env = {
      INPUTS: JSON.stringify({ version: 1, nodes: { kind: "local", cluster: "remote" }, kind: "shamir", shares: 3, threshold: 2 }),
      TARGET: JSON.stringify({ address: c.address(c.nodeIds()[0]), caFile: c.caFile, serverName: c.name }),
    };
  });
  afterAll(() => lab?.destroy());

  test("the serialized VaultInit validates, loads the project's TypeScript on demand and initializes a real server", async () => {
    const out = await runHost(dir, ROOT, env);
    expect(out.error).toBeUndefined();
    expect(out).toMatchObject({
      tsBefore: false,
      tsAfter: true,
      failures: [{ property: "shares", reason: expect.stringContaining("got 0") }],
    });
    const created = out.created as { id: string; keys: string[]; rootToken: string };
    expect(created.id).toBe("vault-init:local/remote");
    // The keys it returned are this server's.
    await unsealCluster(c, created.keys.slice(0, 2));
    expect((await c.client(c.nodeIds()[0]).sealStatus()).sealed).toBe(false);
  });

  test("in a folder where the package is not installed, it says where it looked and what to install", async () => {
    const out = await runHost(dir, os.tmpdir(), env);
    expect(out.error).toContain(`cannot load ${PACKAGE}/providers/vault-init from ${fs.realpathSync(os.tmpdir())}`);
    expect(out.error).toContain(`is not installed in the Pulumi program's folder`);
    expect(out.error).toContain(`run npm install ${PACKAGE} in the program's folder`);
  });

  test("a VaultInit stored by the previous trampoline still loads the project's code and checks, run from the checkout", async () => {
    const out = await runHost(dir, ROOT, { ...env, CHECK_ONLY: "1" }, "old-provider.js");
    expect(out.error).toBeUndefined();
    expect(out).toMatchObject({ tsAfter: true, failures: [{ property: "shares", reason: expect.stringContaining("got 0") }] });
  });

  test("outside the checkout with VMU_PROJECT_ROOT pointing at it, it loads the project's code from there", async () => {
    const out = await runHost(dir, os.tmpdir(), { ...env, VMU_PROJECT_ROOT: ROOT, CHECK_ONLY: "1" });
    expect(out.error).toBeUndefined();
    expect(out).toMatchObject({ tsAfter: true, failures: [{ property: "shares", reason: expect.stringContaining("got 0") }] });
  });
});
