/**
 * TransitUnsealLink (unsealer → sealed): everything that makes one cluster's seal work
 * through another cluster's transit engine.
 *
 * On the unsealer: the TransitLink dynamic resource (the core's provisionTransitLink):
 * transit mount, key, least-privilege policy (`update` on encrypt/decrypt of that key only)
 * and an orphan periodic token, so the token never dies while the sealed cluster renews it
 * (the article's 32-day failure). It reaches the unsealer by a port-forward through the
 * Kubernetes API server (providers/node-access.ts, kind "kubernetes").
 *
 * Why the core through a dynamic provider, not `@pulumi/vault` resources (the issue allows
 * either; the dependency was dropped):
 * - reach: a `@pulumi/vault` provider needs an address reachable from wherever `pulumi up`
 *   runs, fixed when the provider is configured. `vault-unlock` has no Ingress, so that
 *   would be a port-forward opened by the program and held open for the whole run (and for
 *   every preview), outside the engine's control, with a local port baked into the
 *   provider's config. The dynamic providers open their port-forwards themselves, per
 *   operation, through the API server, with only the kubeconfig (README "How `pulumi up`
 *   reaches the clusters");
 * - lifecycle: `vault.Token` can make a periodic orphan token, but it notices a token that
 *   expired or was revoked only on refresh; TransitLink checks it on every `up` (and keeps
 *   the helper's emergency token alive), and never revokes a token that pods still use
 *   (a replaced one is revoked by the step that moves the pods off it; on delete only when asked);
 * - proof: the same code runs in test/real and test/providers against real servers, which
 *   a `@pulumi/vault` provider (a binary plugin not installable here) could not.
 *
 * On the sealed side, in the sealed cluster's namespace (names as VaultCluster's pod
 * template references them, all optional there, so the StatefulSet never changes for them):
 * - `transitTlsSecret` (names from vaultNames, adapters/kubernetes/names.ts): the unsealer's
 *   CA and this cluster's client certificate, and with `emergencyTls` the helper's;
 * - with `bornSealed`: `sealConfigMap` (ConfigMap, `sealConfigMapContent`) and
 *   `transitTokenSecret` (Secret, key TRANSIT_TOKEN_KEY). The sealed cluster must be created
 *   after them (`dependsOn: link.sealObjects`) so its pods start on this seal. `vault` takes
 *   its seal from here, never from server.hcl, so that the emergency switch (`redirect`:
 *   the same key on the helper) is a ConfigMap/Secret change plus a rolling restart
 *   (SealRollout). The ConfigMap also carries the stanzas as the node adapter records them,
 *   so the adapter can read the settings back;
 * - without `bornSealed` (a cluster running on another seal now, e.g. `vault-unlock` on
 *   Shamir): the seal ConfigMap and token Secret are written by the node adapter when
 *   SealMigration migrates the cluster pod by pod (`seal`, `token` are its inputs). The
 *   adapter records which pod started on which settings; a second writer would hide that.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { TRANSIT_TOKEN_KEY, vaultNames } from "../adapters/kubernetes/names";
import { sealConfigMapContent } from "../adapters/kubernetes/seal-record";
import { sealSettingsDigest } from "../core/nodes";
import { TransitSeal } from "../core/render/seal";
import { Flavour } from "../core/render/server-config";
import { NodeAccessArgs } from "../providers/node-access";
import { TransitLink } from "../providers/transit-link";
import { TlsBundle, tlsSecretData } from "./pki";
import { EMERGENCY_TLS_FILES, EMERGENCY_TLS_PREFIX, transitSealTo } from "./vault-config";
import { DEFAULT_TOKEN_PERIOD } from "../core/steps/transit-link";

type Input<T> = pulumi.Input<T>;

export interface TransitUnsealLinkArgs {
  flavour: Flavour;
  /** The unsealer's pods, reached by port-forward (kind "kubernetes"). */
  unsealer: Input<NodeAccessArgs>;
  /** The unsealer's operator token (or root token): it mints the seal tokens through the link's token role. */
  unsealerAdminToken: Input<string>;
  /** https address the sealed cluster's seal reaches the unsealer at (its Service of unsealed pods, or transitAddress across clusters). */
  unsealerAddress: Input<string>;
  /** Name in the unsealer's certificate (tls_server_name); default: the address's host. */
  unsealerServerName?: Input<string>;
  /** Default "transit/". */
  mountPath?: string;
  /** Default "autounseal". */
  keyName?: string;
  /** Token period; default 720h. */
  tokenPeriod?: Input<string>;
  /** Make the key exportable with plaintext backup (for the helper's copy); irreversible. Default false. */
  allowBackup?: Input<boolean>;
  /** Revoke the seal token when the link is deleted (TransitLink's revokeTokenOnDelete); default false. */
  revokeTokenOnDelete?: Input<boolean>;
  /** The sealed cluster: its namespace and VaultCluster clusterName. */
  sealedNamespace: Input<string>;
  sealedClusterName: string;
  /** The unsealer's CA and the sealed cluster's transit client certificate, which that CA issued (secret). */
  transitTls: Input<TlsBundle>;
  /**
   * The helper's CA and the client certificate it issued to the sealed cluster (secret), for
   * `redirect`: written beside `transitTls` in the same Secret now, so that the emergency
   * switch changes only the seal settings (the Secret stays as it is). Without it the
   * redirect uses `transitTls` (a helper in the unsealer's trust domain).
   */
  emergencyTls?: Input<TlsBundle>;
  /** The sealed cluster starts on this seal: write its seal ConfigMap and token Secret here. */
  bornSealed: boolean;
  /**
   * The emergency switch (only with bornSealed): the seal points at another holder of the
   * same key (the helper), with that holder's token. The link on the unsealer stays.
   */
  redirect?: { address: Input<string>; serverName?: Input<string>; token: Input<string> };
}

/** The host of an https address: the name a seal checks in its peer's certificate unless told another. */
export const hostOf = (address: string) => new URL(address).hostname;

export class TransitUnsealLink extends pulumi.ComponentResource {
  /** The seal token on the unsealer (secret). */
  readonly token: pulumi.Output<string>;
  readonly accessor: pulumi.Output<string>;
  /** Tokens the link replaced while alive (TransitLink's), for the step that moves the sealed nodes onto `token`. */
  readonly supersededAccessors: pulumi.Output<string[]>;
  readonly tokenTtlSeconds: pulumi.Output<number>;
  /** The seal stanza towards the unsealer (TLS file paths as mounted in the sealed pods). */
  readonly seal: pulumi.Output<TransitSeal>;
  /** The stanza the sealed cluster runs: `seal`, or the redirect's. */
  readonly activeSeal: pulumi.Output<TransitSeal>;
  /** sealSettingsDigest of what the sealed pods run (for SealRollout). */
  readonly sealDigest: pulumi.Output<string>;
  /** The sealed-side objects the sealed cluster must be created after. */
  readonly sealObjects: pulumi.Resource[];
  readonly sealConfigMapName: string;
  readonly tokenSecretName: string;

  constructor(name: string, args: TransitUnsealLinkArgs, opts?: pulumi.ComponentResourceOptions) {
    if (args.redirect && !args.bornSealed)
      throw new Error(`TransitUnsealLink ${name}: redirect needs bornSealed (the seal objects are written by this component only then)`);
    super("vault-mutual-unseal:index:TransitUnsealLink", name, {}, opts);
    const cn = args.sealedClusterName;
    const names = vaultNames(cn);
    const mountPath = args.mountPath ?? "transit/";
    const keyName = args.keyName ?? "autounseal";
    const child = { parent: this };
    const labels = {
      "app.kubernetes.io/instance": cn,
      "app.kubernetes.io/part-of": "vault-mutual-unseal",
      "app.kubernetes.io/component": "seal",
    };
    const meta = (n: string) => ({ name: n, namespace: args.sealedNamespace, labels });

    const link = new TransitLink(
      `${name}-transit`,
      {
        nodes: args.unsealer,
        adminToken: args.unsealerAdminToken,
        mountPath,
        keyName,
        policyName: `${keyName}-seal-of-${cn}`,
        allowBackup: args.allowBackup ?? false,
        tokenPeriod: args.tokenPeriod ?? DEFAULT_TOKEN_PERIOD,
        displayName: `seal-of-${cn}`,
        revokeTokenOnDelete: args.revokeTokenOnDelete ?? false,
      },
      child,
    );
    this.token = pulumi.secret(link.token);
    this.accessor = link.accessor;
    this.supersededAccessors = link.supersededAccessors;
    this.tokenTtlSeconds = link.ttlSeconds;

    const stanza = (address: Input<string>, serverName?: Input<string>, tlsFiles?: typeof EMERGENCY_TLS_FILES) =>
      pulumi.all([address, serverName]).apply(([a, s]) => transitSealTo(a, { serverName: s ?? hostOf(a), keyName, mountPath, tlsFiles }));
    this.seal = stanza(args.unsealerAddress, args.unsealerServerName);
    this.activeSeal = args.redirect
      ? stanza(args.redirect.address, args.redirect.serverName, args.emergencyTls ? EMERGENCY_TLS_FILES : undefined)
      : this.seal;
    const activeToken = pulumi.secret(args.redirect ? pulumi.output(args.redirect.token) : link.token);
    this.sealDigest = pulumi.all([this.activeSeal, activeToken]).apply(([s, t]) => sealSettingsDigest({ stanzas: [s], transitToken: t }));

    const tlsSecret = new k8s.core.v1.Secret(
      `${name}-transit-tls`,
      {
        metadata: meta(names.transitTlsSecret),
        type: "kubernetes.io/tls",
        stringData: args.emergencyTls
          ? pulumi
              .all([tlsSecretData(args.transitTls), tlsSecretData(args.emergencyTls, EMERGENCY_TLS_PREFIX)])
              .apply(([unsealer, helper]) => ({ ...unsealer, ...helper }))
          : tlsSecretData(args.transitTls),
      },
      child,
    );
    this.sealObjects = [tlsSecret];
    this.sealConfigMapName = names.sealConfigMap;
    this.tokenSecretName = names.transitTokenSecret;
    if (args.bornSealed) {
      const tokenSecret = new k8s.core.v1.Secret(
        `${name}-token`,
        {
          metadata: meta(this.tokenSecretName),
          type: "Opaque",
          stringData: { [TRANSIT_TOKEN_KEY]: activeToken },
        },
        child,
      );
      // The same builder as the node adapter's, which reads these settings back (storedSeal).
      const content = this.activeSeal.apply((s) => sealConfigMapContent(args.flavour, [s]));
      const configMap = new k8s.core.v1.ConfigMap(
        `${name}-seal`,
        {
          metadata: { ...meta(this.sealConfigMapName), annotations: content.annotations },
          data: content.data,
        },
        child,
      );
      this.sealObjects.push(tokenSecret, configMap);
    }
    this.registerOutputs({
      token: this.token,
      accessor: this.accessor,
      supersededAccessors: this.supersededAccessors,
      tokenTtlSeconds: this.tokenTtlSeconds,
      seal: this.seal,
      activeSeal: this.activeSeal,
      sealDigest: this.sealDigest,
    });
  }
}
