/**
 * Files of the servers started on this machine (the lab, the real-server tests) that other
 * local users must not read: Raft data, configs, logs (the audit device writes to stdout,
 * which goes to server.log), private keys and tokens. Folders are 0700, files 0600.
 *
 * The mode is given at creation and set again with chmod: a mode passed to mkdir or open is
 * masked by the umask, and a folder or file that exists already keeps the mode it has.
 */
import * as fs from "fs";

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** Creates `dir` (and missing parents, also 0700) and makes it the owner's only. */
export function mkdirPrivate(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  fs.chmodSync(dir, PRIVATE_DIR_MODE);
}

/** Writes `file` readable by its owner only, also when it existed with a wider mode. */
export function writePrivateFile(file: string, data: string): void {
  fs.writeFileSync(file, data, { mode: PRIVATE_FILE_MODE });
  fs.chmodSync(file, PRIVATE_FILE_MODE);
}

/** Opens `file` for appending (a server's log), readable by its owner only; returns the fd. */
export function openPrivateLog(file: string): number {
  const fd = fs.openSync(file, "a", PRIVATE_FILE_MODE);
  try {
    fs.fchmodSync(fd, PRIVATE_FILE_MODE);
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
  return fd;
}
