/**
 * AuditDevice: the audit device to stdout on a cluster, enabled at bootstrap as the article
 * did (core/steps/audit.ts). Vault: enabled through the API with the operator token once the
 * cluster is unsealed. OpenBao: declared in the server config (VaultCluster), and this
 * resource confirms it is active, failing with what to fix when it is not.
 *
 * Nothing replaces it; delete leaves the device (the audit trail is not ours to stop).
 */
import * as pulumi from "@pulumi/pulumi";
import { enableStdoutAudit } from "../core/steps/audit";
import { activeClient } from "../core/steps/node-state";
import { defineDynamicResource } from "./dynamic-resource";
import { clusterIdentity, nodeAccess, NodeAccess, NodeAccessArgs, withNodes } from "./node-access";
import { ProviderOps } from "./project-require";
import { adminToken } from "./provider-inputs";

export const AUDIT_DEVICE_VERSION = 1;

export interface AuditDeviceArgs {
  nodes: pulumi.Input<NodeAccessArgs>;
  /** The operator token (or root token) of the cluster. */
  adminToken: pulumi.Input<string>;
}

export interface AuditDeviceInputs {
  version?: number;
  nodes: NodeAccess;
  adminToken: string;
}

export interface AuditDeviceOutputs extends AuditDeviceInputs {
  /** "enabled" by this resource, or "present" already (OpenBao's config file, an earlier run). */
  outcome: string;
}

async function enable(inputs: AuditDeviceInputs): Promise<AuditDeviceOutputs> {
  return withNodes(inputs.nodes, async (nodes) => ({
    ...inputs,
    outcome: await enableStdoutAudit(await activeClient(nodes, inputs.adminToken)),
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

const declared = defineDynamicResource<AuditDeviceInputs, AuditDeviceOutputs, AuditDeviceArgs>({
  type: "AuditDevice",
  module: "providers/audit-device",
  opsExport: "auditDeviceOps",
  version: AUDIT_DEVICE_VERSION,
  fields: { nodes: nodeAccess, adminToken: adminToken("the cluster's", "audit devices need sudo") },
  outputs: ["outcome"],
  secretOutputs: ["adminToken", "nodes"],
  ops: { create, update, delete: remove },
});

export const auditDeviceOps: ProviderOps<AuditDeviceInputs, AuditDeviceOutputs> = declared.ops;

export const auditDeviceProvider = declared.provider;

export class AuditDevice extends declared.Resource {
  declare readonly outcome: pulumi.Output<string>;
}
