/**
 * The primary stack: its config parsed (every bad value fails here, before any resource is
 * registered), the MutualUnsealPair built from it, and the outputs its readers use — the
 * helper stack (the key backup, its certificate and namespace: the only secrets here) and the
 * operator (addresses, seal types, key versions, token accessors).
 *
 * No root token and no key is an output: whoever may read a stack's outputs (any program
 * with a StackReference to it, `pulumi stack output`) would hold them. They stay in the
 * state, as the init resources' secret outputs (README "Secrets: what, where, who can read").
 */
import * as pulumi from "@pulumi/pulumi";
import { PRIMARY_TEXT_KEYS, parsePrimaryConfig, primaryContexts } from "../components/config";
import { MutualUnsealPair } from "../components/mutual-unseal-pair";
import { hostOf } from "../components/transit-unseal-link";
import { TRANSIT_KEY, TRANSIT_MOUNT } from "../core/pair-plan";
import { contextProblems, rawConfig, readKubeconfig } from "./read-config";

export function primaryProgram() {
  const raw = rawConfig(PRIMARY_TEXT_KEYS);
  const kubeconfigText = readKubeconfig();
  const cfg = parsePrimaryConfig(raw, contextProblems(kubeconfigText, primaryContexts(raw)));
  const emergencyToken = cfg.emergency
    ? (new pulumi.StackReference(cfg.helperStack!).requireOutput("emergencySealToken") as pulumi.Output<string>)
    : undefined;
  const pair = new MutualUnsealPair("pair", { config: cfg, kubeconfig: pulumi.secret(kubeconfigText), emergencyToken });

  return {
    vaultAddress: pair.vaultAddress,
    vaultUnlockAddress: pair.vaultUnlockAddress,
    vaultIngressHost: cfg.ingressHost,
    /** The CA of the Ingress's certificate, when the stack issued it (no ingressTlsSecret). */
    vaultIngressCaCertPem: pair.edgeCaCertPem,
    /** The CA of vault's server certificate, for its clients inside the cluster (each Vault cluster has its own CA). */
    vaultCaCertPem: pair.vaultCaCertPem,
    vaultUnlockCaCertPem: pair.vaultUnlockCaCertPem,
    vaultUnlockSealType: pair.vaultUnlockSealType,
    transitMount: TRANSIT_MOUNT,
    transitKeyName: TRANSIT_KEY,
    transitKeyBackup: pair.transitKeyBackup,
    transitKeyVersion: pair.transitKeyVersion,
    transitKeyLatestVersion: pair.transitKeyLatestVersion,
    sealOfVaultTokenAccessor: pair.sealOfVaultTokenAccessor,
    sealOfVaultUnlockTokenAccessor: pair.sealOfVaultUnlockTokenAccessor,
    helperTls: pair.helperTls,
    /** The helper stack's providers' client certificate for the helper (secret). */
    helperOperatorTls: pair.helperOperatorTls,
    helperServerName: cfg.helperAddress ? hostOf(cfg.helperAddress) : undefined,
    helperNamespace: cfg.helperNamespace,
    emergency: cfg.emergency,
    vaultSealAddress: pair.vaultSealAddress,
    /** With recoveryPgpKeys: both clusters' recovery keys, shares only their PGP keys' holders can decrypt. */
    recoveryKeysEncrypted: pair.recoveryKeysEncrypted,
  };
}
