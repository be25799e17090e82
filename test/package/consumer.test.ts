/**
 * The package as another Pulumi program uses it: `npm run build:lib` and `npm pack`, then a
 * program in a fresh folder outside the project installs the tarball and declares a
 * TransitUnsealLink (plain JavaScript, no TypeScript loader, Pulumi's mocks). The
 * serialized provider it registers is then run as the `pulumi-resource-pulumi-nodejs` host
 * runs it: a plain `node` process in the program's folder, the text loaded with
 * require-from-string (`__filename` ""), no ts-node. Its `check` must load the compiled
 * provider from the program's node_modules/vault-mutual-unseal and answer as the provider
 * does.
 *
 * The install is npm's layout without the network: the tarball unpacked into
 * node_modules/vault-mutual-unseal and each dependency it declares linked from this
 * project's node_modules (`npm install --offline` cannot resolve version ranges from a cache
 * that `npm ci` filled). A module the compiled code requires without declaring it is
 * therefore not found, as it would not be for a real consumer.
 */
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

jest.setTimeout(180_000);

const ROOT = path.resolve(__dirname, "../..");
const PACKAGE = (JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { name: string }).name;

/** A clean environment, as the engine gives its plugins: no loader, no project override. */
const CLEAN_ENV = { PATH: process.env.PATH ?? "", HOME: os.homedir() };

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, env, timeout: 150_000, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${cmd} ${args.join(" ")} failed: ${err.message}\n${stdout}\n${stderr}`));
      resolve(stdout);
    });
  });
}

/** The last line a fixture script prints: its JSON result. */
async function runNode(script: string, cwd: string): Promise<Record<string, unknown>> {
  const out = await run(process.execPath, [script], cwd, CLEAN_ENV);
  return JSON.parse(out.trim().split("\n").pop() ?? "") as Record<string, unknown>;
}

const KUBECONFIG = [
  "apiVersion: v1",
  "kind: Config",
  "clusters: [{ name: c, cluster: { server: 'https://127.0.0.1:6443' } }]",
  "users: [{ name: u, user: { token: t } }]",
  "contexts: [{ name: x, context: { cluster: c, user: u } }]",
  "current-context: x",
].join("\n");

/** The consumer's program: Pulumi's mocks answering every registration with its inputs, recording it in `registered`. */
const MOCKS = `  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        registered.push({ type: args.type, name: args.name, inputs: args.inputs });
        return { id: args.name + "-id", state: args.inputs };
      },
      call: (args) => {
        throw new Error("unmocked call " + args.token);
      },
    },
    "consumer",
    "dev",
    false,
  );
`;

/** The dynamic-provider host's loading: require-from-string as Pulumi's host has it; the engine hands the host plain values (the mocks' secret wrappers come off). */
const HOST_LOADER = `const requireFromString = require(require.resolve("require-from-string", { paths: [path.dirname(require.resolve("@pulumi/pulumi"))] }));
const SIG = "4dabf18193072939515e22adb298388d";
const plain = (v) =>
  Array.isArray(v) ? v.map(plain)
  : v && typeof v === "object" ? (v[SIG] ? plain(v.value) : Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)])))
  : v;
`;

/** The consumer's program: declares one TransitUnsealLink under Pulumi's mocks and writes what it registered. */
const PROGRAM = `
const fs = require("fs");
const pulumi = require("@pulumi/pulumi");
const registered = [];
const KUBECONFIG = ${JSON.stringify(KUBECONFIG)};
(async () => {
${MOCKS}  const vmu = require(${JSON.stringify(PACKAGE)});
  const link = new vmu.TransitUnsealLink("unlock-seals-vault", {
    flavour: "openbao",
    unsealer: vmu.clusterAccess({
      kubeconfig: KUBECONFIG,
      namespace: "vault-unlock",
      clusterName: "vault-unlock",
      replicas: 3,
      caPem: "-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n",
      serverName: "vault-unlock-active.vault-unlock.svc",
    }),
    unsealerAdminToken: pulumi.secret("operator-token"),
    unsealerAddress: "https://vault-unlock.vault-unlock.svc:8200",
    sealedNamespace: "vault",
    sealedClusterName: "vault",
    transitTls: pulumi.secret({ caCertPem: "CA", certPem: "CERT", keyPem: "KEY" }),
    bornSealed: true,
  });
  await new Promise((resolve) => link.urn.apply(resolve));
  await new Promise((resolve) => setTimeout(resolve, 500));
  const dynamic = registered.filter((r) => r.inputs.__provider !== undefined);
  fs.writeFileSync("registered.json", JSON.stringify(dynamic));
  console.log(JSON.stringify({ types: registered.map((r) => r.type), dynamic: dynamic.map((r) => r.type) }));
})().catch((e) => {
  console.log(JSON.stringify({ error: String(e && e.stack ? e.stack : e) }));
});
`;

/** The dynamic-provider host's way: require-from-string on the stored text, then `check` with a bad and a good input. */
const HOST = `
const fs = require("fs");
const path = require("path");
${HOST_LOADER}(async () => {
  const link = JSON.parse(fs.readFileSync("registered.json", "utf8")).find((r) => r.type === "pulumi-nodejs:dynamic/vault-mutual-unseal:TransitLink");
  const { __provider, ...inputs } = plain(link.inputs);
  const provider = requireFromString(__provider).handler();
  const bad = await provider.check({}, { ...inputs, keyName: "" });
  const good = await provider.check({}, inputs);
  console.log(JSON.stringify({
    failures: bad.failures,
    goodFailures: good.failures ?? [],
    loaded: Object.keys(require.cache),
    tsRegistered: Boolean(require("module")._extensions[".ts"]),
  }));
})().catch((e) => {
  console.log(JSON.stringify({ error: String(e && e.stack ? e.stack : e) }));
});
`;

/** The consumer's program with the whole pair: MutualUnsealPair from the parsed config, under Pulumi's mocks. */
const PAIR_PROGRAM = `
const fs = require("fs");
const pulumi = require("@pulumi/pulumi");
const registered = [];
(async () => {
${MOCKS}  const vmu = require(${JSON.stringify(PACKAGE)});
  const config = vmu.parsePrimaryConfig({
    flavour: "openbao",
    storage: "raft",
    vault: { context: "x", namespace: "vault" },
    vaultUnlock: { context: "x", namespace: "vault-unlock" },
  });
  const pair = new vmu.MutualUnsealPair("pair", { config, kubeconfig: pulumi.secret(${JSON.stringify(KUBECONFIG)}) });
  await new Promise((resolve) => pair.urn.apply(resolve));
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const dynamic = registered.filter((r) => r.inputs.__provider !== undefined);
  fs.writeFileSync("pair-registered.json", JSON.stringify(dynamic));
  console.log(JSON.stringify({ dynamic: [...new Set(dynamic.map((r) => r.type))].sort() }));
})().catch((e) => {
  console.log(JSON.stringify({ error: String(e && e.stack ? e.stack : e) }));
});
`;

/** Each of the pair's stored providers, loaded as the host loads it, asked to check its recorded inputs. */
const PAIR_HOST = `
const fs = require("fs");
const path = require("path");
${HOST_LOADER}(async () => {
  const answered = {};
  for (const r of JSON.parse(fs.readFileSync("pair-registered.json", "utf8"))) {
    const { __provider, ...inputs } = plain(r.inputs);
    const result = await requireFromString(__provider).handler().check({}, inputs);
    answered[r.type] = Array.isArray(result.failures ?? []);
  }
  console.log(JSON.stringify({ answered, loaded: Object.keys(require.cache) }));
})().catch((e) => {
  console.log(JSON.stringify({ error: String(e && e.stack ? e.stack : e) }));
});
`;

/** A consumer in TypeScript: one correct use of the components and one Args mistake the declarations must catch. */
const TYPED_PROGRAM = `
import * as pulumi from "@pulumi/pulumi";
import { TransitUnsealLinkArgs, VaultCluster, VaultClusterArgs } from "${PACKAGE}";

const args: VaultClusterArgs = {
  namespace: "vault",
  flavour: "openbao",
  storage: { type: "raft" },
  tls: pulumi.secret({ caCertPem: "CA", certPem: "CERT", keyPem: "KEY" }),
};
export const cluster = new VaultCluster("vault", args);
export const wrong: Partial<TransitUnsealLinkArgs> = { bornSealed: "yes" };
`;

let work: string;
let program: string;
let packed: { path: string }[];
let distExisted: boolean;
let programOut: Record<string, unknown>;

beforeAll(async () => {
  distExisted = fs.existsSync(path.join(ROOT, "dist"));
  work = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "vmu-consumer-")));
  await run("npm", ["run", "--silent", "build:lib"], ROOT);
  const [result] = JSON.parse(await run("npm", ["pack", "--json", "--pack-destination", work], ROOT)) as {
    filename: string;
    files: { path: string }[];
  }[];
  packed = result.files;

  program = path.join(work, "program");
  const installed = path.join(program, "node_modules", PACKAGE);
  fs.mkdirSync(installed, { recursive: true });
  fs.writeFileSync(path.join(program, "package.json"), JSON.stringify({ name: "consumer", version: "1.0.0", private: true }));
  await run("tar", ["-xzf", path.join(work, result.filename), "-C", installed, "--strip-components=1"], work);
  const declared = (JSON.parse(fs.readFileSync(path.join(installed, "package.json"), "utf8")) as { dependencies: Record<string, string> })
    .dependencies;
  for (const dep of Object.keys(declared)) {
    const link = path.join(program, "node_modules", dep);
    fs.mkdirSync(path.dirname(link), { recursive: true });
    fs.symlinkSync(fs.realpathSync(path.join(ROOT, "node_modules", dep)), link, "dir");
  }
  fs.writeFileSync(path.join(program, "index.js"), PROGRAM);
  fs.writeFileSync(path.join(program, "host.js"), HOST);
  fs.writeFileSync(path.join(program, "typed.ts"), TYPED_PROGRAM);
  fs.writeFileSync(path.join(program, "pair.js"), PAIR_PROGRAM);
  fs.writeFileSync(path.join(program, "pair-host.js"), PAIR_HOST);
  programOut = await runNode("index.js", program);
});

afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
  // The build output is git-ignored; leave none behind where there was none (eslint . would read it).
  if (!distExisted) fs.rmSync(path.join(ROOT, "dist"), { recursive: true, force: true });
});

test("the tarball holds compiled JavaScript and declarations only: no tests, lab, e2e, scripts or TypeScript sources", () => {
  const paths = packed.map((f) => f.path);
  expect(paths).toEqual(expect.arrayContaining(["package.json", "dist/lib.js", "dist/lib.d.ts", "dist/providers/transit-link.js"]));
  expect(paths.filter((p) => /(^|\/)(test|lab|e2e|scripts)\//.test(p))).toEqual([]);
  expect(paths.filter((p) => p.endsWith(".ts") && !p.endsWith(".d.ts"))).toEqual([]);
  expect(paths.filter((p) => p !== "package.json" && p !== "README.md" && !p.startsWith("dist/"))).toEqual([]);
});

test("a program outside the project, in plain JavaScript, declares a TransitUnsealLink from the installed package", () => {
  expect(program.startsWith(ROOT + path.sep)).toBe(false);
  expect(programOut.error).toBeUndefined();
  expect(programOut.dynamic).toEqual(["pulumi-nodejs:dynamic/vault-mutual-unseal:TransitLink"]);
});

test("its serialized TransitLink, run as the host runs it, loads the provider from the program's node_modules and checks for real", async () => {
  const out = await runNode("host.js", program);
  expect(out.error).toBeUndefined();
  expect(out.failures).toEqual([{ property: "keyName", reason: expect.any(String) }]);
  expect(out.goodFailures).toEqual([]);
  const loaded = out.loaded as string[];
  const installed = path.join(program, "node_modules", PACKAGE, "dist");
  expect(loaded).toContain(path.join(installed, "providers", "transit-link.js"));
  // Nothing from the project's checkout, no TypeScript: the compiled package alone.
  expect(loaded.filter((f) => f.startsWith(ROOT + path.sep) && !f.includes(`${path.sep}node_modules${path.sep}`))).toEqual([]);
  expect(loaded.filter((f) => f.endsWith(".ts"))).toEqual([]);
  expect(out.tsRegistered).toBe(false);
});

test("a program outside the project declares the whole MutualUnsealPair, and every provider it stores loads from the program's node_modules", async () => {
  const declared = await runNode("pair.js", program);
  expect(declared.error).toBeUndefined();
  const types = ["AuditDevice", "OperatorToken", "SealMigration", "SealRollout", "TransitKeyBackup", "TransitLink", "Unseal", "VaultInit"];
  expect(declared.dynamic).toEqual(types.map((t) => `pulumi-nodejs:dynamic/vault-mutual-unseal:${t}`));
  const out = await runNode("pair-host.js", program);
  expect(out.error).toBeUndefined();
  expect(Object.values(out.answered as Record<string, boolean>)).toEqual(types.map(() => true));
  const providers = path.join(program, "node_modules", PACKAGE, "dist", "providers");
  const loaded = (out.loaded as string[]).filter((f) => f.startsWith(providers + path.sep)).map((f) => path.basename(f));
  for (const file of [
    "audit-device.js",
    "seal-migration.js",
    "seal-rollout.js",
    "transit-key-backup.js",
    "transit-link.js",
    "unseal.js",
    "vault-init.js",
  ])
    expect(loaded).toContain(file);
  expect(
    (out.loaded as string[]).filter((f) => f.startsWith(ROOT + path.sep) && !f.includes(`${path.sep}node_modules${path.sep}`)),
  ).toEqual([]);
});

test("a TypeScript program type-checks against the installed declarations, which reject a wrong Args field", async () => {
  // The project's compiler, in the program's folder, Pulumi templates' settings (node resolution, strict).
  const tsc = path.join(ROOT, "node_modules/typescript/bin/tsc");
  const args = ["--noEmit", "--strict", "--module", "commonjs", "--moduleResolution", "node", "--target", "es2022", "--skipLibCheck"];
  const types = ["--types", "node", "--typeRoots", path.join(ROOT, "node_modules/@types")];
  const out = await run(process.execPath, [tsc, ...args, ...types, "typed.ts"], program).then(
    () => "",
    (e: Error) => e.message,
  );
  const errors = out.split("\n").filter((l) => /error TS\d+/.test(l));
  expect(errors).toEqual([expect.stringMatching(/^typed\.ts\(12,\d+\): error TS2322: Type 'string' is not assignable to type 'boolean/)]);
});
