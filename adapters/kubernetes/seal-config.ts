/**
 * The files of a transit seal kept outside server.hcl: the `seal "transit"` blocks rendered
 * by the core (seal.hcl), plus the files the peer gate reads. Pure and free of Pulumi.
 * seal-record.ts's sealConfigMapContent builds the seal ConfigMap from them for both of its
 * writers (TransitUnsealLink and the node adapter); VaultCluster puts the peer gate's files
 * in its config ConfigMap for a seal rendered into server.hcl.
 */
import { InputError } from "../../core/errors";
import { renderFile } from "../../core/render/hcl";
import { SealStanza, assertValidSeals, sealBlock } from "../../core/render/seal";
import { Flavour } from "../../core/render/server-config";

/** The files the peer gate reads: the enabled transit stanza's address and server name. */
export function peerGateData(stanzas: SealStanza[]): Record<string, string> {
  const seal = stanzas.find((s) => !s.disabled);
  if (!seal) return {};
  // The gate checks the peer with the seal's own TLS files, which differ towards the helper (its own CA).
  const optional: [string, string | undefined][] = [
    ["peer-server-name", seal.tlsServerName],
    ["peer-ca-cert", seal.tlsCaCert],
    ["peer-client-cert", seal.tlsClientCert],
    ["peer-client-key", seal.tlsClientKey],
  ];
  return { "peer-address": seal.address, ...Object.fromEntries(optional.filter((e): e is [string, string] => Boolean(e[1]))) };
}

/** Data of the optional seal ConfigMap for a seal applied after the cluster exists (rendered by the core). */
export function lateSealConfigData(flavour: Flavour, stanzas: SealStanza[]): Record<string, string> {
  assertValidSeals(stanzas);
  const withRef = stanzas.findIndex((s) => s.tokenEnv);
  if (flavour === "vault" && withRef >= 0)
    throw new InputError(
      `seals[${withRef}].tokenEnv`,
      "env:// token references are an OpenBao feature: with Vault use VAULT_TRANSIT_SEAL_TOKEN",
    );
  return { "seal.hcl": renderFile({}, stanzas.map(sealBlock)), ...peerGateData(stanzas) };
}
