/**
 * stateNow, the look a provider's diff takes at the servers: what read finds now when it
 * answers; the recorded state when read fails (a sealed or unreachable cluster) or does not
 * answer in time (a preview without cluster access), never an error.
 */
import { stateNow } from "../../providers/live-state";

const recorded = { inSync: true, version: 1 };

test("takes what read finds now", async () => {
  expect(await stateNow(async (id) => ({ id, props: { inSync: false, version: 2 } }), "id", recorded)).toEqual({ inSync: false, version: 2 });
});

test("keeps the recorded state when read fails", async () => {
  expect(await stateNow(async () => { throw new Error("port-forward refused"); }, "id", recorded)).toBe(recorded);
});

test("keeps the recorded state when read does not answer in time", async () => {
  const never = () => new Promise<never>(() => undefined);
  expect(await stateNow(never, "id", recorded, 20)).toBe(recorded);
});

test("keeps the recorded state when read returns nothing", async () => {
  expect(await stateNow(async (id) => ({ id }), "id", recorded)).toBe(recorded);
});
