/**
 * Seal tokens a TransitLink replaced while they were still alive (a new period or policy:
 * TransitLink's `supersededAccessors`), revoked on the link's unsealer by the step that moves
 * the sealed cluster's nodes onto the new token (SealRollout for `vault`, SealMigration for
 * `vault-unlock`), once every node runs and is unsealed on the new settings. Not before:
 * a node still on the old token would lose its seal at its next restart, or at once when the
 * seal next renews it.
 *
 * Written once here for both steps: the input's rule, the revocation, and what the step
 * records (`revokedAccessors`). A run that fails or stops before it records them revokes them
 * again next time; revoking a token gone already is fine (revokeByAccessor).
 */
import * as pulumi from "@pulumi/pulumi";
import { NodeControl } from "../core/nodes";
import { activeClient } from "../core/steps/node-state";
import { revokeByAccessor } from "../core/steps/token-health";
import { waitClusterUnsealed } from "../core/steps/unseal";
import type { FieldRule } from "./dynamic-resource";
import { NodeAccess, NodeAccessArgs, nodeAccessProblems, withNodes } from "./node-access";
import { describeValue, Failures, isUnknown, adminToken } from "./provider-inputs";

/** The link's unsealer, where the superseded tokens live, and their accessors. */
export interface SupersededTokens {
  unsealer: NodeAccess;
  /** The unsealer's root (or sudo) token: revoking another token by accessor needs it. */
  adminToken: string;
  /** TransitLink.supersededAccessors of the link whose token the nodes are moved onto. */
  accessors: string[];
}

export interface SupersededTokensArgs {
  unsealer: pulumi.Input<NodeAccessArgs>;
  adminToken: pulumi.Input<string>;
  accessors: pulumi.Input<pulumi.Input<string>[]>;
}

function supersededTokensProblems(v: unknown, path: string, f: Failures): void {
  if (v === undefined || isUnknown(v)) return;
  if (!v || typeof v !== "object" || Array.isArray(v)) {
    f.add(path, `must be { unsealer, adminToken, accessors }, got ${describeValue(v)}`);
    return;
  }
  const s = v as Record<string, unknown>;
  nodeAccessProblems(s.unsealer, `${path}.unsealer`, f);
  f.field(s, "adminToken", `${path}.adminToken`, adminToken("the unsealer's", "revoking the superseded seal tokens needs it"));
  f.field(s, "accessors", `${path}.accessors`, (a) => {
    if (!Array.isArray(a)) return `must be a list of token accessors (TransitLink.supersededAccessors), got ${describeValue(a)}`;
    const bad = a.findIndex((x) => !isUnknown(x) && (typeof x !== "string" || x === ""));
    return bad >= 0 ? `element ${bad} must be a non-empty string (a token accessor)` : undefined;
  });
}

/** The optional `supersededTokens` input of SealRollout and SealMigration. */
export const supersededTokens: FieldRule = { nested: supersededTokensProblems };

/**
 * Revokes the superseded tokens once every node of `sealed` is unsealed. The caller has just
 * made every node run on the new settings (its rollout or migration); returns the accessors
 * revoked, which the step records as `revokedAccessors`.
 */
export async function revokeSuperseded(sealed: NodeControl, s: SupersededTokens | undefined, timeoutMs = 120_000): Promise<string[]> {
  if (!s || s.accessors.length === 0) return [];
  await waitClusterUnsealed(sealed, { timeoutMs });
  await withNodes(s.unsealer, async (nodes) => {
    const admin = await activeClient(nodes, s.adminToken);
    for (const accessor of s.accessors) await revokeByAccessor(admin, accessor);
  });
  return [...s.accessors];
}
