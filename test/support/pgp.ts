/**
 * Operators' PGP keys for tests: made with gpg in a GNUPGHOME of the test's own (no
 * passphrase; removed with the lab's folder), exported as the servers take them (base64 of
 * the binary key), and an operator's decryption of their share.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

export interface Operators {
  /** Base64 public keys, in the order of the names given. */
  publicKeys: string[];
  /** What an operator does with their share: base64 → PGP message → gpg --decrypt → the key (base64). */
  decrypt(share: string): string;
}

export function operators(dir: string, names: string[]): Operators {
  const home = path.join(dir, "gnupg");
  fs.mkdirSync(home, { mode: 0o700 });
  const gpg = (args: string[], input?: Buffer) =>
    execFileSync("gpg", ["--homedir", home, "--batch", "--yes", "--quiet", ...args], { input, stdio: ["pipe", "pipe", "pipe"] });
  const publicKeys = names.map((who) => {
    gpg(["--passphrase", "", "--quick-generate-key", `${who}@example.test`, "rsa2048", "encrypt", "never"]);
    return gpg(["--export", `${who}@example.test`]).toString("base64");
  });
  return { publicKeys, decrypt: (share) => gpg(["--decrypt"], Buffer.from(share, "base64")).toString("utf8") };
}
