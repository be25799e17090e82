/**
 * The plan the stacks register and the lab runs: its order is one a single pass can run,
 * and the facts that had drifted between two bootstraps are stated once.
 */
import { helperPlan, LinkStep, MigrationStep, pairPlan, PlanStep, RolloutStep, stepOf } from "../../core/pair-plan";

const plans: [string, PlanStep[]][] = [
  ["pair", pairPlan()],
  ["pair with operators' PGP keys", pairPlan(undefined, { recoveryPgpKeys: true })],
  ["helper", helperPlan("helper")],
];

describe.each(plans)("the %s plan", (_name, plan) => {
  it("names each step once", () => {
    const names = plan.map((s) => s.name);
    expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
  });

  it("lists every step after the steps it waits for", () => {
    const late = plan.flatMap((s, i) =>
      s.after.filter((a) => plan.findIndex((x) => x.name === a) >= i).map((a) => `${s.name} before ${a}`),
    );
    expect(late).toEqual([]);
  });
});

describe("the pair's and the helper's links", () => {
  const pair = pairPlan();
  const sealOfVault = stepOf(pair, "link", { name: "seal-of-vault" }) as LinkStep;
  const emergency = stepOf(helperPlan("helper"), "link", { name: "helper-emergency-link" }) as LinkStep;

  it("give vault's emergency seal on the helper the same key, mount and policy as its usual seal on vault-unlock", () => {
    expect([emergency.mountPath, emergency.keyName, emergency.policyName]).toEqual([
      sealOfVault.mountPath,
      sealOfVault.keyName,
      sealOfVault.policyName,
    ]);
    expect(sealOfVault.policyName).toBe("autounseal-seal-of-vault");
  });

  it("make only the key the helper copies backup-able, and the helper's copy is never created there", () => {
    expect(pair.filter((s): s is LinkStep => s.kind === "link" && s.allowBackup).map((s) => s.name)).toEqual(["seal-of-vault"]);
    expect([emergency.createKey, emergency.allowBackup, emergency.keepAlive]).toEqual([false, false, true]);
  });

  it("start vault after its seal settings exist, and migrate vault-unlock only after the link that will seal it", () => {
    expect(stepOf(pair, "cluster", { cluster: "vault" }).after).toEqual(["seal-of-vault"]);
    expect(sealOfVault.bornSealed).toBe(true);
    const migration = stepOf(pair, "migration", { cluster: "vaultUnlock" });
    expect([migration.link, migration.after]).toEqual(["seal-of-vault-unlock", ["seal-of-vault-unlock"]]);
  });
});

describe("operators' PGP keys", () => {
  const rotations = (plan: PlanStep[]) => plan.filter((s) => s.kind === "recovery-rotation").map((s) => [s.name, s.after]);

  it("rotate vault's recovery keys after its init, and vault-unlock's only after its migration (which needs its plaintext unseal keys)", () => {
    expect(rotations(pairPlan(undefined, { recoveryPgpKeys: true }))).toEqual([
      ["vault-recovery-keys", ["vault-init"]],
      ["vault-unlock-recovery-keys", ["vault-unlock-seal-migration"]],
    ]);
  });

  it("are no step at all when none are configured", () => {
    expect(rotations(pairPlan())).toEqual([]);
  });
});

describe("the tokens a link replaces while they are alive", () => {
  const pair = pairPlan();
  const movers = (plan: PlanStep[], link: string) =>
    plan.filter((s): s is RolloutStep | MigrationStep => (s.kind === "rollout" || s.kind === "migration") && s.link === link);

  it("are revoked, for each of the pair's links, by the one step that moves the sealed cluster's nodes onto the new token", () => {
    const revokers = pair
      .filter((s): s is LinkStep => s.kind === "link")
      .map((l) => [l.name, movers(pair, l.name).map((s) => [s.kind, s.cluster, s.revokeSuperseded])]);
    expect(revokers).toEqual([
      ["seal-of-vault", [["rollout", "vault", true]]],
      ["seal-of-vault-unlock", [["migration", "vaultUnlock", true]]],
    ]);
  });

  it("are left to die on the helper: no step of the helper's plan moves vault's nodes onto its emergency token", () => {
    const helper = helperPlan("helper");
    expect(movers(helper, "helper-emergency-link")).toEqual([]);
  });
});
