/**
 * Health of the transit tokens: the numbers that tell whether a seal will still be able to
 * unseal its cluster after the next restart. Looked up by accessor, so the token itself is
 * never needed (or shown) to check it.
 */
import { TokenGoneError } from "../errors";
import { VaultClient } from "../vault-client";

export interface TokenHealth {
  accessor: string;
  /** Seconds left before the token dies unless renewed. */
  ttlSeconds: number;
  /** The renewal period (0: not periodic, so it dies at its max TTL whatever happens). */
  periodSeconds: number;
  renewable: boolean;
  orphan: boolean;
  /** 0 means none: a periodic token with no explicit max TTL lives as long as it is renewed. */
  explicitMaxTtlSeconds: number;
  policies: string[];
  expireTime: string | null;
  /** Plain-words verdict, e.g. "healthy: periodic orphan, 719h59m left, renewed by the seal". */
  verdict: string;
  healthy: boolean;
}

interface LookupData {
  accessor: string;
  ttl: number;
  period?: number;
  renewable: boolean;
  orphan: boolean;
  explicit_max_ttl: number;
  policies: string[];
  expire_time: string | null;
}

function hours(s: number): string {
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/**
 * Looks a token up by accessor with an admin token. A token that no longer exists is a
 * TokenGoneError with `gone: "accessor"`; a gone admin token one with `gone: "caller"`.
 */
export async function tokenHealth(admin: VaultClient, accessor: string): Promise<TokenHealth> {
  let d: LookupData;
  try {
    d = (await admin.write<{ data: LookupData }>("auth/token/lookup-accessor", { accessor })).body.data;
  } catch (e) {
    if (e instanceof TokenGoneError && e.gone === "accessor") {
      throw new TokenGoneError(
        e,
        "accessor",
        `the transit token with accessor ${accessor} no longer exists on ${admin.address} (expired or revoked): provision the transit link again to issue a new one`,
      );
    }
    throw e;
  }
  const period = d.period ?? 0;
  const problems: string[] = [];
  if (period === 0) problems.push("not periodic: it will die at its max TTL even while renewed");
  if (d.explicit_max_ttl > 0) problems.push(`has an explicit max TTL of ${hours(d.explicit_max_ttl)}`);
  if (!d.orphan) problems.push("not an orphan: revoking its parent revokes it");
  if (!d.renewable) problems.push("not renewable");
  const healthy = problems.length === 0;
  return {
    accessor: d.accessor,
    ttlSeconds: d.ttl,
    periodSeconds: period,
    renewable: d.renewable,
    orphan: d.orphan,
    explicitMaxTtlSeconds: d.explicit_max_ttl,
    policies: d.policies,
    expireTime: d.expire_time,
    healthy,
    verdict: healthy
      ? `healthy: periodic orphan, ${hours(d.ttl)} left of a ${hours(period)} period, renewed by the seal`
      : `at risk: ${problems.join("; ")}`,
  };
}

/** Renews a token by accessor (resets a periodic token's TTL to its period). */
export async function renewToken(admin: VaultClient, accessor: string): Promise<TokenHealth> {
  await admin.write("auth/token/renew-accessor", { accessor });
  return tokenHealth(admin, accessor);
}

/** Revokes a token by accessor; a token gone already (expired or revoked) is fine: the server may answer either way. */
export async function revokeByAccessor(admin: VaultClient, accessor: string): Promise<void> {
  try {
    await admin.write("auth/token/revoke-accessor", { accessor });
  } catch (e) {
    if (!(e instanceof TokenGoneError && e.gone === "accessor")) throw e;
  }
}

/** Whether the token with `accessor` still exists; any failure other than "gone" is the caller's to see. */
export async function tokenExists(admin: VaultClient, accessor: string): Promise<boolean> {
  try {
    await tokenHealth(admin, accessor);
    return true;
  } catch (e) {
    if (e instanceof TokenGoneError && e.gone === "accessor") return false;
    throw e;
  }
}
