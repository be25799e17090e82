/**
 * MutualUnsealPair: `vault` and `vault-unlock`, each on its own storage, unsealing each
 * other through the transit seal, from the parsed primary config. One `pulumi up` on empty
 * clusters runs the pair's plan (core/pair-plan.ts), each step as a resource ordered by
 * data flow and dependsOn; the loopback lab runs the same plan through the same providers.
 *
 * What this component adds to the plan is what only Kubernetes has: namespaces, the PKI,
 * one Consul cluster per Vault cluster (storage consul), the VaultCluster StatefulSets and
 * Services, how each seal reaches its peer (a Service, or transitAddress across Kubernetes
 * clusters), and vault's seal objects (a ConfigMap and a Secret, written by the link before
 * vault exists).
 *
 * `emergencyToken` (config `emergency: true`) points vault's seal at the helper: the same
 * key, the helper's address and token. Clearing it points it back. Both are a change of the
 * seal objects, which the seal rollout turns into a rolling restart.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { vaultNames } from "../adapters/kubernetes/names";
import {
  CLUSTER_NAMES,
  ClusterRole,
  LinkStep,
  MigrationStep,
  pairPlan,
  PlanStep,
  REQUIRES_CLIENT_CERT,
  RolloutStep,
  sealGrantsOf,
  stepOf,
  TRANSIT_KEY,
  TRANSIT_MOUNT,
} from "../core/pair-plan";
import { AuditDevice } from "../providers/audit-device";
import { NodeAccessArgs } from "../providers/node-access";
import { OperatorToken } from "../providers/operator-token";
import { SealMigration } from "../providers/seal-migration";
import { SealRollout } from "../providers/seal-rollout";
import { SupersededTokensArgs } from "../providers/superseded-tokens";
import { TransitKeyBackup } from "../providers/transit-key-backup";
import { Unseal } from "../providers/unseal";
import { RecoveryKeyRotation } from "../providers/recovery-key-rotation";
import { VaultInit } from "../providers/vault-init";
import type { PrimaryConfig } from "./config";
import { exposeArgs } from "./config";
import { activeServerName, clusterAccess } from "./cluster-access";
import { consulCertSpecs, consulClusterOf, consulStorage } from "./consul-storage";
import { Pki, ServerCertSpec, TlsBundle, tlsSecretData } from "./pki";
import { hostOf, TransitUnsealLink } from "./transit-unseal-link";
import {
  API_PORT,
  POD_SECURITY_LABELS,
  vaultCertSpec,
  VaultCluster,
  vaultPodLabels,
  vaultServiceNames,
  VaultStorageArgs,
} from "./vault-cluster";

type Placement = PrimaryConfig["vault"];

export interface MutualUnsealPairArgs {
  /** The primary stack's config, parsed (stacks/config.ts parsePrimaryConfig). */
  config: PrimaryConfig;
  /** kubeconfig content with the contexts the config names (secret): the Kubernetes providers and the port-forwards use it. */
  kubeconfig: pulumi.Input<string>;
  /** The helper's emergency seal token, when `config.emergency` is true (the helper stack's emergencySealToken). */
  emergencyToken?: pulumi.Input<string>;
}

/** The client certificate a cluster's seal presents to its unsealer (issued by the unsealer's CA). */
const transitClient = (sealedCluster: string) => `transit-${sealedCluster}`;

/**
 * The helper's server certificate, issued by the helper's CA (which vault's emergency seal
 * trusts): the host vault's emergency seal dials, its Services and its pods for Raft.
 */
export function helperCertSpec(namespace: string, host: string): ServerCertSpec {
  return vaultCertSpec(CLUSTER_NAMES.helper, namespace, [host], { requireClientCert: true });
}

export class MutualUnsealPair extends pulumi.ComponentResource {
  readonly vaultAddress: pulumi.Output<string>;
  readonly vaultUnlockAddress: pulumi.Output<string>;
  /** The CA of `vault`'s server certificate (its clients trust this one). */
  readonly vaultCaCertPem: pulumi.Output<string>;
  /** The CA of `vault-unlock`'s server certificate. */
  readonly vaultUnlockCaCertPem: pulumi.Output<string>;
  /** The CA of the Ingress's certificate (edge clients trust this one), when the pair made it (ingressHost without ingressTlsSecret). */
  edgeCaCertPem?: pulumi.Output<string>;
  /** The providers' tokens on each cluster (secret): their root tokens are revoked at bootstrap. */
  readonly vaultOperatorToken: pulumi.Output<string>;
  readonly vaultRecoveryKeys: pulumi.Output<string[]>;
  readonly vaultUnlockOperatorToken: pulumi.Output<string>;
  /** Shamir unseal keys until the migration, recovery keys after it. */
  readonly vaultUnlockRecoveryKeys: pulumi.Output<string[]>;
  readonly vaultUnlockSealType: pulumi.Output<string>;
  /** The key that unseals vault, for the helper (secret), its version and the key's latest version. */
  readonly transitKeyBackup: pulumi.Output<string>;
  readonly transitKeyVersion: pulumi.Output<number>;
  readonly transitKeyLatestVersion: pulumi.Output<number>;
  readonly sealOfVaultTokenAccessor: pulumi.Output<string>;
  readonly sealOfVaultUnlockTokenAccessor: pulumi.Output<string>;
  /** The helper's certificate, when helperAddress is set (secret: it holds the private key). */
  readonly helperTls?: pulumi.Output<TlsBundle>;
  /** The helper stack's providers' client certificate for the helper, which requires one (secret). */
  readonly helperOperatorTls?: pulumi.Output<TlsBundle>;
  /** Where vault's seal points now (vault-unlock, or the helper in an emergency). */
  readonly vaultSealAddress: pulumi.Output<string>;
  /**
   * With recoveryPgpKeys: each cluster's recovery keys, PGP-encrypted shares in the order of
   * the keys (not secret: only each key's holder can read their share), and the fingerprints.
   */
  readonly recoveryKeysEncrypted?: Partial<
    Record<"vault" | "vaultUnlock", { keys: pulumi.Output<string[]>; pgpFingerprints: pulumi.Output<string[]> }>
  >;

  constructor(name: string, args: MutualUnsealPairArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vault-mutual-unseal:index:MutualUnsealPair", name, {}, opts);
    const cfg = args.config;
    if (cfg.emergency && args.emergencyToken === undefined)
      throw new Error(
        `MutualUnsealPair ${name}: config.emergency is true but no emergencyToken was given (the helper stack's emergencySealToken)`,
      );
    const kubeconfig = pulumi.secret(args.kubeconfig);
    const names = CLUSTER_NAMES;
    const placement: Record<"vault" | "vaultUnlock", Placement> = { vault: cfg.vault, vaultUnlock: cfg.vaultUnlock };
    const sameCluster = cfg.vault.context === cfg.vaultUnlock.context;
    const consul = cfg.storage === "consul";

    const providers = new Map<string, k8s.Provider>();
    const providerFor = (context: string) => {
      let p = providers.get(context);
      if (!p) {
        p = new k8s.Provider(`k8s-${context.replace(/[^A-Za-z0-9-]/g, "-")}`, { kubeconfig, context }, { parent: this });
        providers.set(context, p);
      }
      return p;
    };
    const on = (role: "vault" | "vaultUnlock"): pulumi.ComponentResourceOptions => ({
      parent: this,
      providers: { kubernetes: providerFor(placement[role].context) },
    });

    // Namespaces, PKI.
    const ns = {} as Record<"vault" | "vaultUnlock", pulumi.Output<string>>;
    for (const role of ["vault", "vaultUnlock"] as const) {
      const c = placement[role];
      ns[role] = cfg.createNamespaces
        ? new k8s.core.v1.Namespace(
            `${names[role]}-namespace`,
            { metadata: { name: c.namespace, labels: POD_SECURITY_LABELS } },
            { parent: this, provider: providerFor(c.context) },
          ).metadata.name
        : pulumi.output(c.namespace);
    }
    // A trust domain per Vault cluster: its CA signs its server certificate and the client
    // certificates of those who may call it (this stack's providers, the seal of the cluster it
    // unseals), nothing else. So what one cluster accepts is worth nothing at the other, and a
    // leaked seal certificate opens only the one unsealer it was made for.
    const pkis = {} as Record<"vault" | "vaultUnlock", Pki>;
    for (const role of ["vault", "vaultUnlock"] as const) {
      const cn = names[role];
      const c = placement[role];
      const sealed = names[role === "vault" ? "vaultUnlock" : "vault"];
      // Not the Ingress host: the edge has its own CA and certificate (below), so the Ingress never holds an internal key.
      const extra = [c.transitAddress && hostOf(c.transitAddress)].filter((x): x is string => Boolean(x));
      const servers: Record<string, ServerCertSpec> = {
        [cn]: vaultCertSpec(cn, c.namespace, extra, { requireClientCert: REQUIRES_CLIENT_CERT[role] }),
      };
      if (consul) {
        const specs = consulCertSpecs(cn, c.namespace);
        servers[consulClusterOf(cn)] = specs.server;
        servers[`consul-agent-${cn}`] = specs.agent;
      }
      pkis[role] = new Pki(
        `${cn}-pki`,
        {
          caCommonName: `vault-mutual-unseal ${cn} CA`,
          servers,
          clients: {
            [transitClient(sealed)]: { commonName: `${sealed} transit seal` },
            operator: { commonName: "vault-mutual-unseal primary providers" },
          },
        },
        { parent: this },
      );
    }
    // The helper's trust domain, issued here because vault's emergency seal must trust it; the helper stack reads its bundles.
    const helperPki = cfg.helperAddress
      ? new Pki(
          "helper-pki",
          {
            caCommonName: `vault-mutual-unseal ${names.helper} CA`,
            servers: { helper: helperCertSpec(cfg.helperNamespace, hostOf(cfg.helperAddress)) },
            clients: {
              [transitClient(names.vault)]: { commonName: `${names.vault} emergency seal` },
              "helper-operator": { commonName: "vault-mutual-unseal helper providers" },
            },
          },
          { parent: this },
        )
      : undefined;

    const storage = (role: "vault" | "vaultUnlock"): VaultStorageArgs => {
      const cn = names[role];
      if (!consul) return { type: "raft", storageClassName: cfg.storageClass };
      return consulStorage(
        {
          vaultCluster: cn,
          flavour: cfg.flavour,
          namespace: ns[role],
          replicas: cfg.consulReplicas,
          storageClassName: cfg.storageClass,
          zoneSpread: cfg.zoneSpread,
          serverTls: pkis[role].serverBundle(consulClusterOf(cn)),
          agentTls: pkis[role].serverBundle(`consul-agent-${cn}`),
        },
        on(role),
      );
    };
    const nodes: Record<"vault" | "vaultUnlock", NodeAccessArgs> = {
      vault: this.access(kubeconfig, names.vault, cfg.vault, cfg.replicas, pkis.vault),
      vaultUnlock: this.access(kubeconfig, names.vaultUnlock, cfg.vaultUnlock, cfg.replicas, pkis.vaultUnlock),
    };
    // Where each cluster's peer seal reaches it: the Service of its unsealed nodes, or transitAddress across Kubernetes clusters.
    const transitAddress = (role: "vault" | "vaultUnlock") => {
      const c = placement[role];
      return sameCluster || !c.transitAddress
        ? `https://${vaultServiceNames(names[role]).unsealed}.${c.namespace}.svc:${API_PORT}`
        : c.transitAddress;
    };
    // Reached from outside its Kubernetes cluster: by default a LoadBalancer when the two clusters run apart.
    const exposeOf = (c: Placement) => exposeArgs(c.expose ?? (sameCluster ? undefined : { type: "LoadBalancer" }));

    // The plan, step by step: each kind as a resource (or the component's own part).
    const plan = pairPlan(names, { recoveryPgpKeys: cfg.recoveryPgpKeys !== undefined });
    const done = new Map<string, pulumi.Resource>();
    const inits = {} as Record<ClusterRole, VaultInit>;
    // Every step after a cluster's init authenticates with its operator token, never its (revoked) root token.
    const operators = {} as Record<ClusterRole, OperatorToken>;
    const links = new Map<string, TransitUnsealLink>();
    const roleOf = (r: ClusterRole): "vault" | "vaultUnlock" => {
      if (r === "helper") throw new Error("the pair's plan names the helper: the helper runs in its own stack (HelperBackup)");
      return r;
    };
    const after = (s: PlanStep) => s.after.map((n) => done.get(n)!);
    // The tokens a step's link replaced while alive, on the link's unsealer, when the plan has the step revoke them.
    const superseded = (s: RolloutStep | MigrationStep): SupersededTokensArgs | undefined => {
      if (!s.revokeSuperseded) return undefined;
      const unsealer = roleOf(stepOf(plan, "link", { name: s.link }).unsealer);
      return {
        unsealer: nodes[unsealer],
        adminToken: operators[unsealer].token,
        accessors: links.get(s.link)!.supersededAccessors,
      };
    };
    let unlockKeys: pulumi.Output<string[]> | undefined;
    let migration: SealMigration | undefined;
    let backup: TransitKeyBackup | undefined;
    const rotations: Partial<Record<"vault" | "vaultUnlock", RecoveryKeyRotation>> = {};
    const clusters = {} as Record<"vault" | "vaultUnlock", VaultCluster>;

    for (const step of plan) {
      switch (step.kind) {
        case "cluster": {
          const role = roleOf(step.cluster);
          const c = placement[role];
          clusters[role] = new VaultCluster(
            names[role],
            {
              namespace: ns[role],
              flavour: cfg.flavour,
              image: cfg.image,
              replicas: cfg.replicas,
              storage: storage(role),
              tls: pkis[role].serverBundle(names[role]),
              zoneSpread: cfg.zoneSpread,
              expose: exposeOf(c),
              requireClientCert: REQUIRES_CLIENT_CERT[role],
              // vault-unlock exists only to unseal vault: its NetworkPolicy admits only vault's pods (or peerCidrs).
              networkPolicy:
                role === "vaultUnlock"
                  ? {
                      peerNamespace: cfg.vault.namespace,
                      peerPodLabels: vaultPodLabels(cfg.flavour, names.vault),
                      peerCidrs: cfg.vaultUnlock.peerCidrs,
                    }
                  : undefined,
              // TLS at the edge too: by default a certificate of the edge CA for ingressHost (edgeTls below).
              ingress:
                role === "vault" && cfg.ingressHost
                  ? {
                      host: cfg.ingressHost,
                      tlsSecretName: cfg.ingressTlsSecret ?? this.edgeTls(cfg, ns.vault, providerFor(cfg.vault.context)),
                    }
                  : undefined,
            },
            { ...on(role), dependsOn: after(step) },
          );
          done.set(step.name, clusters[role]);
          break;
        }
        case "init": {
          const role = roleOf(step.cluster);
          // The keys of an earlier init (secret config), to take an initialized cluster over.
          const adopt = placement[role].adopt;
          const init = new VaultInit(
            step.name,
            {
              nodes: nodes[role],
              kind: step.keys,
              shares: cfg.keyShares,
              threshold: cfg.keyThreshold,
              adopt: adopt && pulumi.secret(adopt),
            },
            { parent: this, dependsOn: after(step), protect: step.protect },
          );
          inits[role] = init;
          done.set(step.name, init);
          break;
        }
        case "operator-token": {
          const role = roleOf(step.cluster);
          const operator = new OperatorToken(
            step.name,
            {
              nodes: nodes[role],
              rootToken: inits[role].rootToken,
              flavour: cfg.flavour,
              seals: sealGrantsOf(plan, role, cfg.transitTokenPeriod),
            },
            { parent: this, dependsOn: after(step) },
          );
          operators[role] = operator;
          done.set(step.name, operator);
          break;
        }
        case "unseal": {
          const role = roleOf(step.cluster);
          // Secret wherever they travel (mocks and older engines ignore additionalSecretOutputs).
          unlockKeys = pulumi.secret(inits[role].keys);
          done.set(step.name, new Unseal(step.name, { nodes: nodes[role], keys: unlockKeys }, { parent: this, dependsOn: after(step) }));
          break;
        }
        case "audit": {
          const role = roleOf(step.cluster);
          const audit = new AuditDevice(
            step.name,
            { nodes: nodes[role], adminToken: operators[role].token },
            { parent: this, dependsOn: after(step) },
          );
          done.set(step.name, audit);
          break;
        }
        case "link": {
          const l = this.link(step, {
            cfg,
            unsealer: nodes[roleOf(step.unsealer)],
            unsealerAdminToken: operators[roleOf(step.unsealer)].token,
            unsealerAddress: transitAddress(roleOf(step.unsealer)),
            sealedNamespace: ns[roleOf(step.sealed)],
            sealedClusterName: names[roleOf(step.sealed)],
            transitTls: pkis[roleOf(step.unsealer)].clientBundle(transitClient(names[roleOf(step.sealed)])),
            emergencyTls: step.sealed === "vault" ? helperPki?.clientBundle(transitClient(names.vault)) : undefined,
            emergencyToken: step.sealed === "vault" ? args.emergencyToken : undefined,
            opts: { ...on(roleOf(step.sealed)), dependsOn: after(step) },
          });
          links.set(step.name, l);
          done.set(step.name, l);
          break;
        }
        case "rollout": {
          const role = roleOf(step.cluster);
          const l = links.get(step.link)!;
          const rollout = new SealRollout(
            step.name,
            {
              nodes: nodes[role],
              sealDigest: l.sealDigest,
              adminToken: operators[role].token,
              supersededTokens: superseded(step),
            },
            { parent: this, dependsOn: l.sealObjects },
          );
          done.set(step.name, rollout);
          break;
        }
        case "migration": {
          const role = roleOf(step.cluster);
          const l = links.get(step.link)!;
          migration = new SealMigration(
            step.name,
            {
              nodes: nodes[role],
              from: { type: "shamir" },
              to: l.seal,
              toToken: l.token,
              keys: pulumi.secret(inits[role].keys),
              adminToken: operators[role].token,
              flavour: cfg.flavour,
              supersededTokens: superseded(step),
            },
            // Its seal objects are written by the migration itself, through the node adapter.
            { parent: this, dependsOn: l.sealObjects },
          );
          done.set(step.name, migration);
          break;
        }
        case "backup": {
          const l = stepOf(plan, "link", { name: step.link }) as LinkStep;
          const role = roleOf(l.unsealer);
          backup = new TransitKeyBackup(
            step.name,
            { nodes: nodes[role], token: operators[role].token, mountPath: l.mountPath, keyName: l.keyName },
            { parent: this, dependsOn: after(step) },
          );
          done.set(step.name, backup);
          break;
        }
        case "recovery-rotation": {
          const role = roleOf(step.cluster);
          const rotation = new RecoveryKeyRotation(
            step.name,
            {
              nodes: nodes[role],
              adminToken: operators[role].token,
              flavour: cfg.flavour,
              currentKeys: inits[role].keys,
              shares: cfg.keyShares,
              threshold: cfg.keyThreshold,
              pgpKeys: cfg.recoveryPgpKeys!,
            },
            { parent: this, dependsOn: after(step) },
          );
          rotations[role] = rotation;
          done.set(step.name, rotation);
          break;
        }
        case "restore":
          throw new Error(`the pair's plan has a restore step (${step.name}): restores run on the helper (HelperBackup)`);
      }
    }

    const sealOfVault = links.get(stepOf(plan, "link", { name: `seal-of-${names.vault}` }).name)!;
    const sealOfUnlock = links.get(stepOf(plan, "link", { name: `seal-of-${names.vaultUnlock}` }).name)!;
    this.vaultAddress = clusters.vault.address;
    this.vaultUnlockAddress = clusters.vaultUnlock.address;
    this.vaultCaCertPem = pkis.vault.caCertPem;
    this.vaultUnlockCaCertPem = pkis.vaultUnlock.caCertPem;
    this.vaultOperatorToken = operators.vault.token;
    this.vaultRecoveryKeys = pulumi.secret(inits.vault.keys);
    this.vaultUnlockOperatorToken = operators.vaultUnlock.token;
    this.vaultUnlockRecoveryKeys = unlockKeys!;
    this.vaultUnlockSealType = migration!.sealType;
    this.transitKeyBackup = pulumi.secret(backup!.backup);
    this.transitKeyVersion = backup!.keyVersion;
    this.transitKeyLatestVersion = backup!.latestVersion;
    this.sealOfVaultTokenAccessor = sealOfVault.accessor;
    this.sealOfVaultUnlockTokenAccessor = sealOfUnlock.accessor;
    this.helperTls = helperPki?.serverBundle("helper");
    this.helperOperatorTls = helperPki?.clientBundle("helper-operator");
    this.vaultSealAddress = sealOfVault.activeSeal.apply((s) => s.address);
    if (cfg.recoveryPgpKeys)
      this.recoveryKeysEncrypted = Object.fromEntries(
        Object.entries(rotations).map(([role, r]) => [role, { keys: r.encryptedKeys, pgpFingerprints: r.pgpFingerprints }]),
      );
    this.registerOutputs({
      vaultAddress: this.vaultAddress,
      vaultUnlockAddress: this.vaultUnlockAddress,
      vaultSealAddress: this.vaultSealAddress,
    });
  }

  /** How the providers reach one cluster's pods: port-forwards through the API server, TLS checked against the cluster's CA. */
  private access(kubeconfig: pulumi.Input<string>, cn: string, c: Placement, replicas: number, pki: Pki): NodeAccessArgs {
    return clusterAccess({
      kubeconfig,
      context: c.context,
      namespace: c.namespace,
      clusterName: cn,
      replicas,
      caPem: pki.caCertPem,
      serverName: activeServerName(cn, c.namespace),
      client: pki.clientBundle("operator"),
    });
  }

  /**
   * The Ingress's certificate when the operator brings none (ingressTlsSecret): its own CA
   * (a trust domain of its own: a client that trusts the edge trusts nothing inside) and a
   * server certificate for ingressHost only, in the Secret the Ingress names. Returns its name.
   */
  private edgeTls(cfg: PrimaryConfig, namespace: pulumi.Output<string>, provider: k8s.Provider): string {
    const name = vaultNames(CLUSTER_NAMES.vault).edgeTlsSecret;
    const edge = new Pki(
      "edge-pki",
      { caCommonName: "vault-mutual-unseal edge CA", servers: { edge: { namespace, services: [], extraDnsNames: [cfg.ingressHost!] } } },
      { parent: this },
    );
    new k8s.core.v1.Secret(
      name,
      { metadata: { name, namespace }, type: "kubernetes.io/tls", stringData: tlsSecretData(edge.serverBundle("edge")) },
      { parent: this, provider },
    );
    this.edgeCaCertPem = edge.caCertPem;
    return name;
  }

  /** A link step as a TransitUnsealLink: the TransitLink on the unsealer and the seal objects in the sealed cluster's namespace. */
  private link(
    step: LinkStep,
    o: {
      cfg: PrimaryConfig;
      unsealer: NodeAccessArgs;
      unsealerAdminToken: pulumi.Output<string>;
      unsealerAddress: string;
      sealedNamespace: pulumi.Output<string>;
      sealedClusterName: string;
      transitTls: pulumi.Output<TlsBundle>;
      emergencyTls?: pulumi.Output<TlsBundle>;
      emergencyToken?: pulumi.Input<string>;
      opts: pulumi.ComponentResourceOptions;
    },
  ): TransitUnsealLink {
    const { cfg } = o;
    // The emergency switch: the same key on the helper, its address and token.
    const redirect =
      step.bornSealed && cfg.emergency && o.emergencyToken !== undefined
        ? { address: cfg.helperAddress!, serverName: hostOf(cfg.helperAddress!), token: o.emergencyToken }
        : undefined;
    return new TransitUnsealLink(
      step.name,
      {
        flavour: cfg.flavour,
        unsealer: o.unsealer,
        unsealerAdminToken: o.unsealerAdminToken,
        unsealerAddress: o.unsealerAddress,
        mountPath: step.mountPath,
        keyName: step.keyName,
        tokenPeriod: cfg.transitTokenPeriod,
        allowBackup: step.allowBackup,
        revokeTokenOnDelete: cfg.revokeSealTokensOnDelete,
        sealedNamespace: o.sealedNamespace,
        sealedClusterName: o.sealedClusterName,
        transitTls: o.transitTls,
        emergencyTls: o.emergencyTls,
        bornSealed: step.bornSealed,
        redirect,
      },
      o.opts,
    );
  }
}

export { TRANSIT_KEY, TRANSIT_MOUNT };
