/**
 * The peer gate: a transit-sealed node must not start before its unsealer answers, or the
 * server exits and Kubernetes backs off for up to 5 minutes (CrashLoopBackOff). The gate
 * checks exactly what the seal will need: the TLS settings of the stanza, an unsealed
 * peer, and, given the token, an encrypt call with the seal's key.
 */
import { VaultApiError } from "../errors";
import { TransitSeal } from "../render/seal";
import { VaultClient } from "../vault-client";
import { waitFor } from "../wait";

/** A client that reaches the unsealer with the seal stanza's own TLS settings. */
export function transitPeerClient(seal: TransitSeal, token?: string, timeoutMs = 5000): VaultClient {
  return new VaultClient({
    address: seal.address,
    token,
    timeoutMs,
    tls: { caFile: seal.tlsCaCert, certFile: seal.tlsClientCert, keyFile: seal.tlsClientKey, serverName: seal.tlsServerName },
  });
}

/**
 * Resolves when the transit peer would unseal us; throws the reason otherwise (a TLS error
 * naming the CA file, an unreachable peer, a sealed peer, a refused token).
 */
export async function checkTransitPeer(seal: TransitSeal, token?: string): Promise<void> {
  const client = transitPeerClient(seal, token);
  const health = await client.health();
  if (!health.initialized || health.sealed) {
    throw new Error(
      `transit peer ${seal.address} answers but is ${health.initialized ? "sealed" : "not initialized"}: it cannot unseal anyone until it is unsealed`,
    );
  }
  if (token) {
    const mount = seal.mountPath.replace(/^\/+|\/+$/g, "");
    try {
      await client.write(`${mount}/encrypt/${seal.keyName}`, { plaintext: Buffer.from("peer-gate").toString("base64") });
    } catch (e) {
      if (e instanceof VaultApiError && e.status === 403) {
        throw new Error(
          `transit peer ${seal.address} refused the seal token for ${mount}/encrypt/${seal.keyName} (403): the token expired, was revoked, or lacks the transit policy; issue a new one`,
          { cause: e },
        );
      }
      throw e;
    }
  }
}

/** Waits at the gate until the peer passes checkTransitPeer (the init container's loop). */
export async function waitForTransitPeer(
  seal: TransitSeal,
  token: string | undefined,
  opts: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<void> {
  await waitFor(
    `transit peer ${seal.address}`,
    async () => {
      await checkTransitPeer(seal, token);
      return { done: true, state: "ready" };
    },
    { timeoutMs: opts.timeoutMs ?? 60_000, intervalMs: opts.intervalMs ?? 200 },
  );
}
