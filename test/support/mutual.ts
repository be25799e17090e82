/**
 * The whole topology on loopback for real-server tests: vault-unlock (3 nodes, accepts only
 * clients with a certificate from the CA), vault (3 nodes), the helper (1 node), a
 * Service-like proxy in front of each cluster, bootstrapped by the core.
 */
import { LocalCluster } from "../../adapters/local/local-cluster";
import { ServiceProxy } from "../../adapters/local/service-proxy";
import { BootstrapState, bootstrapMutualUnseal, SealTemplate, transitSeal } from "../../core/steps/bootstrap";
import { SealSettings } from "../../core/nodes";
import { Lab } from "./servers";

export interface Mutual {
  vault: LocalCluster;
  vaultUnlock: LocalCluster;
  helper: LocalCluster;
  vaultService: ServiceProxy;
  vaultUnlockService: ServiceProxy;
  sealOfVault: SealTemplate;
  sealOfVaultUnlock: SealTemplate;
  state: BootstrapState;
  /** Snapshots the bootstrap handed to `save`, in order. */
  saves: BootstrapState[];
  normalSeal(): SealSettings;
  emergencySeal(): SealSettings;
}

export async function mutualTopology(lab: Lab, opts: { helper?: boolean; gateMs?: number; tokenPeriod?: string; onSave?: (s: BootstrapState, clusters: { vault: LocalCluster; vaultUnlock: LocalCluster }) => Promise<void> } = {}): Promise<Mutual> {
  const peerGate = { timeoutMs: opts.gateMs ?? 30_000 };
  const vaultUnlock = await lab.cluster({ name: "vault-unlock", size: 3, seal: { stanzas: [] }, requireClientCert: true, peerGate });
  const vault = await lab.cluster({ name: "vault", size: 3, seal: { stanzas: [] }, peerGate });
  const helper = await lab.cluster({ name: "helper", size: 1, seal: { stanzas: [] }, requireClientCert: true });
  await Promise.all([vaultUnlock.startAll(), opts.helper === false ? Promise.resolve() : helper.startAll()]);
  const vaultUnlockService = await lab.service(vaultUnlock);
  const vaultService = await lab.service(vault);

  const sealOfVault: SealTemplate = {
    keyName: "autounseal", mountPath: "transit/", tlsCaCert: lab.pki.caFile,
    tlsClientCert: vault.clientCert.certFile, tlsClientKey: vault.clientCert.keyFile, tlsServerName: "vault-unlock",
  };
  const sealOfVaultUnlock: SealTemplate = {
    keyName: "autounseal", mountPath: "transit/", tlsCaCert: lab.pki.caFile,
    tlsClientCert: vaultUnlock.clientCert.certFile, tlsClientKey: vaultUnlock.clientCert.keyFile, tlsServerName: "vault",
  };
  const saves: BootstrapState[] = [];
  const state = await bootstrapMutualUnseal({
    vaultUnlock, vault,
    vaultUnlockAddress: vaultUnlockService.address, vaultAddress: vaultService.address,
    sealOfVault, sealOfVaultUnlock, tokenPeriod: opts.tokenPeriod,
    helper: opts.helper === false ? undefined : { client: helper.client(helper.nodeIds()[0]), address: helper.address(helper.nodeIds()[0]) },
    save: async (s) => {
      saves.push(s);
      await opts.onSave?.(s, { vault, vaultUnlock });
    },
  });
  const m: Mutual = {
    vault, vaultUnlock, helper, vaultService, vaultUnlockService, sealOfVault, sealOfVaultUnlock, state, saves,
    normalSeal: () => ({ stanzas: [transitSeal(vaultUnlockService.address, sealOfVault)], transitToken: m.state.linkToVault!.token }),
    emergencySeal: () => ({
      stanzas: [transitSeal(helper.address(helper.nodeIds()[0]), { ...sealOfVault, tlsServerName: "helper" })],
      transitToken: m.state.helper!.link!.token,
    }),
  };
  return m;
}
