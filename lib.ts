/**
 * The library: what another Pulumi program imports from "vault-mutual-unseal" (package.json
 * `main`/`types`/`exports` point at its compiled form, dist/lib.js). This project's own
 * Pulumi program is index.ts (Pulumi.yaml `main`). docs/using-the-components.md says how to
 * use it and what the providers need at deployment time.
 */

// Components and their Args.
export { activeServerName, clusterAccess } from "./components/cluster-access";
export type { ClusterAccessArgs } from "./components/cluster-access";
export { ConsulCluster } from "./components/consul-cluster";
export type { ConsulAgentSettings, ConsulClusterArgs, ZoneSpread } from "./components/consul-cluster";
export { HelperBackup } from "./components/helper-backup";
export type { HelperBackupArgs } from "./components/helper-backup";
export { Pki } from "./components/pki";
export type { ClientCertSpec, IssuedCert, PkiArgs, ServerCertSpec, TlsBundle } from "./components/pki";
export { TransitUnsealLink } from "./components/transit-unseal-link";
export type { TransitUnsealLinkArgs } from "./components/transit-unseal-link";
export { transitSealTo, VaultCluster } from "./components/vault-cluster";
export type {
  VaultClusterArgs,
  VaultExposeArgs,
  VaultIngressArgs,
  VaultNetworkPolicyArgs,
  VaultStorageArgs,
} from "./components/vault-cluster";
export { helperCertSpec, MutualUnsealPair } from "./components/mutual-unseal-pair";
export type { MutualUnsealPairArgs } from "./components/mutual-unseal-pair";
// The typed config MutualUnsealPair takes, with the parsers that report every bad value at once.
export { ConfigError, parseHelperConfig, parsePrimaryConfig } from "./components/config";
export type { HelperConfig, PrimaryConfig } from "./components/config";
// The plan the pair and the helper are built from: names, keys, policies.
export { CLUSTER_NAMES, helperPlan, pairPlan, sealPolicyName, TRANSIT_KEY, TRANSIT_MOUNT } from "./core/pair-plan";
export type { PlanStep } from "./core/pair-plan";

// Dynamic providers: the resources and their Args.
export type { NodeAccessArgs } from "./providers/node-access";
export { AuditDevice } from "./providers/audit-device";
export type { AuditDeviceArgs } from "./providers/audit-device";
export { RecoveryKeyRotation } from "./providers/recovery-key-rotation";
export type { RecoveryKeyRotationArgs } from "./providers/recovery-key-rotation";
export { SealMigration } from "./providers/seal-migration";
export type { SealMigrationArgs } from "./providers/seal-migration";
export { SealRollout } from "./providers/seal-rollout";
export type { SealRolloutArgs } from "./providers/seal-rollout";
export { TransitKeyBackup } from "./providers/transit-key-backup";
export type { TransitKeyBackupArgs } from "./providers/transit-key-backup";
export { TransitKeyRestore } from "./providers/transit-key-restore";
export type { TransitKeyRestoreArgs } from "./providers/transit-key-restore";
export { TransitLink } from "./providers/transit-link";
export type { TransitLinkArgs } from "./providers/transit-link";
export { Unseal } from "./providers/unseal";
export type { UnsealArgs } from "./providers/unseal";
export { VaultInit } from "./providers/vault-init";
export type { VaultInitArgs } from "./providers/vault-init";

// Types the Args above are made of.
export type { TransitSeal } from "./core/render/seal";
export type { Flavour } from "./core/render/server-config";
