/**
 * TEST EQUIPMENT (engine stand-in for the e2e runs, not part of the product): real random
 * values for the `random:*` resources the project registers (components/consul-cluster.ts:
 * RandomBytes, the gossip key), with the random provider's output names.
 */
import * as crypto from "crypto";

export const RANDOM_BYTES = "random:index/randomBytes:RandomBytes";

/** Outputs the random provider marks secret (node_modules/@pulumi/random/randomBytes.js). */
export const RANDOM_SECRET_OUTPUTS = ["base64", "hex"];

export class RandomInputError extends Error {}

export function createRandom(type: string, inputs: Record<string, unknown>): { id: string; outputs: Record<string, unknown> } {
  if (type !== RANDOM_BYTES) throw new RandomInputError(`${type} is not implemented by the engine stand-in`);
  const length = inputs.length;
  if (typeof length !== "number" || !Number.isInteger(length) || length < 1)
    throw new RandomInputError(`length: must be a whole number of bytes >= 1, got ${String(length)}`);
  const bytes = crypto.randomBytes(length);
  // The provider's id for RandomBytes is the value itself; "none" keeps it out of the id.
  return { id: "none", outputs: { ...inputs, base64: bytes.toString("base64"), hex: bytes.toString("hex") } };
}
