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
import { clusterAccess } from "./cluster-access";
import { TlsBundle } from "./pki";
import { ZoneSpread } from "./consul-cluster";
import { VaultCluster, VaultExposeArgs, VaultStorageArgs } from "./vault-cluster";

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
  /** The helper's server certificate, issued by the primary's CA (which `vault`'s seal trusts). */
  tls: Input<TlsBundle>;
  /** A name in that certificate, checked by the providers' port-forwards and by `vault`'s emergency seal. */
  serverName: Input<string>;
  /** kubeconfig content for the providers' port-forwards (secret). */
  kubeconfig: Input<string>;
  context?: Input<string>;
  /** Shamir split of the helper's unseal keys; default 3 / 2. */
  keyShares?: number;
  keyThreshold?: number;
  /** The primary stack's transit key backup (secret) and the key's latest version there. */
  backup: Input<string>;
  latestVersion: Input<number>;
  /** Mount and name of the key, as on vault-unlock; default "transit/" and "autounseal". */
  mountPath?: Input<string>;
  keyName?: Input<string>;
  /** Period of the emergency seal token; default 720h. */
  tokenPeriod?: Input<string>;
}

export class HelperBackup extends pulumi.ComponentResource {
  readonly address: pulumi.Output<string>;
  readonly rootToken: pulumi.Output<string>;
  readonly unsealKeys: pulumi.Output<string[]>;
  /** Token `vault`'s emergency seal uses on the helper (secret). */
  readonly emergencyToken: pulumi.Output<string>;
  readonly emergencyAccessor: pulumi.Output<string>;
  /** Key version the helper holds, and whether it is the latest. */
  readonly keyVersion: pulumi.Output<number>;
  readonly inSync: pulumi.Output<boolean>;
  readonly verdict: pulumi.Output<string>;

  constructor(name: string, args: HelperBackupArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vault-mutual-unseal:index:HelperBackup", name, {}, opts);
    const cn = args.clusterName ?? "vault-helper";
    const replicas = args.replicas ?? 1;
    const child = { parent: this };

    const cluster = new VaultCluster(
      `${name}-vault`,
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
      },
      { parent: this },
    );
    const nodes = clusterAccess({
      kubeconfig: args.kubeconfig,
      context: args.context,
      namespace: args.namespace,
      clusterName: cn,
      replicas,
      caPem: pulumi.output(args.tls).apply((t) => t.caCertPem),
      serverName: args.serverName,
    });

    // The keys exist nowhere else: never let a refactoring delete this resource by accident.
    const init = new VaultInit(
      `${name}-init`,
      { nodes, kind: "shamir", shares: args.keyShares ?? 3, threshold: args.keyThreshold ?? 2 },
      { ...child, dependsOn: [cluster], protect: true },
    );
    // Secret wherever they travel (mocks and older engines ignore additionalSecretOutputs).
    this.rootToken = pulumi.secret(init.rootToken);
    this.unsealKeys = pulumi.secret(init.keys);
    const unseal = new Unseal(`${name}-unseal`, { nodes, keys: this.unsealKeys }, child);
    new AuditDevice(`${name}-audit`, { nodes, rootToken: this.rootToken }, { ...child, dependsOn: [unseal] });
    const restore = new TransitKeyRestore(
      `${name}-key-copy`,
      {
        nodes,
        token: this.rootToken,
        mountPath: args.mountPath ?? "transit/",
        keyName: args.keyName ?? "autounseal",
        backup: pulumi.secret(args.backup),
        latestVersion: args.latestVersion,
        failOnDrift: true,
      },
      { ...child, dependsOn: [unseal] },
    );
    const emergency = new TransitLink(
      `${name}-emergency-link`,
      {
        nodes,
        rootToken: this.rootToken,
        mountPath: args.mountPath ?? "transit/",
        keyName: args.keyName ?? "autounseal",
        policyName: "autounseal-seal-of-vault",
        createKey: false,
        allowBackup: false,
        tokenPeriod: args.tokenPeriod ?? "720h",
        displayName: "emergency-seal-of-vault",
        keepAlive: true,
      },
      { ...child, dependsOn: [restore] },
    );

    this.address = cluster.address;
    this.emergencyToken = pulumi.secret(emergency.token);
    this.emergencyAccessor = emergency.accessor;
    this.keyVersion = restore.helperVersion;
    this.inSync = restore.inSync;
    this.verdict = restore.verdict;
    this.registerOutputs({
      address: this.address,
      rootToken: this.rootToken,
      unsealKeys: this.unsealKeys,
      emergencyToken: this.emergencyToken,
      emergencyAccessor: this.emergencyAccessor,
      keyVersion: this.keyVersion,
      inSync: this.inSync,
      verdict: this.verdict,
    });
  }
}
