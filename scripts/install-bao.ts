/** `npm run bao:install`: makes the server binary available and prints where it is. */
import { ensureServerBinary, binaryFlavour } from "../adapters/local/bao-binary";

try {
  const bin = ensureServerBinary();
  console.log(`${binaryFlavour(bin)} server binary: ${bin}`);
} catch (e) {
  console.error((e as Error).message);
  process.exit(1);
}
