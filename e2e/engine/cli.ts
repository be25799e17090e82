/**
 * TEST EQUIPMENT (engine stand-in for the e2e runs, not part of the product): the command
 *
 *   npx ts-node --transpile-only e2e/engine/cli.ts up --stack primary --config <file.json> --state <dir>
 *
 * runs one stack (Pulumi's runtime is module-global: one stack per process). The config file
 * is `{ "config": { key: value }, "secretConfig": { key: value } }`, keys without the
 * "vault-mutual-unseal:" prefix. Prints one line per resource (never a value), writes
 * `<dir>/<stack>.json` (the state, secrets included, mode 0600) and `<dir>/<stack>.summary.json`.
 * Exit code 0 only when every step succeeded.
 */
import * as fs from "fs";
import * as path from "path";
import { up } from "./run";

export const USAGE =
  "usage: cli.ts up --stack <primary|helper> --config <file.json> --state <dir> [--program <file> (tests: another program than index.ts)]";

export function parseArgs(argv: string[]): { stack: string; config: string; state: string; program?: string } {
  const [command, ...rest] = argv;
  if (command !== "up") throw new Error(`unknown command "${command ?? ""}"\n${USAGE}`);
  const flags: Record<string, string> = {};
  for (let i = 0; i < rest.length; i += 2) {
    if (!rest[i]?.startsWith("--") || rest[i + 1] === undefined) throw new Error(`bad argument "${rest[i]}"\n${USAGE}`);
    flags[rest[i].slice(2)] = rest[i + 1];
  }
  for (const k of ["stack", "config", "state"]) if (!flags[k]) throw new Error(`missing --${k}\n${USAGE}`);
  return { stack: flags.stack, config: flags.config, state: flags.state, program: flags.program ? path.resolve(flags.program) : undefined };
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const file = JSON.parse(fs.readFileSync(args.config, "utf8")) as {
    config?: Record<string, unknown>;
    secretConfig?: Record<string, unknown>;
  };
  const summary = await up({
    stack: args.stack,
    config: file.config ?? {},
    secretConfig: file.secretConfig ?? {},
    stateDir: path.resolve(args.state),
    projectRoot: path.resolve(__dirname, "..", ".."),
    program: args.program,
  });
  if (!summary.ok) console.error(`up --stack ${args.stack} failed:\n${summary.error}`);
  return summary.ok ? 0 : 1;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (e) => {
      console.error((e as Error).message ?? String(e));
      process.exit(2);
    },
  );
}
