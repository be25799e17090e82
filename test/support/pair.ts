/** A small real topology for focused tests: one unsealer node with a transit link ready. */
import { LocalCluster, LocalClusterOptions } from "../../adapters/local/local-cluster";
import { TransitSeal } from "../../core/render/seal";
import { initCluster } from "../../core/steps/init";
import { activeClient, describe, findActive, observe } from "../../core/steps/node-state";
import { waitFor } from "../../core/wait";
import { provisionTransitLink, TransitLink } from "../../core/steps/transit-link";
import { unsealCluster } from "../../core/steps/unseal";
import { VaultClient } from "../../core/vault-client";
import { Lab } from "./servers";

export interface Unsealer {
  cluster: LocalCluster;
  unsealKeys: string[];
  rootToken: string;
  link: TransitLink;
}

/** A Shamir cluster (default 1 node, client certificates required) holding transit key `keyName`. */
export async function unsealer(lab: Lab, name = "unsealer", keyName = "autounseal", size = 1): Promise<Unsealer> {
  const cluster = await lab.cluster({ name, size, seal: { stanzas: [] }, requireClientCert: true });
  await cluster.startAll();
  const init = await initCluster(cluster.client(cluster.nodeIds()[0]), { kind: "shamir", shares: 3, threshold: 2 });
  await unsealCluster(cluster, init.keys);
  // Unsealed is not yet active: a write before the node takes leadership gets a 500 or a 307.
  const link = await provisionTransitLink(await activeClient(cluster, init.rootToken), { mountPath: "transit", keyName });
  return { cluster, unsealKeys: init.keys, rootToken: init.rootToken, link };
}

/** The transit seal by which `sealed` reaches unsealer `u`: its first node, TLS with `sealed`'s client certificate. */
export function sealTowards(lab: Lab, u: Unsealer, sealed: LocalCluster): TransitSeal {
  return {
    type: "transit",
    address: u.cluster.address(u.cluster.nodeIds()[0]),
    keyName: u.link.keyName,
    mountPath: "transit",
    tlsCaCert: lab.pki.caFile,
    tlsClientCert: sealed.clientCert.certFile,
    tlsClientKey: sealed.clientCert.keyFile,
    tlsServerName: u.cluster.name,
  };
}

/** A running, unsealed 3-node Shamir cluster holding the secret kv/s = "kept". */
export interface ShamirCluster {
  cluster: LocalCluster;
  keys: string[];
  root: string;
  /** Waits until the active node serves the secret unchanged (throws after 30 s). */
  secretIntact(): Promise<void>;
}

export async function shamirClusterWithSecret(lab: Lab, name: string): Promise<ShamirCluster> {
  const cluster = await lab.cluster({ name, size: 3, seal: { stanzas: [] } });
  await cluster.startAll();
  const init = await initCluster(cluster.client(cluster.nodeIds()[0]), { kind: "shamir", shares: 3, threshold: 2 });
  await unsealCluster(cluster, init.keys);
  const admin = cluster.client((await findActive(cluster))!, init.rootToken);
  await admin.write("sys/mounts/kv", { type: "kv" });
  await admin.write("kv/s", { v: "kept" });
  return {
    cluster,
    keys: init.keys,
    root: init.rootToken,
    secretIntact: () =>
      waitFor(
        "the secret to be readable",
        async () => {
          const active = await findActive(cluster);
          if (!active) return { done: false, state: describe(await observe(cluster)) };
          const v = (await cluster.client(active, init.rootToken).read<{ data: { v: string } }>("kv/s")).body.data.v;
          return { done: v === "kept", state: v };
        },
        { timeoutMs: 30_000 },
      ),
  };
}

/** A running, unsealed one-node Shamir cluster (one key share) and a client with its root token. */
export interface ShamirNode {
  cluster: LocalCluster;
  admin: VaultClient;
  keys: string[];
  rootToken: string;
}

export async function shamirNode(
  lab: Lab,
  name: string,
  opts: Partial<Pick<LocalClusterOptions, "audit" | "requireClientCert">> = {},
): Promise<ShamirNode> {
  const cluster = await lab.cluster({ name, size: 1, seal: { stanzas: [] }, ...opts });
  await cluster.startAll();
  const init = await initCluster(cluster.client(cluster.nodeIds()[0]), { kind: "shamir", shares: 1, threshold: 1 });
  await unsealCluster(cluster, init.keys);
  return { cluster, admin: cluster.client(cluster.nodeIds()[0], init.rootToken), keys: init.keys, rootToken: init.rootToken };
}
