/**
 * sealSettingsDigest: tells which nodes run the applied seal settings without keeping the
 * transit token around.
 */
import { SealSettings, sealSettingsDigest } from "../../core/nodes";
import { SealStanza } from "../../core/render/seal";

const stanza: SealStanza = {
  type: "transit",
  address: "https://vault-unlock:8200",
  keyName: "autounseal",
  mountPath: "transit/",
  tlsCaCert: "/tls/ca.pem",
};
const settings = (over: Partial<SealSettings> = {}): SealSettings => ({ stanzas: [stanza], transitToken: "hvs.CAESIJ-token-one", ...over });

describe("sealSettingsDigest", () => {
  test("the same settings written with keys in another order count as the same", () => {
    const reordered = {
      tlsCaCert: "/tls/ca.pem",
      mountPath: "transit/",
      keyName: "autounseal",
      address: "https://vault-unlock:8200",
      type: "transit",
    } as SealStanza;
    expect(sealSettingsDigest({ transitToken: "hvs.CAESIJ-token-one", stanzas: [reordered] })).toBe(sealSettingsDigest(settings()));
  });

  test("an optional key left unset or set to undefined counts as the same", () => {
    expect(sealSettingsDigest(settings({ stanzas: [{ ...stanza, namespace: undefined }] }))).toBe(sealSettingsDigest(settings()));
  });

  test("a new token means the nodes must be restarted", () => {
    expect(sealSettingsDigest(settings({ transitToken: "hvs.CAESIJ-token-two" }))).not.toBe(sealSettingsDigest(settings()));
  });

  test.each<[string, SealSettings]>([
    ["another address", settings({ stanzas: [{ ...stanza, address: "https://helper:8200" }] })],
    ["another CA file", settings({ stanzas: [{ ...stanza, tlsCaCert: "/tls/other-ca.pem" }] })],
    ["the block disabled", settings({ stanzas: [{ ...stanza, disabled: true }] })],
    ["Shamir (no block, no token)", { stanzas: [] }],
  ])("%s means the nodes must be restarted", (_what, s) => {
    expect(sealSettingsDigest(s)).not.toBe(sealSettingsDigest(settings()));
  });

  test("is stable for the same settings", () => {
    expect(sealSettingsDigest({ stanzas: [] })).toBe(sealSettingsDigest({ stanzas: [] }));
    expect(sealSettingsDigest(settings())).toBe(sealSettingsDigest(settings()));
  });

  test.each([["hvs.CAESIJ-token-one"], ["0123456789abcdef0123456789abcdef"]])("does not contain the token text %p", (token) => {
    const digest = sealSettingsDigest(settings({ transitToken: token }));
    expect(digest).toMatch(/^[0-9a-f]{64}$/);
    expect(digest).not.toContain(token);
  });
});
