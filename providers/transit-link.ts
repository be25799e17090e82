/**
 * TransitLink: on the unsealer, the transit mount, the key, a least-privilege policy and an
 * orphan periodic token that another cluster's seal uses (the core's provisionTransitLink).
 *
 * - create/update are idempotent: update hands the stored token to the core as `existing`,
 *   which keeps it while it is alive, orphan, periodic with the asked period and holds the
 *   policy. Only a token confirmed gone (TokenGoneError of its accessor) or alive but wrong
 *   is replaced; any other failure of the look (a refused operator token, an unreachable
 *   unsealer) fails the update and issues nothing. An old token replaced while alive is NOT
 *   revoked here, since nodes still running with it would lose their seal: its accessor goes
 *   to `supersededAccessors`, and the step that moves the sealed nodes onto the new token
 *   revokes it once they run on it (superseded-tokens.ts). Accessors found gone on a later
 *   update leave the list.
 * - A different unsealer cluster, mount or key is another link: replacement (the new token
 *   is made first; the old resource's delete at the end of the run follows revokeTokenOnDelete).
 *   Everything else (operator token, policy name, period, allowBackup, display name, how the
 *   cluster is reached) is an update.
 * - delete keeps the mount, the key and the policy (the key wraps the sealed cluster's root
 *   key), and by default the token too: nodes still running on it would lose their seal, and
 *   a periodic token nobody renews dies after one period anyway. With `revokeTokenOnDelete`
 *   it revokes the token and the superseded ones by accessor (credentials, not Vault data).
 * - read (refresh) records the token's TTL and health, and diff takes the same look on every
 *   `up` and preview (live-state.ts): a dead token (expired, revoked) makes the update issue
 *   a new one; with `keepAlive`, a token below half its period is renewed (the core's renewToken).
 */
import * as pulumi from "@pulumi/pulumi";
import { InputError, TokenGoneError } from "../core/errors";
import { activeClient, activeForLook } from "../core/steps/node-state";
import { renewToken, revokeByAccessor, tokenExists, tokenHealth } from "../core/steps/token-health";
import { DEFAULT_TOKEN_PERIOD, durationSeconds, normMount, provisionTransitLink, TransitLinkOptions } from "../core/steps/transit-link";
import { defineDynamicResource } from "./dynamic-resource";
import { clusterIdentity, nodeAccess, NodeAccess, NodeAccessArgs, withNodes } from "./node-access";
import { stateNow } from "./live-state";
import { ProviderOps } from "./project-require";
import {
  changedKeys,
  containsUnknown,
  isUnknown,
  keyName,
  mountPath,
  optionalBoolean,
  optionalString,
  reasonOf,
  adminToken,
} from "./provider-inputs";

export const TRANSIT_LINK_VERSION = 1;

export interface TransitLinkArgs {
  /** The unsealer: the cluster whose transit engine seals the other one. */
  nodes: pulumi.Input<NodeAccessArgs>;
  /** The operator token (or root token) of the unsealer: periodic orphan tokens need it. */
  adminToken: pulumi.Input<string>;
  /** Transit mount path, e.g. "transit". */
  mountPath: pulumi.Input<string>;
  keyName: pulumi.Input<string>;
  /** Policy name; default `<keyName>-seal`. */
  policyName?: pulumi.Input<string>;
  /** Make the key exportable with plaintext backup, for the helper's copy. Irreversible on the server. Default false. */
  allowBackup?: pulumi.Input<boolean>;
  /** Token period, e.g. "720h" (default): how long the sealed cluster may be gone before its token dies. */
  tokenPeriod?: pulumi.Input<string>;
  /** Display name of new tokens, e.g. "seal-of-vault". */
  displayName?: pulumi.Input<string>;
  /** Create the key when missing (default true; false on a helper, whose key is restored from a backup). */
  createKey?: pulumi.Input<boolean>;
  /**
   * Renew the token whenever a `pulumi up` finds it below half its period (default false).
   * For a token no seal renews while it waits: the helper's emergency token.
   */
  keepAlive?: pulumi.Input<boolean>;
  /**
   * Revoke the token (and the superseded ones) when the resource is deleted (default false:
   * the sealed cluster's nodes may still run on it; unrenewed, it dies after one period).
   */
  revokeTokenOnDelete?: pulumi.Input<boolean>;
}

/** The core's link options (documented there), minus the earlier token, which comes from the state. */
export interface TransitLinkInputs extends Omit<TransitLinkOptions, "existing"> {
  version?: number;
  nodes: NodeAccess;
  adminToken: string;
  keepAlive?: boolean;
  revokeTokenOnDelete?: boolean;
}

export interface TransitLinkOutputs extends TransitLinkInputs {
  /** The seal token (secret). */
  token: string;
  accessor: string;
  policyName: string;
  /** Seconds the token has left unless renewed, when last looked at. */
  ttlSeconds: number;
  periodSeconds: number;
  /** TTL right after the token was issued or last renewed (see fullTtl). */
  fullTtlSeconds?: number;
  /** False when the last look found the token at risk or gone. */
  tokenHealthy: boolean;
  tokenVerdict: string;
  /** Accessors of tokens this link replaced while they were alive: the sealed nodes' step revokes them once they run on `token` (absent in states written before it). */
  supersededAccessors?: string[];
}

/** A kept-alive token below half its period: the next update renews it. */
function needsRenewal(o: TransitLinkOutputs): boolean {
  return o.keepAlive === true && o.ttlSeconds < fullTtl(o) / 2;
}

/**
 * The TTL a renewal gives back: the period, capped by the token store's max TTL (768 h by
 * default; a longer period is not reached), as seen when the token was issued or renewed.
 */
function fullTtl(o: Pick<TransitLinkOutputs, "fullTtlSeconds" | "periodSeconds">): number {
  return o.fullTtlSeconds ?? o.periodSeconds;
}

/** A token period such as "720h": without one the token dies at its max TTL whatever renews it. */
function tokenPeriod(v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "string") return "must be a duration such as 720h";
  try {
    return durationSeconds(v) > 0
      ? undefined
      : `"${v}" is not a period: a token without one dies at its max TTL (the article's 32 days); use e.g. 720h`;
  } catch (e) {
    return e instanceof InputError ? reasonOf(e) : String(e);
  }
}

/** Defaults made explicit, so that the stored inputs compare equal on the next run. */
function withDefaults(news: TransitLinkInputs): TransitLinkInputs {
  return {
    ...news,
    policyName:
      news.policyName ?? (typeof news.keyName === "string" && !isUnknown(news.keyName) ? `${news.keyName}-seal` : news.policyName),
    tokenPeriod: news.tokenPeriod ?? DEFAULT_TOKEN_PERIOD,
    allowBackup: news.allowBackup ?? false,
    createKey: news.createKey ?? true,
    keepAlive: news.keepAlive ?? false,
    revokeTokenOnDelete: news.revokeTokenOnDelete ?? false,
  };
}

async function diff(id: string, olds: TransitLinkOutputs, news: TransitLinkInputs): Promise<pulumi.dynamic.DiffResult> {
  const changed = changedKeys<TransitLinkInputs>(olds, news, declared.inputKeys);
  const replaces: string[] = [];
  const newCluster = clusterIdentity(news.nodes);
  if (newCluster !== undefined && newCluster !== clusterIdentity(olds.nodes)) replaces.push("nodes");
  if (!containsUnknown(news.mountPath) && normMount(news.mountPath) !== normMount(olds.mountPath)) replaces.push("mountPath");
  if (!containsUnknown(news.keyName) && news.keyName !== olds.keyName) replaces.push("keyName");
  if (changed.length > 0) return { changes: true, replaces, deleteBeforeReplace: false };
  // The token as it is now: dead or at risk means the update issues or renews one.
  const now = await stateNow(read, id, olds);
  return { changes: now.tokenHealthy === false || needsRenewal(now), replaces, deleteBeforeReplace: false };
}

async function provision(
  inputs: TransitLinkInputs,
  existing?: { token: string; accessor: string; fullTtlSeconds?: number },
  superseded: string[] = [],
): Promise<TransitLinkOutputs> {
  return withNodes(inputs.nodes, async (nodes) => {
    const admin = await activeClient(nodes, inputs.adminToken);
    // Those revoked (or expired) since: nothing left to revoke.
    const stillAlive: string[] = [];
    for (const a of superseded) if (await tokenExists(admin, a)) stillAlive.push(a);
    const link = await provisionTransitLink(admin, {
      mountPath: inputs.mountPath,
      keyName: inputs.keyName,
      policyName: inputs.policyName,
      allowBackup: inputs.allowBackup,
      tokenPeriod: inputs.tokenPeriod,
      displayName: inputs.displayName,
      createKey: inputs.createKey,
      existing,
    });
    let h = link.health;
    let full = link.tokenCreated ? h.ttlSeconds : fullTtl({ fullTtlSeconds: existing?.fullTtlSeconds, periodSeconds: h.periodSeconds });
    if (inputs.keepAlive && !link.tokenCreated && h.ttlSeconds < full / 2) {
      h = await renewToken(admin, link.accessor);
      full = h.ttlSeconds;
    }
    return {
      ...inputs,
      token: link.token,
      accessor: link.accessor,
      policyName: link.policyName,
      ttlSeconds: h.ttlSeconds,
      periodSeconds: h.periodSeconds,
      fullTtlSeconds: full,
      tokenHealthy: h.healthy,
      tokenVerdict: h.verdict,
      supersededAccessors: link.superseded ? [...stillAlive, link.superseded] : stillAlive,
    };
  });
}

async function create(inputs: TransitLinkInputs): Promise<pulumi.dynamic.CreateResult<TransitLinkOutputs>> {
  return {
    id: `transit-link:${clusterIdentity(inputs.nodes)}:${normMount(inputs.mountPath)}/${inputs.keyName}`,
    outs: await provision(inputs),
  };
}

async function update(
  _id: string,
  olds: TransitLinkOutputs,
  news: TransitLinkInputs,
): Promise<pulumi.dynamic.UpdateResult<TransitLinkOutputs>> {
  const existing =
    olds.token && olds.accessor ? { token: olds.token, accessor: olds.accessor, fullTtlSeconds: olds.fullTtlSeconds } : undefined;
  return { outs: await provision(news, existing, olds.supersededAccessors) };
}

async function read(id: string, props?: TransitLinkOutputs): Promise<pulumi.dynamic.ReadResult<TransitLinkOutputs>> {
  if (!props?.nodes || !props.accessor)
    throw new Error(`TransitLink ${id}: import is not supported; declare the resource in the program instead`);
  return withNodes(props.nodes, async (nodes) => {
    // A sealed unsealer cannot be asked; keep what is known rather than fail the refresh.
    const active = await activeForLook(nodes);
    if (!active) return { id, props };
    const admin = nodes.client(active, props.adminToken);
    try {
      const h = await tokenHealth(admin, props.accessor);
      return {
        id,
        props: { ...props, ttlSeconds: h.ttlSeconds, periodSeconds: h.periodSeconds, tokenHealthy: h.healthy, tokenVerdict: h.verdict },
      };
    } catch (e) {
      // The seal token gone (expired, revoked); a gone operator token is not this, and fails the read with its message.
      if (!(e instanceof TokenGoneError && e.gone === "accessor")) throw e;
      return {
        id,
        props: {
          ...props,
          ttlSeconds: 0,
          tokenHealthy: false,
          tokenVerdict: `gone: the token with accessor ${props.accessor} expired or was revoked; the next update issues a new one`,
        },
      };
    }
  });
}

/**
 * Keeps the mount, the key and the policy; revokes the tokens only when asked to
 * (`revokeTokenOnDelete`): by default a deleted link leaves its token alive, since the sealed
 * cluster's nodes may still run on it and would lose their seal; left unrenewed (nothing
 * seals through it any more), a periodic token dies after one period.
 */
async function remove(id: string, props: TransitLinkOutputs): Promise<void> {
  if (!props.accessor || props.revokeTokenOnDelete !== true) return;
  const accessors = [...(props.supersededAccessors ?? []), props.accessor];
  try {
    await withNodes(props.nodes, async (nodes) => {
      const admin = await activeClient(nodes, props.adminToken);
      for (const a of accessors) await revokeByAccessor(admin, a);
    });
  } catch (e) {
    throw new Error(
      `TransitLink ${id}: could not revoke the seal token (accessor ${props.accessor}): ${(e as Error).message}. ` +
        `Revoke it by hand (bao token revoke -accessor ${props.accessor}) and drop the resource with pulumi state delete.`,
      { cause: e },
    );
  }
}

const declared = defineDynamicResource<TransitLinkInputs, TransitLinkOutputs, TransitLinkArgs>({
  type: "TransitLink",
  module: "providers/transit-link",
  opsExport: "transitLinkOps",
  version: TRANSIT_LINK_VERSION,
  fields: {
    nodes: nodeAccess,
    adminToken: adminToken("the unsealer's", "it mints the seal tokens"),
    mountPath,
    keyName,
    policyName: optionalString,
    allowBackup: optionalBoolean,
    tokenPeriod,
    displayName: optionalString,
    createKey: optionalBoolean,
    keepAlive: optionalBoolean,
    revokeTokenOnDelete: optionalBoolean,
  },
  defaults: withDefaults,
  // policyName is also an input: registered as an output, it is known even when left to its default.
  outputs: ["token", "accessor", "policyName", "ttlSeconds", "periodSeconds", "tokenHealthy", "tokenVerdict", "supersededAccessors"],
  secretOutputs: ["token", "adminToken", "nodes"],
  ops: { diff, create, update, read, delete: remove },
});

export const transitLinkOps: ProviderOps<TransitLinkInputs, TransitLinkOutputs> = declared.ops;

export const transitLinkProvider = declared.provider;

export class TransitLink extends declared.Resource {
  declare readonly token: pulumi.Output<string>;
  declare readonly accessor: pulumi.Output<string>;
  declare readonly policyName: pulumi.Output<string>;
  declare readonly ttlSeconds: pulumi.Output<number>;
  declare readonly periodSeconds: pulumi.Output<number>;
  declare readonly tokenHealthy: pulumi.Output<boolean>;
  declare readonly tokenVerdict: pulumi.Output<string>;
  declare readonly supersededAccessors: pulumi.Output<string[]>;
}
