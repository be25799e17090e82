/**
 * migrationPlan: the seal settings a cluster runs while its stored keys migrate and after,
 * and the migrations it refuses before any node is touched.
 */
import { migrationPlan } from "../../core/steps/seal-migration";
import { sealSettingsDigest } from "../../core/nodes";
import { Seal, TransitSeal } from "../../core/render/seal";
import { renderServerConfig, ServerConfig } from "../../core/render/server-config";
import { refusal } from "./refusal";

const baseConfig: ServerConfig = {
  flavour: "openbao",
  listener: { address: "0.0.0.0:8200", clusterAddress: "0.0.0.0:8201", tlsCertFile: "/tls/tls.crt", tlsKeyFile: "/tls/tls.key" },
  apiAddr: "https://vault-0:8200",
  clusterAddr: "https://vault-0:8201",
  storage: { type: "raft", path: "/data", nodeId: "vault-0", retryJoin: [] },
  seals: [],
};

const shamir: Seal = { type: "shamir" };
const unlock: TransitSeal = {
  type: "transit",
  address: "https://vault-unlock:8200",
  keyName: "autounseal",
  mountPath: "transit/",
  tlsCaCert: "/tls/ca.pem",
};
const other: TransitSeal = { ...unlock, address: "https://vault-other:8200", keyName: "autounseal-2" };

describe("migrationPlan", () => {
  test("Shamir → transit: nodes run one enabled transit block with the new link's token, during and after", () => {
    const { migrating, final } = migrationPlan({ from: shamir, to: unlock, toToken: "hvs.new" });
    expect(migrating).toEqual({ stanzas: [unlock], transitToken: "hvs.new" });
    expect(migrating.stanzas[0].disabled).toBeFalsy();
    expect(final).toEqual({ stanzas: [unlock], transitToken: "hvs.new" });
  });

  test("transit → Shamir: during, one disabled block with the old token; after, no block and no token", () => {
    const { migrating, final } = migrationPlan({ from: unlock, to: shamir, fromToken: "hvs.old" });
    expect(migrating).toEqual({ stanzas: [{ ...unlock, disabled: true }], transitToken: "hvs.old" });
    expect(final.stanzas).toEqual([]);
    expect(final.transitToken).toBeUndefined();
  });

  test("transit → transit: the old block disabled next to the new one, one token for both", () => {
    const { migrating, final } = migrationPlan({ from: unlock, to: other, fromToken: "hvs.both", toToken: "hvs.both" });
    expect(migrating).toEqual({ stanzas: [{ ...unlock, disabled: true }, other], transitToken: "hvs.both" });
    expect(final).toEqual({ stanzas: [other], transitToken: "hvs.both" });
  });

  test("transit → transit with two tokens on OpenBao: each block reads its own env var, the file holds only the references", () => {
    const { migrating, final } = migrationPlan({ from: unlock, to: other, fromToken: "hvs.old", toToken: "hvs.new", flavour: "openbao" });
    expect(migrating.stanzas).toEqual([
      { ...unlock, disabled: true, tokenEnv: "BAO_OLD_SEAL_TOKEN" },
      { ...other, tokenEnv: "BAO_NEW_SEAL_TOKEN" },
    ]);
    expect(migrating.tokenEnv).toEqual({ BAO_OLD_SEAL_TOKEN: "hvs.old", BAO_NEW_SEAL_TOKEN: "hvs.new" });
    // VAULT_TRANSIT_SEAL_TOKEN would override both blocks, so it is not set during the migration.
    expect(migrating.transitToken).toBeUndefined();
    expect(final).toEqual({ stanzas: [other], transitToken: "hvs.new" });
    const blocks = renderServerConfig({ ...baseConfig, seals: migrating.stanzas });
    expect(blocks).toContain('token = "env://BAO_OLD_SEAL_TOKEN"');
    expect(blocks).toContain('token = "env://BAO_NEW_SEAL_TOKEN"');
    expect(blocks).not.toMatch(/hvs\.(old|new)/);
  });

  test("the disabled block is removed afterwards, so nodes auto-unseal again (settings differ)", () => {
    const { migrating, final } = migrationPlan({ from: unlock, to: other, fromToken: "t", toToken: "t" });
    expect(sealSettingsDigest(migrating)).not.toBe(sealSettingsDigest(final));
  });

  test.each<[string, Parameters<typeof migrationPlan>[0], string, RegExp]>([
    [
      "transit → transit with the same key at another address (that is a re-pointing)",
      { from: unlock, to: { ...unlock, address: "https://helper:8200" }, fromToken: "t", toToken: "t" },
      "to",
      /same key and mount as the old one: that is a re-pointing/,
    ],
    ["Shamir → transit without the new link's token", { from: shamir, to: unlock }, "toToken", /needs the token of the new transit link/],
    [
      "transit → Shamir without the old seal's token",
      { from: unlock, to: shamir },
      "fromToken",
      /needs its token: the old seal must still decrypt the stored keys/,
    ],
    [
      "transit → transit without the new token",
      { from: unlock, to: other, fromToken: "t" },
      "toToken",
      /needs the token of the new transit link/,
    ],
    ["transit → transit without the old token", { from: unlock, to: other, toToken: "t" }, "fromToken", /needs its token/],
    [
      "transit → transit with two different tokens on Vault",
      { from: unlock, to: other, fromToken: "a", toToken: "b", flavour: "vault" },
      "toToken",
      /needs per-block env:\/\/ token references, an OpenBao feature/,
    ],
    ["Shamir → Shamir", { from: shamir, to: shamir }, "seal", /not a migration/],
  ])("refuses %s", (_what, o, key, message) => {
    const e = refusal(() => migrationPlan(o));
    expect(e.key).toBe(key);
    expect(e.message).toMatch(message);
  });

  test("refusals never echo a token", () => {
    const e = refusal(() => migrationPlan({ from: unlock, to: other, fromToken: "hvs.OLD-SECRET", toToken: "hvs.NEW-SECRET" }));
    expect(e.message).not.toMatch(/OLD-SECRET|NEW-SECRET/);
  });
});
