/**
 * The transit seal stanza: which blocks a node runs on a seal and during a migration, when
 * two seals use the same key, and the checks that catch what the server would silently
 * ignore or that would weaken the link.
 */
import {
  Seal,
  SealStanza,
  TRANSIT_TOKEN_ENV,
  TransitSeal,
  migrationSeal,
  sameTransitKey,
  sealProblems,
  steadySeal,
  transitAttributeProblems,
} from "../../core/render/seal";
import { refusal } from "./refusal";

const shamir: Seal = { type: "shamir" };

const transit = (over: Partial<TransitSeal> = {}): TransitSeal => ({
  type: "transit",
  address: "https://vault-unlock:8200",
  keyName: "autounseal",
  mountPath: "transit/",
  tlsCaCert: "/vault/tls/unsealer-ca.pem",
  ...over,
});

describe("steadySeal", () => {
  test("a Shamir node runs no seal block", () => {
    expect(steadySeal(shamir)).toEqual([]);
  });

  test("a transit node runs one enabled block for its unsealer", () => {
    const blocks = steadySeal(transit());
    expect(blocks).toEqual([transit()]);
    expect(blocks[0].disabled).toBeFalsy();
  });
});

describe("migrationSeal", () => {
  test("Shamir → transit: only the new transit block, enabled", () => {
    const blocks = migrationSeal(shamir, transit());
    expect(blocks).toEqual([transit()]);
    expect(blocks[0].disabled).toBeFalsy();
  });

  test("transit → Shamir: only the old transit block, disabled, so it can still decrypt the stored keys", () => {
    expect(migrationSeal(transit(), shamir)).toEqual([{ ...transit(), disabled: true }]);
  });

  test("transit → transit: the old block disabled and the new one enabled", () => {
    const to = transit({ address: "https://helper:8200", keyName: "autounseal-2" });
    const blocks = migrationSeal(transit(), to);
    expect(blocks.map((b) => [b.address, b.keyName, Boolean(b.disabled)])).toEqual([
      ["https://vault-unlock:8200", "autounseal", true],
      ["https://helper:8200", "autounseal-2", false],
    ]);
  });

  test.each<[string, Seal, Seal]>([
    ["Shamir → transit", shamir, transit()],
    ["transit → Shamir", transit(), shamir],
    ["transit → transit", transit(), transit({ keyName: "autounseal-2" })],
  ])("%s gives blocks the server accepts for a migration", (_what, from, to) => {
    expect(sealProblems(migrationSeal(from, to)).map((p) => p.message)).toEqual([]);
  });

  test("Shamir → Shamir is refused: there is nothing to migrate", () => {
    const e = refusal(() => migrationSeal(shamir, shamir));
    expect(e.key).toBe("seal");
    expect(e.message).toMatch(/Shamir to Shamir is not a migration/);
  });

  test("the seals given are not modified", () => {
    const from = transit();
    migrationSeal(from, shamir);
    expect(from).toEqual(transit());
    expect("disabled" in from).toBe(false);
  });
});

describe("sameTransitKey", () => {
  test.each<[string, Seal, Seal, boolean]>([
    [
      "the helper's copy of the key at another address (re-pointing)",
      transit(),
      transit({ address: "https://helper:8200", tlsServerName: "helper" }),
      true,
    ],
    ["the same mount written with and without slashes", transit({ mountPath: "transit/" }), transit({ mountPath: "/transit" }), true],
    ["an absent and an empty namespace", transit(), transit({ namespace: "" }), true],
    ["another key name", transit(), transit({ keyName: "autounseal-2" }), false],
    ["another mount", transit(), transit({ mountPath: "transit-2/" }), false],
    ["another namespace", transit(), transit({ namespace: "team-a" }), false],
    ["Shamir and Shamir", shamir, shamir, true],
    ["Shamir and transit", shamir, transit(), false],
    ["transit and Shamir", transit(), shamir, false],
  ])("%s → %s", (_what, a, b, same) => {
    expect(sameTransitKey(a, b)).toBe(same);
    expect(sameTransitKey(b, a)).toBe(same);
  });
});

describe("sealProblems", () => {
  test.each<[string, SealStanza[]]>([
    ["no block (Shamir)", []],
    ["one enabled block", [transit()]],
    ["a migration pair", [{ ...transit(), disabled: true }, transit({ keyName: "autounseal-2" })]],
    ["only a disabled block (transit → Shamir)", [{ ...transit(), disabled: true }]],
    ["a client certificate with its key", [transit({ tlsClientCert: "/c.pem", tlsClientKey: "/k.pem" })]],
  ])("accepts %s", (_what, stanzas) => {
    expect(sealProblems(stanzas).map((p) => p.message)).toEqual([]);
  });

  const off = (s: TransitSeal): SealStanza => ({ ...s, disabled: true });
  test.each<[string, SealStanza[], string, RegExp]>([
    [
      "three blocks",
      [off(transit()), transit({ keyName: "b" }), transit({ keyName: "c" })],
      "seals",
      /at most two seal blocks are allowed .*got 3/,
    ],
    [
      "two enabled blocks",
      [transit(), transit({ keyName: "b" })],
      "seals",
      /2 seal blocks are enabled; only one may be\. During a migration mark the old one disabled = "true"/,
    ],
    [
      "two disabled blocks",
      [off(transit()), off(transit({ keyName: "b" }))],
      "seals",
      /2 seal blocks are disabled; a migration has exactly one old seal/,
    ],
    ["an address that is no URL", [transit({ address: "" })], "seals[0].address", /"" is not a URL; use https:\/\/host:port/],
    ["an http address", [transit({ address: "http://vault-unlock:8200" })], "seals[0].address", /is not https: .* must use TLS/],
    ["a host:port without scheme", [transit({ address: "vault-unlock:8200" })], "seals[0].address", /is not https/],
    ["an empty key name", [transit({ keyName: "" })], "seals[0].keyName", /is empty: name the transit key/],
    ["an empty mount path", [transit({ mountPath: "" })], "seals[0].mountPath", /is empty: name the transit mount/],
    [
      "a client certificate without its key",
      [transit({ tlsClientCert: "/c.pem" })],
      "seals[0].tlsClientCert",
      /set both tlsClientCert and tlsClientKey/,
    ],
    [
      "a client key without its certificate",
      [transit({ tlsClientKey: "/k.pem" })],
      "seals[0].tlsClientCert",
      /set both tlsClientCert and tlsClientKey/,
    ],
    ["a bad second block", [off(transit()), transit({ address: "http://helper:8200" })], "seals[1].address", /is not https/],
  ])("refuses %s", (_what, stanzas, key, message) => {
    const problems = sealProblems(stanzas);
    expect(problems.map((p) => p.key)).toContain(key);
    expect(problems.find((p) => p.key === key)!.message).toMatch(message);
  });

  test("reports every problem at once, under the caller's key path", () => {
    const problems = sealProblems([transit({ address: "http://x:8200", keyName: "", mountPath: "" })], "primary.vault.seals");
    expect(problems.map((p) => p.key)).toEqual([
      "primary.vault.seals[0].address",
      "primary.vault.seals[0].keyName",
      "primary.vault.seals[0].mountPath",
    ]);
  });
});

describe("transitAttributeProblems", () => {
  const good = {
    address: "https://vault-unlock:8200",
    key_name: "autounseal",
    mount_path: "transit/",
    namespace: "team-a",
    disable_renewal: "false",
    tls_ca_cert: "/vault/tls/ca.pem",
    tls_client_cert: "/vault/tls/client.pem",
    tls_client_key: "/vault/tls/client-key.pem",
    tls_server_name: "vault-unlock",
    tls_skip_verify: "false",
    disabled: "true",
  };

  test("accepts every parameter the transit seal reads", () => {
    expect(transitAttributeProblems(good).map((p) => p.message)).toEqual([]);
  });

  test.each([["false"], [false], ["0"]])("accepts tls_skip_verify = %p (verification stays on)", (v) => {
    expect(transitAttributeProblems({ ...good, tls_skip_verify: v })).toEqual([]);
  });

  // The seal parses tls_skip_verify with Go's strconv.ParseBool: "1", "t", "T", "TRUE",
  // "True" and "true" all turn verification off.
  test.each<[string, Record<string, unknown>, string, RegExp]>([
    [
      "tls_ca_file (the article's key, silently ignored)",
      { tls_ca_file: "/ca.pem" },
      "seal.transit.tls_ca_file",
      /has no tls_ca_file and would silently ignore it: use tls_ca_cert/,
    ],
    [
      "a token in the file",
      { token: "hvs.CAESIsecret" },
      "seal.transit.token",
      new RegExp(`never put the token in a config file: pass it in ${TRANSIT_TOKEN_ENV}`),
    ],
    [
      'tls_skip_verify = "true"',
      { tls_skip_verify: "true" },
      "seal.transit.tls_skip_verify",
      /TLS verification stays on: give the unsealer's CA in tls_ca_cert/,
    ],
    ["tls_skip_verify = true", { tls_skip_verify: true }, "seal.transit.tls_skip_verify", /TLS verification stays on/],
    ['tls_skip_verify = "1"', { tls_skip_verify: "1" }, "seal.transit.tls_skip_verify", /TLS verification stays on/],
    ["tls_skip_verify = 1", { tls_skip_verify: 1 }, "seal.transit.tls_skip_verify", /TLS verification stays on/],
    ['tls_skip_verify = "TRUE"', { tls_skip_verify: "TRUE" }, "seal.transit.tls_skip_verify", /TLS verification stays on/],
    ['tls_skip_verify = "t"', { tls_skip_verify: "t" }, "seal.transit.tls_skip_verify", /TLS verification stays on/],
    [
      "an unknown key",
      { tls_ca_certificate: "/ca.pem" },
      "seal.transit.tls_ca_certificate",
      /is not a transit seal parameter \(known: .*tls_ca_cert.*\); the server would silently ignore it/,
    ],
    ["a misspelt key name", { keyname: "autounseal" }, "seal.transit.keyname", /is not a transit seal parameter/],
  ])("refuses %s", (_what, extra, key, message) => {
    const problems = transitAttributeProblems({ ...good, ...extra });
    expect(problems.map((p) => p.key)).toEqual([key]);
    expect(problems[0].message).toMatch(message);
  });

  test("the token's value never appears in the message", () => {
    const [p] = transitAttributeProblems({ token: "hvs.CAESIsecret" });
    expect(p.message).not.toContain("hvs.CAESIsecret");
  });

  test("names keys under the caller's key path and reports them all", () => {
    const problems = transitAttributeProblems({ tls_ca_file: "/ca.pem", token: "x" }, "vault.seal");
    expect(problems.map((p) => p.key)).toEqual(["vault.seal.tls_ca_file", "vault.seal.token"]);
  });
});
