/** A small real topology for focused tests: one unsealer node with a transit link ready. */
import { LocalCluster } from "../../adapters/local/local-cluster";
import { initCluster } from "../../core/steps/init";
import { provisionTransitLink, TransitLink } from "../../core/steps/transit-link";
import { unsealCluster } from "../../core/steps/unseal";
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
  const link = await provisionTransitLink(cluster.client(cluster.nodeIds()[0], init.rootToken), { mountPath: "transit", keyName });
  return { cluster, unsealKeys: init.keys, rootToken: init.rootToken, link };
}
