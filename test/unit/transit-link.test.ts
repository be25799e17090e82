/**
 * The transit link's pure parts: the seal token's least-privilege policy and the token
 * period parser.
 */
import { durationSeconds, sealPolicy } from "../../core/steps/transit-link";
import { refusal } from "./refusal";

/** The policy's rules as path → capabilities. */
function rules(policy: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const m of policy.matchAll(/path "([^"]*)" \{\s*capabilities = (\[[^\]]*\])\s*\}/g)) out[m[1]] = JSON.parse(m[2]);
  return out;
}

describe("sealPolicy", () => {
  test("lets the seal token encrypt and decrypt with its one key, nothing else", () => {
    const policy = sealPolicy("transit", "autounseal");
    expect(rules(policy)).toEqual({
      "transit/encrypt/autounseal": ["update"],
      "transit/decrypt/autounseal": ["update"],
    });
    // No other rule, no glob that would reach other keys or endpoints.
    expect(policy.match(/^path /gm)).toHaveLength(2);
    expect(policy).not.toMatch(/[*+]/);
  });

  test.each([["transit"], ["transit/"], ["/transit"], ["//transit//"]])("mount %p gives the same policy as transit", (mount) => {
    expect(sealPolicy(mount, "autounseal")).toBe(sealPolicy("transit", "autounseal"));
  });

  test("a nested mount keeps its inner slashes", () => {
    expect(Object.keys(rules(sealPolicy("/seals/vault-unlock/", "k")))).toEqual([
      "seals/vault-unlock/encrypt/k",
      "seals/vault-unlock/decrypt/k",
    ]);
  });
});

describe("durationSeconds", () => {
  test.each<[string, number]>([
    ["720h", 720 * 3600],
    ["30m", 1800],
    ["3600s", 3600],
    ["3600", 3600],
    [" 12h ", 12 * 3600],
  ])("%p is %p seconds", (d, s) => {
    expect(durationSeconds(d)).toBe(s);
  });

  test.each([[""], ["1d"], ["1.5h"], ["-1h"], ["h"], ["10 hours"], ["1h30m"], ["0x10"], ["720H"]])(
    "refuses %p, naming tokenPeriod",
    (d) => {
      const e = refusal(() => durationSeconds(d));
      expect(e.key).toBe("tokenPeriod");
      expect(e.message).toContain(`"${d}" is not a duration: use e.g. 720h, 30m or 3600s`);
    },
  );

  test("names the caller's key", () => {
    expect(refusal(() => durationSeconds("soon", "helper.tokenPeriod")).key).toBe("helper.tokenPeriod");
  });
});
