/**
 * SealRollout through its provider object on real servers: the emergency switch of the
 * primary stack. `vault` (3 Raft nodes) is sealed by `vault-unlock`'s key; its seal settings
 * are re-pointed at the helper holding a copy of that key (what the stack does to the seal
 * ConfigMap/Secret), and the update restarts every node onto them, one at a time: afterwards
 * `vault` unseals with `vault-unlock` gone. create and an unchanged digest restart nothing.
 */
import { LocalCluster } from "../../adapters/local/local-cluster";
import { sealSettingsDigest, SealSettings } from "../../core/nodes";
import { TransitSeal } from "../../core/render/seal";
import { initCluster } from "../../core/steps/init";
import { copyTransitKey } from "../../core/steps/key-copy";
import { findActive } from "../../core/steps/node-state";
import { provisionTransitLink } from "../../core/steps/transit-link";
import { waitClusterUnsealed } from "../../core/steps/unseal";
import { SealRolloutInputs, sealRolloutProvider as provider } from "../../providers/seal-rollout";
import { Unsealer, unsealer } from "../support/pair";
import { Lab, newLab } from "../support/servers";
import { checkNew, create, LocalAccess, update } from "./harness";

jest.setTimeout(240_000);

let lab: Lab;
let u: Unsealer;
let helper: Unsealer;
let vault: LocalCluster;
let rootToken: string;
const access = new LocalAccess();

function sealAt(peer: Unsealer, token: string): SealSettings {
  const seal: TransitSeal = {
    type: "transit",
    address: peer.cluster.address(peer.cluster.nodeIds()[0]),
    keyName: "autounseal",
    mountPath: "transit/",
    tlsCaCert: lab.pki.caFile,
    tlsClientCert: vault.clientCert.certFile,
    tlsClientKey: vault.clientCert.keyFile,
    tlsServerName: peer.cluster.name,
  };
  return { stanzas: [seal], transitToken: token };
}

const pids = () => vault.nodeIds().map((id) => vault.pid(id));

beforeAll(async () => {
  lab = await newLab("prov-rollout");
  u = await unsealer(lab, "rollout-unlock");
  const uAdmin = u.cluster.client(u.cluster.nodeIds()[0], u.rootToken);
  await provisionTransitLink(uAdmin, { mountPath: "transit", keyName: "autounseal", allowBackup: true });
  // The helper: its own key is replaced by the copy of vault-unlock's; its token is the emergency one.
  helper = await unsealer(lab, "rollout-helper", "other-key");
  const hAdmin = helper.cluster.client(helper.cluster.nodeIds()[0], helper.rootToken);
  await copyTransitKey(uAdmin, hAdmin, { mountPath: "transit", keyName: "autounseal" });
  helper.link = await provisionTransitLink(hAdmin, {
    mountPath: "transit",
    keyName: "autounseal",
    createKey: false,
    displayName: "emergency",
  });

  vault = await lab.cluster({ name: "rollout-vault", size: 3, seal: { stanzas: [] } });
  await vault.applySeal(sealAt(u, u.link.token));
  await vault.startAll();
  rootToken = (await initCluster(vault.client(vault.nodeIds()[0]), { kind: "recovery", shares: 1, threshold: 1 })).rootToken;
  await waitClusterUnsealed(vault, { timeoutMs: 60_000 });
});
afterAll(async () => {
  access.clear();
  await lab?.destroy();
});

test("create and an unchanged digest restart nothing; a new digest restarts every node onto the new seal", async () => {
  const normal = sealSettingsDigest(sealAt(u, u.link.token));
  const inputs: SealRolloutInputs = await checkNew(provider, {
    version: 1,
    nodes: access.of(vault),
    sealDigest: normal,
    adminToken: rootToken,
    graceSeconds: 0,
  });
  const before = pids();
  const made = await create(provider, inputs);
  expect(made.outs.rolledDigest).toBe(normal);
  expect(await provider.diff!(made.id, made.outs, inputs)).toEqual({ changes: false, replaces: [] });
  await update(provider, made, inputs);
  expect(pids()).toEqual(before);

  // The emergency switch: the seal settings now point at the helper (the stack's ConfigMap/Secret change).
  const emergencySeal = sealAt(helper, helper.link.token);
  await vault.applySeal(emergencySeal);
  const news = { ...inputs, sealDigest: sealSettingsDigest(emergencySeal) };
  expect((await provider.diff!(made.id, made.outs, news)).changes).toBe(true);
  const rolled = await update(provider, made, news);
  expect(rolled.outs.rolledDigest).toBe(news.sealDigest);
  const after = pids();
  after.forEach((pid, i) => expect(pid).not.toBe(before[i]));
  await waitClusterUnsealed(vault, { timeoutMs: 60_000 });

  // Proof that the nodes run on the helper now: with vault-unlock gone, a restarted node still unseals.
  await u.cluster.stopAll();
  const active = await findActive(vault);
  const standby = vault.nodeIds().find((id) => id !== active)!;
  await vault.restart(standby);
  await waitClusterUnsealed(vault, { timeoutMs: 60_000 });
  expect(vault.isRunning(standby)).toBe(true);
});
