/**
 * `adopt` from the stack config reaches only the init it names, as a secret input: the
 * primary's vault.adopt and vaultUnlock.adopt, the helper's adopt (stack programs under mocks).
 */
import { HELPER_CONFIG, KUBECONFIG, PRIMARY_OUTPUTS, StackRun, runStack } from "./stack-mocks";

const VAULT_ADOPT = { keys: ["dmF1bHQta2V5LTE=", "dmF1bHQta2V5LTI="], rootToken: "s.vault-root-of-the-earlier-init" };
const UNLOCK_ADOPT = { keys: ["dW5sb2NrLWtleQ=="], rootToken: "s.unlock-root-of-the-earlier-init" };

const PRIMARY = {
  flavour: "vault",
  storage: "raft",
  vault: { context: "prod", namespace: "vault" },
  vaultUnlock: { context: "prod", namespace: "vault-unlock" },
  kubeconfig: KUBECONFIG,
};

const HELPER = HELPER_CONFIG;

const named = (run: StackRun, name: string) => {
  const r = run.registered.find((x) => x.name === name);
  if (!r) throw new Error(`no resource ${name}`);
  return r;
};

/** The names of the registrations whose inputs hold the text. */
const holders = (run: StackRun, text: string) => run.registered.filter((r) => JSON.stringify(r.inputs).includes(text)).map((r) => r.name);

describe("primary stack with vault.adopt and vaultUnlock.adopt", () => {
  let run: StackRun;
  beforeAll(async () => {
    run = await runStack("primary", {
      ...PRIMARY,
      vault: { ...PRIMARY.vault, adopt: VAULT_ADOPT },
      vaultUnlock: { ...PRIMARY.vaultUnlock, adopt: UNLOCK_ADOPT },
    });
    if (run.error) throw run.error;
  });

  it("each init gets its own cluster's adopt, as a secret input", () => {
    const vault = named(run, "vault-init");
    const unlock = named(run, "vault-unlock-init");
    expect({ vault: vault.inputs.adopt, unlock: unlock.inputs.adopt }).toEqual({ vault: VAULT_ADOPT, unlock: UNLOCK_ADOPT });
    expect({ vault: vault.secretPaths, unlock: unlock.secretPaths }).toEqual({
      vault: expect.arrayContaining(["adopt"]),
      unlock: expect.arrayContaining(["adopt"]),
    });
  });

  it("no other resource receives the adopted root tokens", () => {
    expect(holders(run, VAULT_ADOPT.rootToken)).toEqual(["vault-init"]);
    expect(holders(run, UNLOCK_ADOPT.rootToken)).toEqual(["vault-unlock-init"]);
  });
});

describe("primary stack without adopt", () => {
  it("registers the inits without adopt", async () => {
    const run = await runStack("primary", PRIMARY);
    if (run.error) throw run.error;
    expect([named(run, "vault-init").inputs.adopt, named(run, "vault-unlock-init").inputs.adopt]).toEqual([undefined, undefined]);
  });
});

describe("helper stack with adopt", () => {
  it("the helper's init gets it as a secret input, and no other resource holds its root token", async () => {
    const run = await runStack("helper", { ...HELPER, adopt: VAULT_ADOPT }, PRIMARY_OUTPUTS);
    if (run.error) throw run.error;
    const init = named(run, "helper-init");
    expect(init.inputs.adopt).toEqual(VAULT_ADOPT);
    expect(init.secretPaths).toEqual(expect.arrayContaining(["adopt"]));
    expect(holders(run, VAULT_ADOPT.rootToken)).toEqual(["helper-init"]);
  });
});
