/**
 * `adopt` in the stack config (vault.adopt, vaultUnlock.adopt, the helper's adopt): the keys
 * and root token of an earlier init, from secret config. Table tests: each bad input, the
 * key path and message it gets, and never its value in the message.
 */
import { parseHelperConfig, parsePrimaryConfig, PRIMARY_TEXT_KEYS } from "../../components/config";
import { configValues } from "../../stacks/read-config";
import { problems } from "../support/config-problems";

const primary = {
  flavour: "openbao",
  storage: "raft",
  vault: { context: "prod", namespace: "vault" },
  vaultUnlock: { context: "prod", namespace: "vault-unlock" },
};

const helper = {
  flavour: "openbao",
  storage: "raft",
  context: "helper",
  expose: { type: "LoadBalancer", sourceRanges: ["10.20.0.0/16"] },
  primaryStack: "org/vault-mutual-unseal/primary",
};

const good = { keys: ["a2V5LTE=", "a2V5LTI="], rootToken: "s.root-of-the-earlier-init" };

describe("adopt in the primary stack config", () => {
  test("vault.adopt and vaultUnlock.adopt are read per cluster; absent means none", () => {
    const c = parsePrimaryConfig({ ...primary, vault: { ...primary.vault, adopt: good } });
    expect({ vault: c.vault.adopt, vaultUnlock: c.vaultUnlock.adopt }).toEqual({ vault: good, vaultUnlock: undefined });
    const u = parsePrimaryConfig({ ...primary, vaultUnlock: { ...primary.vaultUnlock, adopt: good } });
    expect({ vault: u.vault.adopt, vaultUnlock: u.vaultUnlock.adopt }).toEqual({ vault: undefined, vaultUnlock: good });
  });

  test("as Pulumi hands over a secret set with --path (the whole object as JSON text), adopt arrives intact", () => {
    const raw = configValues(
      {
        "vault-mutual-unseal:flavour": "openbao",
        "vault-mutual-unseal:storage": "raft",
        "vault-mutual-unseal:vault": JSON.stringify({ ...primary.vault, adopt: good }),
        "vault-mutual-unseal:vaultUnlock": JSON.stringify(primary.vaultUnlock),
      },
      PRIMARY_TEXT_KEYS,
    );
    expect(parsePrimaryConfig(raw).vault.adopt).toEqual(good);
  });

  test.each<[string, unknown, RegExp]>([
    [
      "not an object",
      "s.root",
      /^vault-mutual-unseal:vault\.adopt: must be \{ keys, rootToken \} from the earlier init \(set them with pulumi config set --secret --path/,
    ],
    ["no keys", { rootToken: good.rootToken }, /^vault-mutual-unseal:vault\.adopt\.keys: must be the list of keys from the earlier init/],
    [
      "an empty key list",
      { keys: [], rootToken: good.rootToken },
      /^vault-mutual-unseal:vault\.adopt\.keys: needs the keys from the earlier init/,
    ],
    [
      "a key that is no text",
      { keys: [42], rootToken: good.rootToken },
      /^vault-mutual-unseal:vault\.adopt\.keys\.0: must be a key \(base64 text\)/,
    ],
    [
      "an empty key",
      { keys: [""], rootToken: good.rootToken },
      /^vault-mutual-unseal:vault\.adopt\.keys\.0: must be a key \(base64 text\)/,
    ],
    [
      "no root token",
      { keys: good.keys },
      /^vault-mutual-unseal:vault\.adopt\.rootToken: must be the root token from the earlier init \(set them/,
    ],
    ["an empty root token", { keys: good.keys, rootToken: "" }, /^vault-mutual-unseal:vault\.adopt\.rootToken: must be the root token/],
    ["a misspelt key", { ...good, rooToken: "s.x" }, /^vault-mutual-unseal:vault\.adopt: unknown key\(s\) rooToken/],
  ])("vault.adopt %s is refused, naming the key", (_, adopt, message) => {
    const found = problems(() => parsePrimaryConfig({ ...primary, vault: { ...primary.vault, adopt } }));
    expect(found.some((p) => message.test(p))).toBe(true);
  });

  test("a bad vaultUnlock.adopt is reported under vaultUnlock.adopt", () => {
    const found = problems(() => parsePrimaryConfig({ ...primary, vaultUnlock: { ...primary.vaultUnlock, adopt: { keys: good.keys } } }));
    expect(found).toEqual([expect.stringMatching(/^vault-mutual-unseal:vaultUnlock\.adopt\.rootToken: must be the root token/)]);
  });

  test("the messages never quote the secret values", () => {
    const secret = "s.THIS-MUST-NOT-APPEAR";
    const found = problems(() =>
      parsePrimaryConfig({ ...primary, vault: { ...primary.vault, adopt: { keys: [secret, 7], rootToken: 9, extra: secret } } }),
    );
    expect(found.length).toBeGreaterThan(0);
    expect(found.join("\n")).not.toContain(secret);
  });
});

describe("adopt in the helper stack config", () => {
  test("adopt is read; absent means none", () => {
    expect(parseHelperConfig({ ...helper, adopt: good }).adopt).toEqual(good);
    expect(parseHelperConfig(helper).adopt).toBeUndefined();
  });

  test.each<[string, unknown, RegExp]>([
    ["not an object", ["k"], /^vault-mutual-unseal:adopt: must be \{ keys, rootToken \}/],
    ["no root token", { keys: good.keys }, /^vault-mutual-unseal:adopt\.rootToken: must be the root token/],
    ["an empty key list", { keys: [], rootToken: good.rootToken }, /^vault-mutual-unseal:adopt\.keys: needs the keys/],
  ])("adopt %s is refused, naming the key", (_, adopt, message) => {
    const found = problems(() => parseHelperConfig({ ...helper, adopt }));
    expect(found.some((p) => message.test(p))).toBe(true);
  });
});
