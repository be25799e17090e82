/**
 * How a dynamic provider reaches the project's code at run time.
 *
 * Pulumi serializes each provider object into the state (`__provider`) and later runs that
 * text in the `pulumi-resource-pulumi-nodejs` host: it is loaded with `require-from-string`
 * (no file name, so `__filename` is "" and relative `require`s resolve against the working
 * directory), the working directory is the Pulumi program's folder (this project's root),
 * and no TypeScript loader is registered. A relative `require("../core/...")` written in a
 * provider method would therefore look outside the project, and a `.ts` file could not be
 * loaded at all.
 *
 * So every provider object here is a trampoline: its methods call `projectRequire` (the only
 * function serialized with them) to load the provider's own file from the checkout and call
 * the implementation there. The state holds a few lines of code, never a copy of the core,
 * and no module-level state is captured. The price: the checkout must be present where
 * `pulumi` runs (it is: the program itself lives there), and the code must keep handling
 * states written by older versions (each resource carries a `version` input for that).
 */
import type { ResourceProvider } from "@pulumi/pulumi/dynamic";

/**
 * Loads `modulePath` (e.g. "providers/vault-init", relative to the project root, no
 * extension). From a file (tests, lab, the Pulumi program) the root is this folder's parent;
 * inside the dynamic-provider host it is the working directory, or VMU_PROJECT_ROOT when set,
 * and ts-node (transpile-only) is registered first when nothing loads `.ts` files yet.
 */
export function projectRequire<T>(modulePath: string): T {
  /* eslint-disable @typescript-eslint/no-require-imports -- loading at run time is the point of this function */
  const path = require("path") as typeof import("path");
  const fs = require("fs") as typeof import("fs");
  const fromFile = typeof __filename === "string" && /[\\/]providers[\\/]project-require\.[cm]?[jt]s$/.test(__filename);
  const root = process.env.VMU_PROJECT_ROOT || (fromFile ? path.resolve(path.dirname(__filename), "..") : process.cwd());
  const target = path.join(root, modulePath);
  if (!fs.existsSync(`${target}.ts`) && !fs.existsSync(`${target}.js`)) {
    throw new Error(
      `cannot load ${modulePath} from ${root}: the vault-mutual-unseal providers load their code from the project ` +
        `checkout, and the dynamic-provider host runs in the Pulumi program's folder. Run pulumi from the project ` +
        `(or set VMU_PROJECT_ROOT to the folder holding providers/ and core/).`,
    );
  }
  const extensions = (require("module") as { _extensions?: Record<string, unknown> })._extensions ?? {};
  if (!fromFile && !extensions[".ts"] && fs.existsSync(`${target}.ts`)) {
    const tsNode = require("ts-node") as typeof import("ts-node");
    tsNode.register({ transpileOnly: true, project: path.join(root, "tsconfig.json") });
  }
  return require(target) as T;
  /* eslint-enable @typescript-eslint/no-require-imports */
}

/** What each provider file implements: every CRUD method, `read` where live state can drift. */
export type ProviderOps<I, O> = Required<Pick<ResourceProvider<I, O>, "check" | "diff" | "create" | "update" | "delete">> &
  Pick<ResourceProvider<I, O>, "read">;

/**
 * The provider object Pulumi serializes: each method loads `modulePath` from the checkout
 * and calls the same method of its export `exportName`, the real implementation. It
 * captures two strings and `projectRequire`, nothing else.
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
