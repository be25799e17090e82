/**
 * The primary stack: `vault` and `vault-unlock`, each on its own storage, unsealing each
 * other through the transit seal. One `pulumi up` on empty clusters performs the bootstrap
 * of design.md §2 (core/steps/bootstrap.ts runs the same steps outside Pulumi), in this order,
 * by data flow and dependsOn only:
 *
 *  1. namespaces, PKI, one Consul cluster per Vault cluster (storage consul);
 *  2. vault-unlock (Shamir): VaultCluster → VaultInit → Unseal → audit device to stdout;
 *  3. link vault-unlock → vault (TransitUnsealLink, bornSealed): transit key (backup-able, for
 *     the helper), policy, orphan periodic token, and vault's seal ConfigMap/Secret;
 *  4. vault (created after its seal objects, so its pods start transit-sealed) → VaultInit
 *     with recovery keys; its pods auto-unseal; audit device to stdout. SealRollout
 *     restarts them when the seal objects change later (the emergency switch);
 *  5. link vault → vault-unlock;
 *  6. SealMigration of vault-unlock Shamir → transit, pod by pod (its keys become recovery keys);
 *  7. TransitKeyBackup: the key that unseals vault, a secret output for the helper stack.
 *
 * `emergency: true` points vault's seal at the helper (same key, the helper stack's
 * emergency token); false points it back. Both are a ConfigMap/Secret change + rolling restart.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { activeServerName, clusterAccess } from "../components/cluster-access";
import { ConsulCluster } from "../components/consul-cluster";
import { Pki } from "../components/pki";
import { hostOf, TransitUnsealLink } from "../components/transit-unseal-link";
import {
  API_PORT,
  POD_SECURITY_LABELS,
  vaultCertSpec,
  VaultCluster,
  vaultPodLabels,
  vaultServiceNames,
  VaultStorageArgs,
} from "../components/vault-cluster";
import { AuditDevice } from "../providers/audit-device";
import { SealMigration } from "../providers/seal-migration";
import { SealRollout } from "../providers/seal-rollout";
import { TransitKeyBackup } from "../providers/transit-key-backup";
import { Unseal } from "../providers/unseal";
import { VaultInit } from "../providers/vault-init";
import { exposeArgs, PRIMARY_TEXT_KEYS, PrimaryConfig, parsePrimaryConfig, primaryContexts } from "./config";
import { helperCertSpec } from "./helper";
import { contextProblems, rawConfig, readKubeconfig } from "./read-config";

export const TRANSIT_MOUNT = "transit/";
export const TRANSIT_KEY = "autounseal";
const VAULT = "vault";
const VAULT_UNLOCK = "vault-unlock";

type Placement = PrimaryConfig["vault"];

export function primaryProgram() {
  // Config first: a bad value fails here, before any resource is registered.
  const raw = rawConfig(PRIMARY_TEXT_KEYS);
  const kubeconfigText = readKubeconfig();
  const cfg = parsePrimaryConfig(raw, contextProblems(kubeconfigText, primaryContexts(raw)));
  const kubeconfig = pulumi.secret(kubeconfigText);

  const providers = new Map<string, k8s.Provider>();
  const providerFor = (context: string) => {
    let p = providers.get(context);
    if (!p) {
      p = new k8s.Provider(`k8s-${context.replace(/[^A-Za-z0-9-]/g, "-")}`, { kubeconfig, context });
      providers.set(context, p);
    }
    return p;
  };
  const on = (c: Placement): pulumi.ComponentResourceOptions => ({ providers: { kubernetes: providerFor(c.context) } });
  const sameCluster = cfg.vault.context === cfg.vaultUnlock.context;

  // 1. Namespaces, PKI, storage.
  const namespace = (cn: string, c: Placement): pulumi.Output<string> =>
    cfg.createNamespaces
      ? new k8s.core.v1.Namespace(
          `${cn}-namespace`,
          { metadata: { name: c.namespace, labels: POD_SECURITY_LABELS } },
          { provider: providerFor(c.context) },
        ).metadata.name
      : pulumi.output(c.namespace);
  const ns: Record<string, pulumi.Output<string>> = {
    [VAULT]: namespace(VAULT, cfg.vault),
    [VAULT_UNLOCK]: namespace(VAULT_UNLOCK, cfg.vaultUnlock),
  };
  const consul = cfg.storage === "consul";
  const servers: Record<string, import("../components/pki").ServerCertSpec> = {};
  for (const [cn, c] of [
    [VAULT, cfg.vault],
    [VAULT_UNLOCK, cfg.vaultUnlock],
  ] as const) {
    const extra = [c.transitAddress && hostOf(c.transitAddress), cn === VAULT ? cfg.ingressHost : undefined].filter((x): x is string =>
      Boolean(x),
    );
    servers[cn] = vaultCertSpec(cn, c.namespace, extra);
    if (consul) {
      servers[`consul-${cn}`] = {
        namespace: c.namespace,
        services: [`consul-${cn}`],
        headlessService: `consul-${cn}-server`,
        extraDnsNames: ["server.dc1.consul"],
        clientAuth: true,
      };
      servers[`consul-agent-${cn}`] = { namespace: c.namespace, services: [], extraDnsNames: ["client.dc1.consul"], clientAuth: true };
    }
  }
  // The helper's certificate comes from this CA, which vault's seal trusts; the helper stack reads it.
  // Its names: the host vault's emergency seal dials, and its Services and pods in the helper stack's namespace.
  if (cfg.helperAddress) servers.helper = helperCertSpec(cfg.helperNamespace, hostOf(cfg.helperAddress));
  const pki = new Pki("pki", {
    servers,
    clients: {
      [`transit-${VAULT}`]: { commonName: `${VAULT} transit seal` },
      [`transit-${VAULT_UNLOCK}`]: { commonName: `${VAULT_UNLOCK} transit seal` },
    },
  });

  const storage = (cn: string, c: Placement): VaultStorageArgs => {
    if (!consul) return { type: "raft", storageClassName: cfg.storageClass };
    const cluster = new ConsulCluster(
      `consul-${cn}`,
      {
        namespace: ns[cn],
        replicas: cfg.consulReplicas,
        tls: pki.serverBundle(`consul-${cn}`),
        storageClassName: cfg.storageClass,
        clientPodLabels: vaultPodLabels(cfg.flavour, cn),
        zoneSpread: cfg.zoneSpread,
      },
      on(c),
    );
    return { type: "consul", agent: cluster.agentSettings, agentTls: pki.serverBundle(`consul-agent-${cn}`) };
  };
  const access = (cn: string, c: Placement) =>
    clusterAccess({
      kubeconfig,
      context: c.context,
      namespace: c.namespace,
      clusterName: cn,
      replicas: cfg.replicas,
      caPem: pki.caCertPem,
      serverName: activeServerName(cn, c.namespace),
    });
  // Where each cluster's peer seal reaches it: the Service of its unsealed nodes, or transitAddress across Kubernetes clusters.
  const transitAddress = (cn: string, c: Placement) =>
    sameCluster || !c.transitAddress ? `https://${vaultServiceNames(cn).unsealed}.${c.namespace}.svc:${API_PORT}` : c.transitAddress;

  // Reached from outside its Kubernetes cluster: by default a LoadBalancer when the two clusters run apart.
  const exposeOf = (c: Placement) => exposeArgs(c.expose ?? (sameCluster ? undefined : { type: "LoadBalancer" }));

  // 2. vault-unlock, Shamir first: init, unseal.
  const unlock = new VaultCluster(
    VAULT_UNLOCK,
    {
      namespace: ns[VAULT_UNLOCK],
      flavour: cfg.flavour,
      image: cfg.image,
      replicas: cfg.replicas,
      storage: storage(VAULT_UNLOCK, cfg.vaultUnlock),
      tls: pki.serverBundle(VAULT_UNLOCK),
      zoneSpread: cfg.zoneSpread,
      expose: exposeOf(cfg.vaultUnlock),
      networkPolicy: {
        peerNamespace: cfg.vault.namespace,
        peerPodLabels: vaultPodLabels(cfg.flavour, VAULT),
        peerCidrs: cfg.vaultUnlock.peerCidrs,
      },
    },
    { ...on(cfg.vaultUnlock) },
  );
  const unlockNodes = access(VAULT_UNLOCK, cfg.vaultUnlock);
  const unlockInit = new VaultInit(
    `${VAULT_UNLOCK}-init`,
    { nodes: unlockNodes, kind: "shamir", shares: cfg.keyShares, threshold: cfg.keyThreshold },
    { dependsOn: [unlock], protect: true },
  );
  // Secret wherever they travel (mocks and older engines ignore additionalSecretOutputs).
  const unlockKeys = pulumi.secret(unlockInit.keys);
  const unlockRoot = pulumi.secret(unlockInit.rootToken);
  const unlockUnseal = new Unseal(`${VAULT_UNLOCK}-unseal`, { nodes: unlockNodes, keys: unlockKeys });
  new AuditDevice(`${VAULT_UNLOCK}-audit`, { nodes: unlockNodes, rootToken: unlockRoot }, { dependsOn: [unlockUnseal] });

  // 3. Link vault-unlock → vault, and vault's seal objects (pointing at the helper in an emergency).
  const redirect = cfg.emergency
    ? {
        address: cfg.helperAddress!,
        serverName: hostOf(cfg.helperAddress!),
        token: new pulumi.StackReference(cfg.helperStack!).requireOutput("emergencySealToken") as pulumi.Output<string>,
      }
    : undefined;
  const sealOfVault = new TransitUnsealLink(
    `seal-of-${VAULT}`,
    {
      flavour: cfg.flavour,
      unsealer: unlockNodes,
      unsealerRootToken: unlockRoot,
      unsealerAddress: transitAddress(VAULT_UNLOCK, cfg.vaultUnlock),
      mountPath: TRANSIT_MOUNT,
      keyName: TRANSIT_KEY,
      tokenPeriod: cfg.transitTokenPeriod,
      allowBackup: true,
      sealedNamespace: ns[VAULT],
      sealedClusterName: VAULT,
      transitTls: pki.clientBundle(`transit-${VAULT}`),
      bornSealed: true,
      redirect,
    },
    { ...on(cfg.vault), dependsOn: [unlockUnseal] },
  );

  // 4. vault, born sealed by vault-unlock: its pods start only once their seal objects exist.
  const vault = new VaultCluster(
    VAULT,
    {
      namespace: ns[VAULT],
      flavour: cfg.flavour,
      image: cfg.image,
      replicas: cfg.replicas,
      storage: storage(VAULT, cfg.vault),
      tls: pki.serverBundle(VAULT),
      zoneSpread: cfg.zoneSpread,
      expose: exposeOf(cfg.vault),
      // TLS at the edge too: by default vault's own certificate, which names ingressHost.
      ingress: cfg.ingressHost ? { host: cfg.ingressHost, tlsSecretName: cfg.ingressTlsSecret ?? `${VAULT}-tls` } : undefined,
    },
    { ...on(cfg.vault), dependsOn: sealOfVault.sealObjects },
  );
  const vaultNodes = access(VAULT, cfg.vault);
  const vaultInit = new VaultInit(
    `${VAULT}-init`,
    { nodes: vaultNodes, kind: "recovery", shares: cfg.keyShares, threshold: cfg.keyThreshold },
    { dependsOn: [vault], protect: true },
  );
  const vaultRoot = pulumi.secret(vaultInit.rootToken);
  new AuditDevice(`${VAULT}-audit`, { nodes: vaultNodes, rootToken: vaultRoot }, { dependsOn: [vaultInit] });
  const vaultRollout = new SealRollout(
    `${VAULT}-seal-rollout`,
    { nodes: vaultNodes, sealDigest: sealOfVault.sealDigest, rootToken: vaultRoot },
    { dependsOn: sealOfVault.sealObjects },
  );

  // 5. Link vault → vault-unlock (its seal objects are written by the migration, through the node adapter).
  const sealOfUnlock = new TransitUnsealLink(
    `seal-of-${VAULT_UNLOCK}`,
    {
      flavour: cfg.flavour,
      unsealer: vaultNodes,
      unsealerRootToken: vaultRoot,
      unsealerAddress: transitAddress(VAULT, cfg.vault),
      mountPath: TRANSIT_MOUNT,
      keyName: TRANSIT_KEY,
      tokenPeriod: cfg.transitTokenPeriod,
      sealedNamespace: ns[VAULT_UNLOCK],
      sealedClusterName: VAULT_UNLOCK,
      transitTls: pki.clientBundle(`transit-${VAULT_UNLOCK}`),
      bornSealed: false,
    },
    { ...on(cfg.vaultUnlock), dependsOn: [vaultRollout] },
  );

  // 6. vault-unlock migrates Shamir → transit; its unseal keys become recovery keys.
  const migration = new SealMigration(
    `${VAULT_UNLOCK}-seal-migration`,
    {
      nodes: unlockNodes,
      from: { type: "shamir" },
      to: sealOfUnlock.seal,
      toToken: sealOfUnlock.token,
      keys: unlockKeys,
      rootToken: unlockRoot,
      flavour: cfg.flavour,
    },
    { dependsOn: sealOfUnlock.sealObjects },
  );

  // 7. The key that unseals vault, for the helper stack.
  const backup = new TransitKeyBackup(
    `${VAULT}-transit-key-backup`,
    { nodes: unlockNodes, token: unlockRoot, mountPath: TRANSIT_MOUNT, keyName: TRANSIT_KEY },
    { dependsOn: [sealOfVault, migration] },
  );

  return {
    vaultAddress: vault.address,
    vaultUnlockAddress: unlock.address,
    vaultIngressHost: cfg.ingressHost,
    caCertPem: pki.caCertPem,
    vaultRootToken: vaultRoot,
    vaultRecoveryKeys: pulumi.secret(vaultInit.keys),
    vaultUnlockRootToken: unlockRoot,
    /** Shamir unseal keys until the migration, recovery keys after it. */
    vaultUnlockRecoveryKeys: unlockKeys,
    vaultUnlockSealType: migration.sealType,
    transitMount: TRANSIT_MOUNT,
    transitKeyName: TRANSIT_KEY,
    transitKeyBackup: pulumi.secret(backup.backup),
    transitKeyVersion: backup.keyVersion,
    transitKeyLatestVersion: backup.latestVersion,
    sealOfVaultTokenAccessor: sealOfVault.accessor,
    sealOfVaultUnlockTokenAccessor: sealOfUnlock.accessor,
    helperTls: cfg.helperAddress ? pki.serverBundle("helper") : undefined,
    helperServerName: cfg.helperAddress ? hostOf(cfg.helperAddress) : undefined,
    helperNamespace: cfg.helperNamespace,
    emergency: cfg.emergency,
    vaultSealAddress: sealOfVault.activeSeal.apply((s) => s.address),
  };
}
