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
import { observe } from "../core/steps/node-state";
import { unsealCluster } from "../core/steps/unseal";
import { clusterIdentity, NodeAccess, NodeAccessArgs, nodeAccessProblems, withNodes } from "./node-access";
import { driftDiff } from "./live-state";
import { ProviderOps, trampoline } from "./project-require";
import { checked, checkVersion, Failures, stringList, withSecretOutputs } from "./provider-inputs";

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

const INPUT_KEYS = ["version", "nodes", "keys"] as const;

/** Unsealed and sealed node ids as the nodes report them; unreachable nodes are in neither list. */
async function snapshot(nodes: NodeControl): Promise<Pick<UnsealOutputs, "unsealedNodes" | "sealedNodes" | "sealType">> {
  const states = await observe(nodes);
  const sealType = states.find((s) => s.reachable && s.type)?.type ?? "unknown";
  return {
    unsealedNodes: states.filter((s) => s.reachable && !s.sealed).map((s) => s.id),
    // Under an auto seal a sealed node waits for its unsealer, not for keys.
    sealedNodes: sealType === "shamir" ? states.filter((s) => s.reachable && s.sealed).map((s) => s.id) : [],
    sealType,
  };
}

async function check(_olds: Partial<UnsealInputs>, news: UnsealInputs): Promise<pulumi.dynamic.CheckResult<UnsealInputs>> {
  const f = new Failures();
  checkVersion(news, UNSEAL_VERSION, f);
  nodeAccessProblems(news.nodes, "nodes", f);
  f.field(news as unknown as Record<string, unknown>, "keys", "keys", stringList("unseal keys (VaultInit.keys)"));
  return checked(news, f);
}

async function diff(id: string, olds: UnsealOutputs, news: UnsealInputs): Promise<pulumi.dynamic.DiffResult> {
  // Nodes sealed now (restarted pods), seen with no refresh (live-state.ts): the update unseals them.
  return driftDiff(id, olds, news, INPUT_KEYS, read, (now) => (now.sealedNodes ?? []).length > 0);
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
  return { id, props: { ...props, ...(await withNodes(props.nodes, snapshot)) } };
}

/** Leaves the cluster as it is: deleting this resource seals nothing. */
async function remove(): Promise<void> {}

export const unsealOps: ProviderOps<UnsealInputs, UnsealOutputs> = { check, diff, create, update, read, delete: remove };

export const unsealProvider = trampoline<UnsealInputs, UnsealOutputs>("providers/unseal", "unsealOps", { read: true });

export class Unseal extends pulumi.dynamic.Resource {
  declare readonly unsealedNodes: pulumi.Output<string[]>;
  declare readonly sealedNodes: pulumi.Output<string[]>;
  declare readonly sealType: pulumi.Output<string>;

  constructor(name: string, args: UnsealArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      unsealProvider,
      name,
      { ...args, version: UNSEAL_VERSION, unsealedNodes: undefined, sealedNodes: undefined, sealType: undefined },
      withSecretOutputs(opts, ["keys", "nodes"]),
      "vault-mutual-unseal",
      "Unseal",
    );
  }
}
