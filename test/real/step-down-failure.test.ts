/**
 * A rolling restart whose step-down fails (here: a token that may not step down) leaves the
 * active node serving: it was taken out of its Service before the step-down, and is put
 * back, so the cluster is never left without its active node behind the Service.
 */
import { LocalCluster } from "../../adapters/local/local-cluster";
import { initCluster } from "../../core/steps/init";
import { findActive } from "../../core/steps/node-state";
import { rollingRestart } from "../../core/steps/rollout";
import { unsealCluster } from "../../core/steps/unseal";
import { Lab, newLab } from "../support/servers";

jest.setTimeout(120_000);

let lab: Lab;
let cluster: LocalCluster;
let keys: string[];

beforeAll(async () => {
  lab = await newLab("step-down");
  cluster = await lab.cluster({ name: "drained", size: 3, seal: { stanzas: [] }, preStopMs: 100 });
  await cluster.startAll();
  keys = (await initCluster(cluster.client(cluster.nodeIds()[0]), { kind: "shamir", shares: 1, threshold: 1 })).keys;
  await unsealCluster(cluster, keys);
});
afterAll(() => lab?.destroy());

test("the active node is back in its Service when its step-down fails, and stays active", async () => {
  const active = (await findActive(cluster))!;
  await expect(rollingRestart(cluster, { adminToken: "not-a-token-that-may-step-down", keys, timeoutMs: 30_000 })).rejects.toThrow(
    /permission denied/,
  );
  expect(await findActive(cluster)).toBe(active);
  expect(cluster.isServing(active)).toBe(true);
});
