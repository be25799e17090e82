/**
 * AuditDevice through its provider object on real OpenBao servers: the audit device to
 * stdout is confirmed when the config declares it (how VaultCluster deploys OpenBao),
 * enabled through the API otherwise (Vault's way; OpenBao allows that API only with
 * `unsafe_allow_api_audit_creation`, set here to prove the call), and a server that allows
 * neither fails with what to fix. Requests then appear in the node's stdout (its log).
 */
import { LocalCluster, LocalClusterOptions } from "../../adapters/local/local-cluster";
import { AuditDeviceInputs, auditDeviceProvider as provider } from "../../providers/audit-device";
import { shamirNode } from "../support/pair";
import { Lab, newLab } from "../support/servers";
import { checkNew, create, LocalAccess, update } from "./harness";

jest.setTimeout(120_000);

let lab: Lab;
const access = new LocalAccess();

beforeAll(async () => {
  lab = await newLab("prov-audit");
});
afterAll(async () => {
  access.clear();
  await lab?.destroy();
});

async function node(name: string, audit?: LocalClusterOptions["audit"]): Promise<{ cluster: LocalCluster; inputs: AuditDeviceInputs }> {
  const n = await shamirNode(lab, name, { audit });
  return { cluster: n.cluster, inputs: await checkNew(provider, { version: 1, nodes: access.of(n.cluster), adminToken: n.rootToken }) };
}

/** Audit entries for `path` in the node's stdout. */
const audited = (c: LocalCluster, path: string) =>
  c
    .logTail(c.nodeIds()[0], 10_000)
    .split("\n")
    .filter((l) => l.startsWith("{") && l.includes(`"type":"response"`) && l.includes(`"path":"${path}"`)).length;

test("declared in the config (OpenBao as deployed): confirmed present, and requests reach stdout", async () => {
  const { cluster, inputs } = await node("audit-declared", { toStdout: true });
  const made = await create(provider, inputs);
  expect(made.outs.outcome).toBe("present");
  expect(audited(cluster, "sys/audit")).toBeGreaterThan(0);
  // The root token never appears in clear in the audit log.
  expect(cluster.logTail(cluster.nodeIds()[0], 10_000)).not.toContain(inputs.adminToken);
});

test("enabled through the API (Vault's way) once; the next run finds it present", async () => {
  const { cluster, inputs } = await node("audit-api", { allowApiCreation: true });
  expect(audited(cluster, "sys/audit")).toBe(0);
  const made = await create(provider, inputs);
  expect(made.outs.outcome).toBe("enabled");
  expect((await update(provider, made, inputs)).outs.outcome).toBe("present");
  expect(audited(cluster, "sys/audit")).toBeGreaterThan(0);
});

test("a server that neither declares it nor allows the API: the error says what to fix", async () => {
  const { inputs } = await node("audit-none");
  await expect(provider.create(inputs)).rejects.toThrow(/enables audit devices only from its config file.*auditToStdout/);
});
