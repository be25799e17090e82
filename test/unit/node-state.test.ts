/**
 * The core's node states on a real server: a node that answers; one whose TLS fails (the
 * certificate does not hold the name asked for), which is down for reason "tls" and raised by
 * activeForLook, since waiting would not fix it; one that is stopped, which is down for
 * reason "unreachable" and left for later by activeForLook.
 */
import { LocalCluster } from "../../adapters/local/local-cluster";
import { VaultTlsError } from "../../core/errors";
import { NodeControl } from "../../core/nodes";
import { activeClient, activeForLook, describe as describeStates, nodeState, observe } from "../../core/steps/node-state";
import { VaultClient } from "../../core/vault-client";
import { shamirNode } from "../support/pair";
import { Lab, newLab } from "../support/servers";

jest.setTimeout(120_000);

let lab: Lab;
let c: LocalCluster;
let id: string;

beforeAll(async () => {
  lab = await newLab("node-state");
  ({ cluster: c } = await shamirNode(lab, "node-state"));
  // Unsealed is not yet active: a single Raft node takes a moment (longer under load) to lead.
  await activeClient(c);
  id = c.nodeIds()[0];
});
afterAll(() => lab?.destroy());

/** The same node asked with a server name its certificate does not hold. */
function wrongName(): NodeControl {
  const client = (node: string, token?: string) =>
    new VaultClient({ address: c.address(node), token, tls: { caFile: c.caFile, serverName: "not-this-server" } });
  return { name: `${c.name}-wrong-name`, nodeIds: () => c.nodeIds(), client } as unknown as NodeControl;
}

test("a node that answers is reachable and has no reason", async () => {
  const s = await nodeState(id, c.client(id));
  expect(s).toMatchObject({ reachable: true, sealed: false, standby: false });
  expect(s.reason).toBeUndefined();
});

test("a node whose certificate does not hold the server name is down for reason tls, and describe says TLS failed", async () => {
  const s = await nodeState(id, wrongName().client(id));
  expect(s).toMatchObject({ reachable: false, reason: "tls" });
  expect(s.failure).toBeInstanceOf(VaultTlsError);
  expect(describeStates([s])).toBe(`${id}:down(TLS failed)`);
});

test("activeForLook finds the active node", async () => {
  expect(await activeForLook(c)).toBe(id);
});

test("activeForLook raises the TLS failure rather than reporting no active node", async () => {
  await expect(activeForLook(wrongName())).rejects.toBeInstanceOf(VaultTlsError);
});

describe("once the node is stopped", () => {
  beforeAll(() => c.stop(id));

  test("it is down for reason unreachable", async () => {
    const [s] = await observe(c);
    expect(s).toMatchObject({ reachable: false, reason: "unreachable" });
    expect(describeStates([s])).toBe(`${id}:down`);
  });

  test("activeForLook reports no active node (ask again later) instead of failing", async () => {
    expect(await activeForLook(c)).toBeUndefined();
  });
});
