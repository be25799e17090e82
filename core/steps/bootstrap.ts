/**
 * The bootstrap of design.md §2, steps 2–7, on any NodeControl: from two empty clusters to
 * `vault` and `vault-unlock` unsealing each other, and the helper holding a copy of the key
 * that unseals `vault`. The state (keys, tokens) is handed to `save` after every step that
 * creates something, and a run given the saved state continues where the last one stopped.
 * The Pulumi dynamic providers run the same steps one resource at a time.
 */
import { NodeControl, SealSettings } from "../nodes";
import { TransitSeal } from "../render/seal";
import { VaultClient } from "../vault-client";
import { initCluster } from "./init";
import { activeClient } from "./node-state";
import { copyTransitKey } from "./key-copy";
import { migrateSeal } from "./seal-migration";
import { rolloutSeal } from "./rollout";
import { provisionTransitLink } from "./transit-link";
import { unsealCluster, unsealNode, waitClusterUnsealed } from "./unseal";

export interface BootstrapState {
  vaultUnlock?: { unsealKeys: string[]; rootToken: string };
  /** The link vault-unlock → vault (on vault-unlock, seals vault). */
  linkToVault?: { token: string; accessor: string };
  vault?: { recoveryKeys: string[]; rootToken: string };
  /** The link vault → vault-unlock (on vault, seals vault-unlock). */
  linkToVaultUnlock?: { token: string; accessor: string };
  vaultUnlockMigrated?: boolean;
  helper?: { unsealKeys: string[]; rootToken: string; link?: { token: string; accessor: string }; keyVersion?: number };
}

/** Seal stanza settings except the address: TLS files and key names as the nodes see them. */
export type SealTemplate = Omit<TransitSeal, "type" | "address">;

export interface BootstrapOptions {
  vaultUnlock: NodeControl;
  vault: NodeControl;
  /** Addresses the seals use to reach each cluster (a Service on Kubernetes). */
  vaultUnlockAddress: string;
  vaultAddress: string;
  /** How `vault`'s seal reaches vault-unlock (key, mount, TLS files). */
  sealOfVault: SealTemplate;
  /** How vault-unlock's seal reaches `vault`. */
  sealOfVaultUnlock: SealTemplate;
  shares?: number;
  threshold?: number;
  tokenPeriod?: string;
  /** The helper (one Shamir node), when a deadlock copy of the key is wanted. */
  helper?: { client: VaultClient; address: string };
  state?: BootstrapState;
  save?: (state: BootstrapState) => void | Promise<void>;
  timeoutMs?: number;
  log?: (msg: string) => void;
}

export const transitSeal = (address: string, t: SealTemplate): TransitSeal => ({ type: "transit", address, ...t });

export async function bootstrapMutualUnseal(o: BootstrapOptions): Promise<BootstrapState> {
  const state: BootstrapState = { ...(o.state ?? {}) };
  const save = async () => o.save?.(structuredClone(state));
  const log = o.log ?? (() => undefined);
  const shares = o.shares ?? 3;
  const threshold = o.threshold ?? 2;
  const timeoutMs = o.timeoutMs ?? 120_000;
  // Init goes to the first node (the one the others join); later admin calls go to the
  // active node, since OpenBao standbys may serve reads from a state a moment behind.
  const vu = o.vaultUnlock.client(o.vaultUnlock.nodeIds()[0]);
  const v = o.vault.client(o.vault.nodeIds()[0]);

  // 2. vault-unlock starts with a Shamir seal: init, unseal every node.
  if (!state.vaultUnlock) {
    log("vault-unlock: init (Shamir)");
    const r = await initCluster(vu, { kind: "shamir", shares, threshold });
    state.vaultUnlock = { unsealKeys: r.keys, rootToken: r.rootToken };
    await save();
  }
  if (!state.vaultUnlockMigrated) {
    log("vault-unlock: unseal every node");
    await unsealCluster(o.vaultUnlock, state.vaultUnlock.unsealKeys, { timeoutMs });
  }
  let vuAdmin = await activeClient(o.vaultUnlock, state.vaultUnlock.rootToken, timeoutMs);

  // 3. The link vault-unlock → vault, with a backup-able key when a helper copy is wanted.
  log("vault-unlock: transit link for vault");
  const toVault = await provisionTransitLink(vuAdmin, {
    mountPath: o.sealOfVault.mountPath,
    keyName: o.sealOfVault.keyName,
    allowBackup: Boolean(o.helper),
    tokenPeriod: o.tokenPeriod,
    displayName: "seal-of-vault",
    existing: state.linkToVault,
  });
  state.linkToVault = { token: toVault.token, accessor: toVault.accessor };
  await save();

  // 4. vault starts already sealed by vault-unlock: init with recovery keys, auto-unseal.
  const vaultSeal: SealSettings = { stanzas: [transitSeal(o.vaultUnlockAddress, o.sealOfVault)], transitToken: toVault.token };
  await o.vault.applySeal(vaultSeal);
  if (!state.vault) {
    log("vault: start sealed by vault-unlock's transit");
    await rolloutSeal(o.vault, { adminToken: "", timeoutMs, log, startOnly: true });
    log("vault: init (recovery keys)");
    const r = await initCluster(v, { kind: "recovery", shares, threshold });
    state.vault = { recoveryKeys: r.keys, rootToken: r.rootToken };
    await save();
  }
  await rolloutSeal(o.vault, { adminToken: state.vault.rootToken, timeoutMs, log });
  await waitClusterUnsealed(o.vault, { timeoutMs });
  const vAdmin = await activeClient(o.vault, state.vault.rootToken, timeoutMs);

  // 5. The link vault → vault-unlock.
  log("vault: transit link for vault-unlock");
  const toVu = await provisionTransitLink(vAdmin, {
    mountPath: o.sealOfVaultUnlock.mountPath,
    keyName: o.sealOfVaultUnlock.keyName,
    tokenPeriod: o.tokenPeriod,
    displayName: "seal-of-vault-unlock",
    existing: state.linkToVaultUnlock,
  });
  state.linkToVaultUnlock = { token: toVu.token, accessor: toVu.accessor };
  await save();

  // 6. vault-unlock migrates Shamir → transit; its unseal keys become recovery keys.
  log("vault-unlock: seal migration Shamir → transit");
  await migrateSeal(o.vaultUnlock, {
    from: { type: "shamir" },
    to: transitSeal(o.vaultAddress, o.sealOfVaultUnlock),
    toToken: toVu.token,
    keys: state.vaultUnlock.unsealKeys,
    adminToken: state.vaultUnlock.rootToken,
    timeoutMs,
    log,
  });
  state.vaultUnlockMigrated = true;
  await save();

  // 7. The helper: Shamir, unsealed by hand; it gets a copy of the key that unseals vault.
  if (o.helper) {
    const h = o.helper.client;
    if (!state.helper) {
      log("helper: init (Shamir)");
      const r = await initCluster(h, { kind: "shamir", shares, threshold });
      state.helper = { unsealKeys: r.keys, rootToken: r.rootToken };
      await save();
    }
    await unsealNode(h, state.helper.unsealKeys, { timeoutMs });
    const hAdmin = h.withToken(state.helper.rootToken);
    log("helper: copy of vault's transit key");
    vuAdmin = await activeClient(o.vaultUnlock, state.vaultUnlock.rootToken, timeoutMs);
    const { version } = await copyTransitKey(vuAdmin, hAdmin, o.sealOfVault);
    const link = await provisionTransitLink(hAdmin, {
      mountPath: o.sealOfVault.mountPath,
      keyName: o.sealOfVault.keyName,
      createKey: false,
      tokenPeriod: o.tokenPeriod,
      displayName: "emergency-seal-of-vault",
      existing: state.helper.link,
    });
    state.helper = { ...state.helper, link: { token: link.token, accessor: link.accessor }, keyVersion: version };
    await save();
  }
  return state;
}

/** vault's seal settings pointing at the helper: the same key, another address and token. */
export function emergencySeal(o: Pick<BootstrapOptions, "sealOfVault">, helperAddress: string, helperToken: string): SealSettings {
  return { stanzas: [transitSeal(helperAddress, o.sealOfVault)], transitToken: helperToken };
}
