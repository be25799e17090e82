/**
 * initProblems: init cannot be undone, so every bad option is reported, by key, before the
 * server is asked.
 */
import { InitOptions, initProblems } from "../../core/steps/init";

const opts = (over: Partial<InitOptions> = {}): InitOptions => ({ kind: "shamir", shares: 5, threshold: 3, ...over });

describe("initProblems", () => {
  test.each<[string, InitOptions]>([
    ["5 Shamir shares, threshold 3", opts()],
    ["a single share with threshold 1", opts({ shares: 1, threshold: 1 })],
    ["threshold equal to shares", opts({ shares: 3, threshold: 3 })],
    ["recovery keys", opts({ kind: "recovery" })],
    ["one PGP key per share", opts({ shares: 3, threshold: 2, pgpKeys: ["a", "b", "c"], rootTokenPgpKey: "r" })],
  ])("accepts %s", (_what, o) => {
    expect(initProblems(o).map((p) => p.message)).toEqual([]);
  });

  test.each<[string, Partial<InitOptions>, string, RegExp]>([
    ["threshold above shares", { shares: 3, threshold: 5 }, "threshold", /\(5\) is greater than shares \(3\): the keys could never unseal/],
    ["no shares", { shares: 0, threshold: 1 }, "shares", /must be a whole number ≥ 1, got 0/],
    ["negative shares", { shares: -2, threshold: 1 }, "shares", /must be a whole number ≥ 1, got -2/],
    ["fractional shares", { shares: 2.5, threshold: 2 }, "shares", /must be a whole number ≥ 1, got 2\.5/],
    ["NaN shares", { shares: NaN }, "shares", /must be a whole number ≥ 1, got NaN/],
    ["fractional threshold", { threshold: 2.5 }, "threshold", /must be a whole number ≥ 1, got 2\.5/],
    ["zero threshold", { shares: 1, threshold: 0 }, "threshold", /must be a whole number ≥ 1, got 0/],
    ["threshold 1 with several shares", { shares: 3, threshold: 1 }, "threshold", /must be at least 2 when there are several shares/],
    [
      "fewer PGP keys than shares",
      { shares: 3, threshold: 2, pgpKeys: ["a", "b"] },
      "pgpKeys",
      /needs one key per share: 3 shares but 2 PGP keys/,
    ],
    ["more PGP keys than shares", { shares: 1, threshold: 1, pgpKeys: ["a", "b"] }, "pgpKeys", /1 shares but 2 PGP keys/],
    ["an empty PGP key list", { pgpKeys: [] }, "pgpKeys", /5 shares but 0 PGP keys/],
    ["an unknown kind", { kind: "transit" as InitOptions["kind"] }, "kind", /must be "shamir" or "recovery", got "transit"/],
  ])("refuses %s", (_what, over, key, message) => {
    const problems = initProblems(opts(over));
    expect(problems.map((p) => p.key)).toContain(key);
    expect(problems.find((p) => p.key === key)!.message).toMatch(message);
  });

  test("reports every problem at once", () => {
    const problems = initProblems({ kind: "x" as InitOptions["kind"], shares: 0, threshold: 0, pgpKeys: ["a"] });
    expect(problems.map((p) => p.key)).toEqual(["kind", "shares", "threshold", "pgpKeys"]);
  });
});
