/**
 * AuditDevice: the audit device to stdout on a cluster, enabled at bootstrap as the article
 * did (core/steps/audit.ts). Vault: enabled through the API with the root token once the
 * cluster is unsealed. OpenBao: declared in the server config (VaultCluster), and this
 * resource confirms it is active, failing with what to fix when it is not.
 *
 * Nothing replaces it; delete leaves the device (the audit trail is not ours to stop).
 */
import * as pulumi from "@pulumi/pulumi";
import { enableStdoutAudit } from "../core/steps/audit";
import { activeClient } from "../core/steps/node-state";
import { clusterIdentity, NodeAccess, NodeAccessArgs, nodeAccessProblems, withNodes } from "./node-access";
import { ProviderOps, trampoline } from "./project-require";
import { changedKeys, checked, checkVersion, Failures, requiredString, withSecretOutputs } from "./provider-inputs";

export const AUDIT_DEVICE_VERSION = 1;

export interface AuditDeviceArgs {
  nodes: pulumi.Input<NodeAccessArgs>;
  /** Root (or sudo) token of the cluster. */
  rootToken: pulumi.Input<string>;
}

export interface AuditDeviceInputs {
  version?: number;
  nodes: NodeAccess;
  rootToken: string;
}

export interface AuditDeviceOutputs extends AuditDeviceInputs {
  /** "enabled" by this resource, or "present" already (OpenBao's config file, an earlier run). */
  outcome: string;
}

const INPUT_KEYS = ["version", "nodes", "rootToken"] as const;

async function check(_olds: Partial<AuditDeviceInputs>, news: AuditDeviceInputs): Promise<pulumi.dynamic.CheckResult<AuditDeviceInputs>> {
  const f = new Failures();
  checkVersion(news, AUDIT_DEVICE_VERSION, f);
  nodeAccessProblems(news.nodes, "nodes", f);
  f.field(news as unknown as Record<string, unknown>, "rootToken", "rootToken", (v) =>
    requiredString(v) ? "must be the cluster's root (or sudo) token: audit devices need sudo" : undefined,
  );
  return checked(news, f);
}

async function diff(_id: string, olds: AuditDeviceOutputs, news: AuditDeviceInputs): Promise<pulumi.dynamic.DiffResult> {
  return { changes: changedKeys<AuditDeviceInputs>(olds, news, INPUT_KEYS).length > 0, replaces: [] };
}

async function enable(inputs: AuditDeviceInputs): Promise<AuditDeviceOutputs> {
  return withNodes(inputs.nodes, async (nodes) => ({
    ...inputs,
    outcome: await enableStdoutAudit(await activeClient(nodes, inputs.rootToken)),
  }));
}

async function create(inputs: AuditDeviceInputs): Promise<pulumi.dynamic.CreateResult<AuditDeviceOutputs>> {
  return { id: `audit-stdout:${clusterIdentity(inputs.nodes)}`, outs: await enable(inputs) };
}

async function update(
  _id: string,
  _olds: AuditDeviceOutputs,
  news: AuditDeviceInputs,
): Promise<pulumi.dynamic.UpdateResult<AuditDeviceOutputs>> {
  return { outs: await enable(news) };
}

async function remove(): Promise<void> {}

export const auditDeviceOps: ProviderOps<AuditDeviceInputs, AuditDeviceOutputs> = { check, diff, create, update, delete: remove };

export const auditDeviceProvider = trampoline<AuditDeviceInputs, AuditDeviceOutputs>("providers/audit-device", "auditDeviceOps");

export class AuditDevice extends pulumi.dynamic.Resource {
  declare readonly outcome: pulumi.Output<string>;

  constructor(name: string, args: AuditDeviceArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      auditDeviceProvider,
      name,
      { ...args, version: AUDIT_DEVICE_VERSION, outcome: undefined },
      withSecretOutputs(opts, ["rootToken", "nodes"]),
      "vault-mutual-unseal",
      "AuditDevice",
    );
  }
}
