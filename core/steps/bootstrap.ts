/**
 * What the bootstrap leaves behind, in the shape the lab and the real-server tests read it:
 * the keys and tokens of the pair and of the helper. The steps themselves are the plan
 * (core/pair-plan.ts), run by the stacks and by the lab through the same providers.
 */
import { TransitSeal } from "../render/seal";

/**
 * Each cluster's `operatorToken` is the providers' token after its init (operator-token.ts):
 * the root token of the init is revoked, so it is not here.
 */
export interface BootstrapState {
  vaultUnlock?: { unsealKeys: string[]; operatorToken: string };
  /** The link vault-unlock → vault (on vault-unlock, seals vault). */
  linkToVault?: { token: string; accessor: string };
  vault?: { recoveryKeys: string[]; operatorToken: string };
  /** The link vault → vault-unlock (on vault, seals vault-unlock). */
  linkToVaultUnlock?: { token: string; accessor: string };
  vaultUnlockMigrated?: boolean;
  helper?: { unsealKeys: string[]; operatorToken: string; link?: { token: string; accessor: string }; keyVersion?: number };
}

/** Seal stanza settings except the address: TLS files and key names as the nodes see them. */
export type SealTemplate = Omit<TransitSeal, "type" | "address">;

export const transitSeal = (address: string, t: SealTemplate): TransitSeal => ({ type: "transit", address, ...t });
