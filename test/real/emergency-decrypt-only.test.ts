/**
 * Can the helper's emergency token be scoped to decrypt only? No: OpenBao's transit seal
 * encrypts a probe (the plaintext "a") when the server reads its seal stanza, before it
 * opens its storage or learns its role, so a node whose token may only decrypt exits at
 * start ("Error configuring seal"), active-to-be and standby alike. What a token allowed
 * decrypt plus the encrypt of that one probe value gives, and what it costs (no re-wrap
 * after a key rotation, no recovery key rotation), is shown here too.
 */
import { LocalCluster, NodeExitedError } from "../../adapters/local/local-cluster";
import { VaultApiError } from "../../core/errors";
import { initCluster } from "../../core/steps/init";
import { activeClient, findActive } from "../../core/steps/node-state";
import { stepDown } from "../../core/steps/rollout";
import { rotateTransitKey } from "../../core/steps/transit-link";
import { checkTransitPeer, transitPeerClient } from "../../core/steps/peer-gate";
import { waitClusterUnsealed } from "../../core/steps/unseal";
import { waitFor } from "../../core/wait";
import { sealTowards, Unsealer, unsealer } from "../support/pair";
import { Lab, newLab } from "../support/servers";

jest.setTimeout(240_000);

let lab: Lab;
let u: Unsealer;
let vault: LocalCluster;
let vaultRoot: string;
let recoveryKeys: string[];

const DECRYPT_ONLY = [`path "transit/decrypt/autounseal" {`, `  capabilities = ["update"]`, `}`, ""].join("\n");
// The seal's start-up probe is the plaintext "a" (base64 "YQ=="); every other encrypt is refused.
const DECRYPT_AND_PROBE = [
  `path "transit/encrypt/autounseal" {`,
  `  capabilities = ["update"]`,
  `  allowed_parameters = { "plaintext" = ["YQ=="] }`,
  `}`,
  DECRYPT_ONLY,
].join("\n");

/** An orphan periodic token with `policy` only, issued on the unsealer. */
async function tokenWith(name: string, policy: string): Promise<string> {
  const admin = await activeClient(u.cluster, u.rootToken);
  await admin.request("PUT", `sys/policies/acl/${name}`, { body: { policy } });
  const created = await admin.write<{ auth: { client_token: string } }>("auth/token/create-orphan", {
    policies: [name],
    period: "720h",
  });
  return created.body.auth.client_token;
}

async function restartVaultOn(token: string): Promise<void> {
  await vault.stopAll();
  await vault.applySeal({ stanzas: [sealTowards(lab, u, vault)], transitToken: token });
}

beforeAll(async () => {
  lab = await newLab("decrypt-only");
  u = await unsealer(lab);
  // vault, initialized on its usual token (encrypt and decrypt), as before any emergency.
  vault = await lab.cluster({ name: "vault", size: 3, seal: { stanzas: [] } });
  await vault.applySeal({ stanzas: [sealTowards(lab, u, vault)], transitToken: u.link.token });
  await vault.startAll();
  const init = await initCluster(vault.client(vault.nodeIds()[0]), { kind: "recovery", shares: 1, threshold: 1 });
  vaultRoot = init.rootToken;
  recoveryKeys = init.keys;
  await waitClusterUnsealed(vault, { timeoutMs: 60_000 });
});
afterAll(() => lab?.destroy());

test("a token allowed only transit/decrypt/autounseal is refused encrypt with 403", async () => {
  const token = await tokenWith("decrypt-only", DECRYPT_ONLY);
  const err = await transitPeerClient(sealTowards(lab, u, vault), token)
    .write("transit/encrypt/autounseal", { plaintext: "YQ==" })
    .catch((e: unknown) => e);
  expect(err).toBeInstanceOf(VaultApiError);
  expect((err as VaultApiError).status).toBe(403);
});

test("every node of vault on a decrypt-only seal token exits at start: the seal's probe encrypt gets 403", async () => {
  await restartVaultOn(await tokenWith("decrypt-only", DECRYPT_ONLY));
  for (const id of vault.nodeIds()) {
    const exit = await vault.start(id, { skipPeerGate: true }).catch((e: unknown) => e);
    expect(exit).toBeInstanceOf(NodeExitedError);
    expect((exit as NodeExitedError).code).toBe(1);
    expect((exit as NodeExitedError).logTail).toMatch(/Error configuring seal "transit"[\s\S]*transit\/encrypt\/autounseal[\s\S]*403/);
  }
});

test("the peer gate refuses a decrypt-only token with its 403 message (its probe is an encrypt)", async () => {
  const token = await tokenWith("decrypt-only", DECRYPT_ONLY);
  const err = await checkTransitPeer(sealTowards(lab, u, vault), token).catch((e: unknown) => e);
  expect((err as Error).message).toMatch(/refused the seal token for transit\/encrypt\/autounseal \(403\)/);
});

test("on a token allowed decrypt and only the probe encrypt, every node of vault auto-unseals after a restart", async () => {
  const token = await tokenWith("decrypt-and-probe", DECRYPT_AND_PROBE);
  await restartVaultOn(token);
  await vault.startAll({ skipPeerGate: true });
  await waitClusterUnsealed(vault, { timeoutMs: 60_000 });
});

/** Steps vault's active node down (the rollout's step-down) and resolves with the node that takes over. */
async function leaderChange(): Promise<string> {
  await activeClient(vault, vaultRoot); // waits until a node is active
  return stepDown(vault, (await findActive(vault))!, vaultRoot);
}

test("on that token, a step-down gives vault a new active node, every node still unsealed", async () => {
  await leaderChange();
  await waitClusterUnsealed(vault, { timeoutMs: 60_000 });
});

test("on that token, after the key's rotation the new active cannot re-wrap its keys: a warning, still unsealed", async () => {
  await rotateTransitKey(await activeClient(u.cluster, u.rootToken), "transit", "autounseal");
  const active = await leaderChange();
  await waitClusterUnsealed(vault, { timeoutMs: 60_000 });
  await waitFor(
    "the new active's post-unseal warning",
    async () => {
      const tail = vault.logTail(active, 60);
      return { done: /post-unseal upgrade seal keys failed/.test(tail), state: tail.slice(-300) };
    },
    { timeoutMs: 30_000 },
  );
});

test("on that token, rotating vault's recovery keys fails: the seal cannot encrypt the new recovery key", async () => {
  const admin = await activeClient(vault, vaultRoot);
  const init = await admin.write<{ data?: { nonce: string }; nonce?: string }>("sys/rotate/recovery/init", {
    secret_shares: 1,
    secret_threshold: 1,
  });
  const nonce = init.body.data?.nonce ?? init.body.nonce;
  const err = await admin.write("sys/rotate/recovery/update", { key: recoveryKeys[0], nonce }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(VaultApiError);
  expect((err as VaultApiError).message).toMatch(/failed to encrypt keys for storage[\s\S]*403/);
});
