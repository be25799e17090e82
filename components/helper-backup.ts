/**
 * HelperBackup: the backup unsealer of the helper stack, the way out of a deadlock (both
 * clusters sealed at once). A VaultCluster with a Shamir seal (one node by default), its
 * init, its unseal, the copy of the transit key that unseals `vault` restored from the
 * primary stack's backup, and the helper's own seal token for `vault`'s emergency seal.
 *
 * - Shamir by design: the helper is the last line, it depends on nothing but its keys, and
 *   in a deadlock it is unsealed by hand (README runbook). `pulumi up` unseals it to restore
 *   the copy.
 * - Drift check: the restore compares the helper's key version with the key's latest version
 *   on `vault-unlock` (as the primary stack last saw it) and FAILS `pulumi up` when the copy
 *   is behind, naming what to run; a stale copy would break the deadlock path silently at
 *   `vault`'s next leader change.
 * - Fenced: a NetworkPolicy admits the API port only from `vault`'s ranges (`peerCidrs`) and
 *   the helper's own pods (Raft), like vault-unlock's (vaultNetworkPolicy, one rule for both).
 * - The emergency token is an orphan periodic token on the helper with the same
 *   least-privilege policy (TransitLink with createKey false: the key is the restored copy).
 */
import * as pulumi from "@pulumi/pulumi";
import { Flavour } from "../core/render/server-config";
import { AuditDevice } from "../providers/audit-device";
import { TransitKeyRestore } from "../providers/transit-key-restore";
import { TransitLink } from "../providers/transit-link";
import { Unseal } from "../providers/unseal";
import { VaultInit } from "../providers/vault-init";
import { CLUSTER_NAMES, helperPlan, PlanStep, REQUIRES_CLIENT_CERT, sealGrantsOf, sealPolicyName } from "../core/pair-plan";
import { OperatorToken } from "../providers/operator-token";
import { clusterAccess } from "./cluster-access";
import { TlsBundle } from "./pki";
import { ZoneSpread } from "./consul-cluster";
import { VaultCluster, VaultExposeArgs, VaultStorageArgs } from "./vault-cluster";
import { DEFAULT_TOKEN_PERIOD } from "../core/steps/transit-link";

type Input<T> = pulumi.Input<T>;

export interface HelperBackupArgs {
  flavour: Flavour;
  namespace: Input<string>;
  /** Default "vault-helper". */
  clusterName?: string;
  image?: Input<string>;
  /** Default 1. */
  replicas?: number;
  /** Default Raft. */
  storage?: VaultStorageArgs;
  zoneSpread?: ZoneSpread;
  /** How `vault`'s emergency seal reaches the helper from its Kubernetes cluster. */
  expose?: VaultExposeArgs;
  /**
   * The ranges `vault`'s emergency seal arrives from (its egress addresses): the helper's
   * NetworkPolicy admits these and the helper's own pods, nothing else. Not empty.
   */
  peerCidrs: Input<string[]>;
  /** The helper's server certificate, from the helper's own CA (the primary stack issues it: `vault`'s emergency seal trusts that CA). */
  tls: Input<TlsBundle>;
  /** A name in that certificate, checked by the providers' port-forwards and by `vault`'s emergency seal. */
  serverName: Input<string>;
  /**
   * The providers' client certificate, from the same CA (the primary's `helperOperatorTls`):
   * the helper serves only clients with one (REQUIRES_CLIENT_CERT); `vault`'s emergency seal
   * presents the one that CA issued to it.
   */
  operatorTls: Input<TlsBundle>;
  /** kubeconfig content for the providers' port-forwards (secret). */
  kubeconfig: Input<string>;
  context?: Input<string>;
  /** The keys and root token of an earlier init of the helper, to take it over (secret; VaultInit's adopt). */
  adopt?: Input<{ keys: string[]; rootToken: string }>;
  /** Shamir split of the helper's unseal keys; default 3 / 2. */
  keyShares?: number;
  keyThreshold?: number;
  /** The primary stack's transit key backup (secret) and the key's latest version there. */
  backup: Input<string>;
  latestVersion: Input<number>;
  /** Mount and name of the key, as on vault-unlock; default the plan's ("transit/", "autounseal"). */
  mountPath?: string;
  keyName?: string;
  /** Period of the emergency seal token; default 720h. */
  tokenPeriod?: Input<string>;
  /** Revoke the emergency token when its link is deleted (TransitLink's revokeTokenOnDelete); default false. */
  revokeTokenOnDelete?: Input<boolean>;
}

export class HelperBackup extends pulumi.ComponentResource {
  readonly address: pulumi.Output<string>;
  /** The providers' token on the helper (secret); its root token is revoked at bootstrap. */
  readonly operatorToken!: pulumi.Output<string>;
  readonly unsealKeys!: pulumi.Output<string[]>;
  /** Token `vault`'s emergency seal uses on the helper (secret). */
  readonly emergencyToken: pulumi.Output<string>;
  readonly emergencyAccessor: pulumi.Output<string>;
  /** Key version the helper holds, and whether it is the latest. */
  readonly keyVersion: pulumi.Output<number>;
  readonly inSync: pulumi.Output<boolean>;
  readonly verdict: pulumi.Output<string>;

  constructor(name: string, args: HelperBackupArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vault-mutual-unseal:index:HelperBackup", name, {}, opts);
    const cn = args.clusterName ?? CLUSTER_NAMES.helper;
    const replicas = args.replicas ?? 1;
    const child = { parent: this };
    const nodes = clusterAccess({
      kubeconfig: args.kubeconfig,
      context: args.context,
      namespace: args.namespace,
      clusterName: cn,
      replicas,
      caPem: pulumi.output(args.tls).apply((t) => t.caCertPem),
      serverName: args.serverName,
      client: pulumi.output(args.operatorTls).apply((t) => ({ certPem: t.certPem, keyPem: t.keyPem })),
    });

    // The helper's steps of the plan (core/pair-plan.ts), each as a resource; the key's mount and name may be another pair's.
    const plan = helperPlan(name).map((s): PlanStep => {
      if (s.kind === "restore") return { ...s, mountPath: args.mountPath ?? s.mountPath, keyName: args.keyName ?? s.keyName };
      if (s.kind !== "link") return s;
      const keyName = args.keyName ?? s.keyName;
      return {
        ...s,
        mountPath: args.mountPath ?? s.mountPath,
        keyName,
        policyName: args.keyName ? sealPolicyName(keyName, CLUSTER_NAMES.vault) : s.policyName,
      };
    });
    const done = new Map<string, pulumi.Resource>();
    const after = (s: PlanStep) => ({ ...child, dependsOn: s.after.map((n) => done.get(n)!) });
    let cluster: VaultCluster | undefined;
    let init: VaultInit | undefined;
    // Every step after the init authenticates with the helper's operator token; the root token is revoked.
    let operator: OperatorToken | undefined;
    let restore: TransitKeyRestore | undefined;
    let emergency: TransitLink | undefined;
    for (const step of plan) {
      switch (step.kind) {
        case "cluster":
          cluster = new VaultCluster(
            step.name,
            {
              clusterName: cn,
              namespace: args.namespace,
              flavour: args.flavour,
              image: args.image,
              replicas,
              storage: args.storage ?? { type: "raft" },
              tls: args.tls,
              zoneSpread: args.zoneSpread,
              expose: args.expose,
              requireClientCert: REQUIRES_CLIENT_CERT.helper,
              // The helper holds the key that unseals `vault` and stays unsealed between runs: fenced to vault's ranges.
              networkPolicy: { peerCidrs: args.peerCidrs },
            },
            after(step),
          );
          done.set(step.name, cluster);
          break;
        case "init":
          init = new VaultInit(
            step.name,
            {
              nodes,
              kind: step.keys,
              shares: args.keyShares ?? 3,
              threshold: args.keyThreshold ?? 2,
              adopt: args.adopt && pulumi.secret(args.adopt),
            },
            { ...after(step), protect: step.protect },
          );
          // Secret wherever they travel (mocks and older engines ignore additionalSecretOutputs).
          this.unsealKeys = pulumi.secret(init.keys);
          done.set(step.name, init);
          break;
        case "unseal":
          done.set(step.name, new Unseal(step.name, { nodes, keys: this.unsealKeys }, after(step)));
          break;
        case "operator-token":
          operator = new OperatorToken(
            step.name,
            {
              nodes,
              rootToken: init!.rootToken,
              flavour: args.flavour,
              seals: pulumi.output(args.tokenPeriod ?? DEFAULT_TOKEN_PERIOD).apply((p: string) => sealGrantsOf(plan, "helper", p)),
            },
            after(step),
          );
          this.operatorToken = operator.token;
          done.set(step.name, operator);
          break;
        case "audit":
          done.set(step.name, new AuditDevice(step.name, { nodes, adminToken: operator!.token }, after(step)));
          break;
        case "restore":
          restore = new TransitKeyRestore(
            step.name,
            {
              nodes,
              token: operator!.token,
              mountPath: step.mountPath,
              keyName: step.keyName,
              backup: pulumi.secret(args.backup),
              latestVersion: args.latestVersion,
              failOnDrift: step.failOnDrift,
            },
            after(step),
          );
          done.set(step.name, restore);
          break;
        case "link":
          emergency = new TransitLink(
            step.name,
            {
              nodes,
              adminToken: operator!.token,
              mountPath: step.mountPath,
              keyName: step.keyName,
              policyName: step.policyName,
              createKey: step.createKey,
              allowBackup: step.allowBackup,
              tokenPeriod: args.tokenPeriod ?? DEFAULT_TOKEN_PERIOD,
              displayName: step.displayName,
              keepAlive: step.keepAlive,
              revokeTokenOnDelete: args.revokeTokenOnDelete ?? false,
            },
            after(step),
          );
          done.set(step.name, emergency);
          break;
        default:
          throw new Error(`HelperBackup ${name}: the helper's plan has a ${step.kind} step (${step.name}), which the helper does not run`);
      }
    }
    if (!cluster || !init || !operator || !restore || !emergency) throw new Error(`HelperBackup ${name}: the helper's plan lacks a step`);

    this.address = cluster.address;
    this.emergencyToken = pulumi.secret(emergency.token);
    this.emergencyAccessor = emergency.accessor;
    this.keyVersion = restore.helperVersion;
    this.inSync = restore.inSync;
    this.verdict = restore.verdict;
    this.registerOutputs({
      address: this.address,
      operatorToken: this.operatorToken,
      unsealKeys: this.unsealKeys,
      emergencyToken: this.emergencyToken,
      emergencyAccessor: this.emergencyAccessor,
      keyVersion: this.keyVersion,
      inSync: this.inSync,
      verdict: this.verdict,
    });
  }
}
