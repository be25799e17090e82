/**
 * OperatorToken: a cluster's operator token, made right after its init from the root token,
 * which it then revokes (core/steps/operator-token.ts). Every later step of the plan on that
 * cluster authenticates with this token; none holds a root token.
 *
 * - create makes the policy, the seal policies and token roles of the cluster's links, and
 *   the token, then revokes the root token, and deletes the init record (VaultInit's copy of
 *   the init's answer, there for a lost checkpoint). A crash anywhere is finished by the next
 *   run (the token's ID is derived from the root token).
 * - Each `pulumi up` looks at the token (the diff's live look, providers/live-state.ts) and
 *   renews it below half its 768h period: a deployment left alone for more than a month
 *   loses it, and getting it back is break-glass (the error says how).
 * - A new root token (adopt after break-glass) makes a new operator token and revokes it too.
 * - A change of the cluster's links changes the policy, which this token may not write: the
 *   update goes through when the policy on the server already matches, and otherwise fails
 *   saying how to write it with a break-glass root token.
 * - delete leaves the token: the steps after it would stop working if it went first.
 */
import * as pulumi from "@pulumi/pulumi";
import { InputError, VaultApiError } from "../core/errors";
import { activeClient, activeForLook } from "../core/steps/node-state";
import {
  ensureOperatorToken,
  keepOperatorToken,
  OPERATOR_POLICY,
  OPERATOR_TOKEN_PERIOD,
  operatorPolicy,
  operatorTokenTtl,
  SealGrant,
} from "../core/steps/operator-token";
import { RecoveryApiFlavour } from "../core/steps/recovery-keys";
import { durationSeconds, ensurePolicy } from "../core/steps/transit-link";
import { defineDynamicResource } from "./dynamic-resource";
import { driftDiff } from "./live-state";
import { clusterIdentity, nodeAccess, NodeAccess, NodeAccessArgs, withNodes } from "./node-access";
import { ProviderOps } from "./project-require";
import { Failures, sameValue, token } from "./provider-inputs";

export const OPERATOR_TOKEN_VERSION = 1;

const PERIOD_SECONDS = durationSeconds(OPERATOR_TOKEN_PERIOD);

const INPUT_KEYS = ["version", "nodes", "rootToken", "flavour", "seals"] as const;

export interface OperatorTokenArgs {
  nodes: pulumi.Input<NodeAccessArgs>;
  /** The root token of the cluster's init (VaultInit.rootToken): revoked by create. */
  rootToken: pulumi.Input<string>;
  flavour: pulumi.Input<RecoveryApiFlavour>;
  /** The transit links this cluster is the unsealer of, or holds the copy for. */
  seals: pulumi.Input<pulumi.Input<SealGrant>[]>;
}

export interface OperatorTokenInputs {
  version?: number;
  nodes: NodeAccess;
  rootToken: string;
  flavour: RecoveryApiFlavour;
  seals: SealGrant[];
}

export interface OperatorTokenOutputs extends OperatorTokenInputs {
  /** The operator token (secret). */
  token: string;
  accessor: string;
  /** Seconds it has left unless renewed; 0 when the server no longer knows it. */
  ttlSeconds: number;
}

const flavour = (v: unknown): string | undefined => (v === "openbao" || v === "vault" ? undefined : `must be "openbao" or "vault"`);

function sealsProblems(v: unknown, path: string, f: Failures): void {
  if (!Array.isArray(v))
    return f.add(path, "must be a list of transit links ({ mountPath, keyName, policyName, backup, restore, tokenPeriod })");
  v.forEach((g: Partial<SealGrant>, i) => {
    for (const k of ["mountPath", "keyName", "policyName", "tokenPeriod"] as const)
      if (typeof g?.[k] !== "string" || !g[k]) f.add(`${path}[${i}].${k}`, "must be a non-empty string");
    for (const k of ["backup", "restore"] as const) if (typeof g?.[k] !== "boolean") f.add(`${path}[${i}].${k}`, "must be true or false");
  });
}

async function create(inputs: OperatorTokenInputs): Promise<pulumi.dynamic.CreateResult<OperatorTokenOutputs>> {
  return withNodes(inputs.nodes, async (nodes) => {
    const t = await ensureOperatorToken(await activeClient(nodes), inputs.rootToken, inputs);
    // The init's outputs are this step's inputs, so the engine has checkpointed them: the
    // init record (VaultInit's copy for a lost checkpoint) is a second copy now, and goes.
    await nodes.forgetInitRecord();
    return { id: `operator-token:${clusterIdentity(inputs.nodes)}`, outs: { ...inputs, ...pick(t) } };
  });
}

const pick = (t: { token: string; accessor: string; ttlSeconds: number }) => ({
  token: t.token,
  accessor: t.accessor,
  ttlSeconds: t.ttlSeconds,
});

async function update(
  _id: string,
  olds: OperatorTokenOutputs,
  news: OperatorTokenInputs,
): Promise<pulumi.dynamic.UpdateResult<OperatorTokenOutputs>> {
  return withNodes(news.nodes, async (nodes) => {
    const client = await activeClient(nodes);
    // A new root token (adopt after break-glass): a new operator token, and the root revoked.
    if (news.rootToken !== olds.rootToken) return { outs: { ...news, ...pick(await ensureOperatorToken(client, news.rootToken, news)) } };
    if (!sameValue(olds.seals, news.seals) || olds.flavour !== news.flavour) {
      await ensurePolicy(client.withToken(olds.token), OPERATOR_POLICY, operatorPolicy(news)).catch((e: unknown) => {
        if (!(e instanceof VaultApiError && e.status === 403)) throw e;
        throw new InputError(
          "seals",
          `the operator policy must change for these transit links, and the operator token may not write policies. ` +
            `Generate a root token with the recovery keys (README, "Break-glass") and run \`pulumi up\` with it as this cluster's adopt.rootToken: ` +
            `that writes the new policy and issues a new operator token`,
        );
      });
    }
    return { outs: { ...news, ...pick(await keepOperatorToken(client, olds.token, PERIOD_SECONDS)) } };
  });
}

async function read(id: string, props?: OperatorTokenOutputs): Promise<pulumi.dynamic.ReadResult<OperatorTokenOutputs>> {
  if (!props?.nodes || !props.token)
    throw new Error(`OperatorToken ${id}: import is not supported; declare the resource in the program instead`);
  return withNodes(props.nodes, async (nodes) => {
    const active = await activeForLook(nodes);
    if (!active) return { id, props };
    return { id, props: { ...props, ttlSeconds: (await operatorTokenTtl(nodes.client(active), props.token)) ?? 0 } };
  });
}

async function diff(id: string, olds: OperatorTokenOutputs, news: OperatorTokenInputs): Promise<pulumi.dynamic.DiffResult> {
  const cluster = clusterIdentity(news.nodes);
  if (cluster !== undefined && cluster !== clusterIdentity(olds.nodes))
    return { changes: true, replaces: ["nodes"], deleteBeforeReplace: false };
  // Below half its period (or gone): the update renews it (or says how to get it back).
  return driftDiff(id, olds, news, INPUT_KEYS, read, (now) => now.ttlSeconds < PERIOD_SECONDS / 2);
}

async function remove(): Promise<void> {}

const declared = defineDynamicResource<OperatorTokenInputs, OperatorTokenOutputs, OperatorTokenArgs>({
  type: "OperatorToken",
  module: "providers/operator-token",
  opsExport: "operatorTokenOps",
  version: OPERATOR_TOKEN_VERSION,
  fields: {
    nodes: nodeAccess,
    rootToken: token("the root token of the cluster's init (revoked once the operator token exists)"),
    flavour,
    seals: { nested: sealsProblems },
  },
  outputs: ["token", "accessor", "ttlSeconds"],
  secretOutputs: ["token", "rootToken", "nodes"],
  ops: {
    diff,
    create,
    update,
    read,
    delete: remove,
  },
});

export const operatorTokenOps: ProviderOps<OperatorTokenInputs, OperatorTokenOutputs> = declared.ops;

export const operatorTokenProvider = declared.provider;

export class OperatorToken extends declared.Resource {
  declare readonly token: pulumi.Output<string>;
  declare readonly accessor: pulumi.Output<string>;
  declare readonly ttlSeconds: pulumi.Output<number>;
}
