/**
 * How a dynamic provider reaches the package's code at run time.
 *
 * Pulumi serializes each provider object into the state (`__provider`) and later runs that
 * text in the `pulumi-resource-pulumi-nodejs` host: it is loaded with `require-from-string`
 * (no file name, so `__filename` is "" and `require` resolves against the working
 * directory), the working directory is the Pulumi program's folder, and no TypeScript loader
 * is registered. A relative `require("../core/...")` written in a provider method would
 * therefore look in the program's folder, which is this project only when the program is
 * this project's own `index.ts`.
 *
 * So every provider object here is a trampoline: its methods call `projectRequire` (the only
 * function serialized with them) to load the provider's own module and call the
 * implementation there. The state holds a few lines of code, never a copy of the core, and
 * no module-level state is captured. The price: the code must be installed where `pulumi`
 * runs, and must keep handling states written by older versions (each resource carries a
 * `version` input for that).
 */
import type { ResourceProvider } from "@pulumi/pulumi/dynamic";

/**
 * Loads `modulePath` (e.g. "providers/vault-init": relative to the package root, no
 * extension). Where it looks, in order:
 *
 * 1. Called from a file (tests, the lab, a program calling a provider in-process, the
 *    compiled package in a consumer's node_modules): next to this file, whatever the working
 *    directory.
 * 2. Serialized, in the dynamic-provider host:
 *    a. `VMU_PROJECT_ROOT`, when set: a checkout (or an unpacked package's `dist/`) there;
 *    b. the working directory when it is this project's checkout (package.json `name` is
 *       the package's and the module is there): this project's own stacks, the e2e engine
 *       stand-in, `.ci/run`;
 *    c. the package installed in the program's `node_modules`
 *       (`vault-mutual-unseal/providers/x`, mapped to compiled JavaScript by package.json
 *       `exports`): another program using the components.
 *
 * TypeScript sources are only ever loaded from a checkout; ts-node (a devDependency there)
 * is registered, transpile-only, when nothing loads `.ts` files yet. The compiled package
 * needs neither ts-node nor typescript.
 *
 * Everything it needs is inside the function: Pulumi serializes this text, not the module.
 */
export function projectRequire<T>(modulePath: string): T {
  /* eslint-disable @typescript-eslint/no-require-imports -- loading at run time is the point of this function */
  // package.json `name` (test/providers/serialization.test.ts holds them equal). A literal: in the host, the one
  // package.json at hand is the consuming program's.
  const name = "vault-mutual-unseal";
  const path = require("path") as typeof import("path");
  const fs = require("fs") as typeof import("fs");
  const fromFile = typeof __filename === "string" && /[\\/]providers[\\/]project-require\.[cm]?[jt]s$/.test(__filename);
  if (fromFile) return require(path.resolve(path.dirname(__filename), "..", modulePath)) as T;

  const cwd = process.cwd();
  const loadFromCheckout = (root: string): T | undefined => {
    const target = path.join(root, modulePath);
    if (fs.existsSync(`${target}.js`)) return require(target) as T;
    if (!fs.existsSync(`${target}.ts`)) return undefined;
    const extensions = (require("module") as { _extensions?: Record<string, unknown> })._extensions ?? {};
    if (!extensions[".ts"]) {
      let tsNode: typeof import("ts-node");
      try {
        tsNode = require(require.resolve("ts-node", { paths: [root] })) as typeof import("ts-node");
      } catch (e) {
        throw new Error(
          `cannot load ${modulePath}.ts from the checkout ${root}: ts-node is not installed there (run npm ci in ${root}), ` +
            `or use the compiled package (npm install ${name}) instead of the checkout`,
          { cause: e },
        );
      }
      tsNode.register({ transpileOnly: true, project: path.join(root, "tsconfig.json") });
    }
    return require(target) as T;
  };

  const override = process.env.VMU_PROJECT_ROOT;
  if (override) {
    const loaded = loadFromCheckout(path.resolve(override));
    if (loaded !== undefined) return loaded;
    throw new Error(`cannot load ${modulePath} from VMU_PROJECT_ROOT=${override}: neither ${modulePath}.js nor .ts is there`);
  }

  let ownName: unknown;
  try {
    ownName = (JSON.parse(fs.readFileSync(path.join(cwd, "package.json"), "utf8")) as { name?: unknown }).name;
  } catch {
    ownName = undefined; // no readable package.json: not the checkout
  }
  if (ownName === name) {
    const loaded = loadFromCheckout(cwd);
    if (loaded !== undefined) return loaded;
  }

  let resolved: string;
  try {
    resolved = require.resolve(`${name}/${modulePath}`, { paths: [cwd] });
  } catch (e) {
    const code = (e as { code?: string }).code;
    const reason =
      code === "ERR_PACKAGE_PATH_NOT_EXPORTED"
        ? `the installed ${name} has no ${modulePath} (a state written by another version of the package: install that version)`
        : `${name} is not installed in the Pulumi program's folder`;
    throw new Error(
      `cannot load ${name}/${modulePath} from ${cwd}: ${reason}. The ${name} providers load their code from the Pulumi ` +
        `program's node_modules: run npm install ${name} in the program's folder (or run pulumi from the ${name} ` +
        `checkout, or set VMU_PROJECT_ROOT to the folder holding providers/ and core/)`,
      { cause: e },
    );
  }
  return require(resolved) as T;
  /* eslint-enable @typescript-eslint/no-require-imports */
}

/** What each provider file implements: every CRUD method, `read` where live state can drift. */
export type ProviderOps<I, O> = Required<Pick<ResourceProvider<I, O>, "check" | "diff" | "create" | "update" | "delete">> &
  Pick<ResourceProvider<I, O>, "read">;

/**
 * The provider object Pulumi serializes: each method loads `modulePath` (see
 * `projectRequire`) and calls the same method of its export `exportName`, the real
 * implementation. It captures two strings and `projectRequire`, nothing else.
 */
export function trampoline<I, O>(modulePath: string, exportName: string, opts: { read?: boolean } = {}): ResourceProvider<I, O> {
  const impl = () => projectRequire<Record<string, Required<ProviderOps<I, O>>>>(modulePath)[exportName];
  const provider: ResourceProvider<I, O> = {
    check: (olds, news) => impl().check(olds, news),
    diff: (id, olds, news) => impl().diff(id, olds, news),
    create: (inputs) => impl().create(inputs),
    update: (id, olds, news) => impl().update(id, olds, news),
    delete: (id, props) => impl().delete(id, props),
  };
  if (opts.read) provider.read = (id, props) => impl().read(id, props);
  return provider;
}
