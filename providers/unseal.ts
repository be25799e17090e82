/**
 * Unseal: every node of a Shamir cluster unsealed with its keys (Raft followers join their
 * leader while being unsealed). Create and update are the core's unsealCluster, which
 * leaves unsealed nodes alone and resets a half-done attempt, so re-running is harmless.
 *
 * Drift: `read` (pulumi refresh) records the nodes it finds sealed, e.g. pods restarted
 * since the last run, and `diff` takes the same look on every `up` (live-state.ts): sealed
 * nodes make an update, which unseals them. Once the cluster has an auto seal (after its migration to transit) there is
 * nothing to unseal by hand: the keys are recovery keys then, and the resource does nothing.
 * Nothing ever replaces it; delete does not seal anything.
 */
import * as pulumi from "@pulumi/pulumi";
import { NodeControl } from "../core/nodes";
import { NodeState, observe, throwTlsFailure } from "../core/steps/node-state";
import { unsealCluster } from "../core/steps/unseal";
import { defineDynamicResource } from "./dynamic-resource";
import { clusterIdentity, nodeAccess, NodeAccess, NodeAccessArgs, withNodes } from "./node-access";
import { ProviderOps } from "./project-require";
import { stringList } from "./provider-inputs";

export const UNSEAL_VERSION = 1;

export interface UnsealArgs {
  nodes: pulumi.Input<NodeAccessArgs>;
  /** Unseal keys from the cluster's init (VaultInit.keys); as many as the threshold are used. */
  keys: pulumi.Input<pulumi.Input<string>[]>;
}

export interface UnsealInputs {
  version?: number;
  nodes: NodeAccess;
  keys: string[];
}

export interface UnsealOutputs extends UnsealInputs {
  /** Nodes seen unsealed at the last create, update or read. */
  unsealedNodes: string[];
  /** Nodes seen sealed at the last read (empty after create or update): a non-empty list makes the next up unseal them. */
  sealedNodes: string[];
  /** The cluster's seal type ("shamir", or "transit" after a migration: then this resource has nothing to do). */
  sealType: string;
}

type Snapshot = Pick<UnsealOutputs, "unsealedNodes" | "sealedNodes" | "sealType">;

/** Unsealed and sealed node ids as the nodes report them; unreachable nodes are in neither list. */
async function snapshot(nodes: NodeControl): Promise<Snapshot> {
  return snapshotOf(await observe(nodes));
}

function snapshotOf(states: NodeState[]): Snapshot {
  const sealType = states.find((s) => s.reachable && s.type)?.type ?? "unknown";
  return {
    unsealedNodes: states.filter((s) => s.reachable && !s.sealed).map((s) => s.id),
    // Under an auto seal a sealed node waits for its unsealer, not for keys.
    sealedNodes: sealType === "shamir" ? states.filter((s) => s.reachable && s.sealed).map((s) => s.id) : [],
    sealType,
  };
}

async function unseal(inputs: UnsealInputs): Promise<UnsealOutputs> {
  return withNodes(inputs.nodes, async (nodes) => {
    const before = await snapshot(nodes);
    if (before.sealType === "shamir" || before.sealType === "unknown") await unsealCluster(nodes, inputs.keys);
    return { ...inputs, ...(await snapshot(nodes)) };
  });
}

async function create(inputs: UnsealInputs): Promise<pulumi.dynamic.CreateResult<UnsealOutputs>> {
  const outs = await unseal(inputs);
  return { id: `unseal:${clusterIdentity(inputs.nodes)}`, outs };
}

async function update(_id: string, _olds: UnsealOutputs, news: UnsealInputs): Promise<pulumi.dynamic.UpdateResult<UnsealOutputs>> {
  return { outs: await unseal(news) };
}

async function read(id: string, props?: UnsealOutputs): Promise<pulumi.dynamic.ReadResult<UnsealOutputs>> {
  if (!props?.nodes) throw new Error(`Unseal ${id}: import is not supported; declare the resource in the program instead`);
  return withNodes(props.nodes, async (nodes) => {
    const states = await observe(nodes);
    // A node not answering is left for later; one whose TLS fails is a setting to fix, and recording it in neither list would hide it.
    throwTlsFailure(states);
    return { id, props: { ...props, ...snapshotOf(states) } };
  });
}

/** Leaves the cluster as it is: deleting this resource seals nothing. */
async function remove(): Promise<void> {}

const declared = defineDynamicResource<UnsealInputs, UnsealOutputs, UnsealArgs>({
  type: "Unseal",
  module: "providers/unseal",
  opsExport: "unsealOps",
  version: UNSEAL_VERSION,
  fields: { nodes: nodeAccess, keys: stringList("unseal keys (VaultInit.keys)") },
  outputs: ["unsealedNodes", "sealedNodes", "sealType"],
  secretOutputs: ["keys", "nodes"],
  // Nodes sealed now (restarted pods), seen with no refresh: the update unseals them.
  drifted: (now) => (now.sealedNodes ?? []).length > 0,
  ops: { create, update, read, delete: remove },
});

export const unsealOps: ProviderOps<UnsealInputs, UnsealOutputs> = declared.ops;

export const unsealProvider = declared.provider;

export class Unseal extends declared.Resource {
  declare readonly unsealedNodes: pulumi.Output<string[]>;
  declare readonly sealedNodes: pulumi.Output<string[]>;
  declare readonly sealType: pulumi.Output<string>;
}
