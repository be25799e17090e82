/**
 * No standing root token, on a real server: the operator token replaces the root token of
 * the init, which is revoked; the token can do what the providers do (mint seal tokens
 * through the link's role, back the key up) and cannot make itself more (write a policy or a
 * role, mint a token with another policy); a run that dies half-way finds the same token
 * again; a lost token is refused with the way back (break-glass), which works.
 */
import { TokenGoneError, VaultApiError } from "../../core/errors";
import { initCluster } from "../../core/steps/init";
import { activeClient } from "../../core/steps/node-state";
import {
  ensureOperatorToken,
  keepOperatorToken,
  OPERATOR_POLICY,
  OperatorTokenLostError,
  OperatorTokenOptions,
  operatorTokenId,
} from "../../core/steps/operator-token";
import { generateRoot } from "../../core/steps/recovery-keys";
import { provisionTransitLink } from "../../core/steps/transit-link";
import { unsealCluster } from "../../core/steps/unseal";
import { VaultClient } from "../../core/vault-client";
import { LocalCluster } from "../../adapters/local/local-cluster";
import { Lab, newLab } from "../support/servers";

jest.setTimeout(120_000);

let lab: Lab;
let cluster: LocalCluster;
let keys: string[];
let root: string;
let options: OperatorTokenOptions;
let operator: Awaited<ReturnType<typeof ensureOperatorToken>>;

const GRANT = {
  mountPath: "transit",
  keyName: "autounseal",
  policyName: "autounseal-seal-of-vault",
  backup: true,
  restore: false,
  tokenPeriod: "720h",
};
/** The link the grant is for, as TransitLink provisions it. */
const LINK = { mountPath: GRANT.mountPath, keyName: GRANT.keyName, policyName: GRANT.policyName, allowBackup: true };
const client = (token?: string): VaultClient => cluster.client(cluster.nodeIds()[0], token);

async function refusal(p: Promise<unknown>): Promise<VaultApiError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  if (!(e instanceof VaultApiError)) throw new Error(`expected the server to refuse, got ${e === undefined ? "success" : String(e)}`);
  return e;
}

beforeAll(async () => {
  lab = await newLab("operator-token");
  cluster = await lab.cluster({ name: "unsealer", size: 1, seal: { stanzas: [] } });
  await cluster.startAll();
  const init = await initCluster(client(), { kind: "shamir", shares: 3, threshold: 2 });
  keys = init.keys;
  root = init.rootToken;
  await unsealCluster(cluster, keys);
  await activeClient(cluster, root);
  options = { flavour: lab.flavour, seals: [GRANT] };
  operator = await ensureOperatorToken(client(), root, options);
});

afterAll(async () => {
  await lab?.destroy();
});

test("after the operator token exists the init's root token is revoked, and the token is an orphan periodic one with only the operator policy", async () => {
  expect(operator.revokedRoot).toBe(true);
  const e = await refusal(client(root).read("auth/token/lookup-self"));
  expect(e).toBeInstanceOf(TokenGoneError);
  const self = (
    await client(operator.token).read<{ data: { policies: string[]; orphan: boolean; period: number; ttl: number } }>(
      "auth/token/lookup-self",
    )
  ).body.data;
  expect(self.policies.filter((p) => p !== "default")).toEqual([OPERATOR_POLICY]);
  expect(self.orphan).toBe(true);
  expect(self.period).toBe(768 * 3600);
});

test("a second run with the same (now revoked) root token finds the same operator token: a crash after the revoke loses nothing", async () => {
  const again = await ensureOperatorToken(client(), root, options);
  expect(again.token).toBe(operator.token);
  expect(again.token).toBe(operatorTokenId(root));
  expect(again.revokedRoot).toBe(false);
});

test("the operator token provisions the transit link: the seal token it mints through the role can encrypt and decrypt with the key and nothing else", async () => {
  const admin = client(operator.token);
  const link = await provisionTransitLink(admin, LINK);
  expect(link.tokenCreated).toBe(true);
  expect(link.health.orphan).toBe(true);
  expect(link.health.policies).toContain(GRANT.policyName);
  const seal = client(link.token);
  const ct = (await seal.write<{ data: { ciphertext: string } }>("transit/encrypt/autounseal", { plaintext: "aGk=" })).body.data.ciphertext;
  expect((await seal.write<{ data: { plaintext: string } }>("transit/decrypt/autounseal", { ciphertext: ct })).body.data.plaintext).toBe(
    "aGk=",
  );
  expect((await refusal(seal.read("transit/keys/autounseal"))).status).toBe(403);
  // And again: the existing token is kept, the policy and role only read.
  const again = await provisionTransitLink(admin, { ...LINK, existing: { token: link.token, accessor: link.accessor } });
  expect(again.tokenCreated).toBe(false);
  expect((await admin.read<{ data: { backup: string } }>("transit/backup/autounseal")).body.data.backup).not.toBe("");
});

test("the operator token cannot write a policy, widen the seal token role, or mint a token with any other policy: it cannot make itself root", async () => {
  const admin = client(operator.token);
  expect(
    (
      await refusal(
        admin.request("PUT", `sys/policies/acl/${OPERATOR_POLICY}`, { body: { policy: 'path "*" { capabilities = ["sudo"] }' } }),
      )
    ).status,
  ).toBe(403);
  expect(
    (
      await refusal(
        admin.request("PUT", `sys/policies/acl/${GRANT.policyName}`, { body: { policy: 'path "*" { capabilities = ["read"] }' } }),
      )
    ).status,
  ).toBe(403);
  expect((await refusal(admin.write(`auth/token/roles/${GRANT.policyName}`, { allowed_policies: ["root"] }))).status).toBe(403);
  expect(
    (await refusal(admin.write(`auth/token/roles/${GRANT.policyName}`, { allowed_policies: [GRANT.policyName, OPERATOR_POLICY] }))).status,
  ).toBe(403);
  expect((await refusal(admin.write(`auth/token/roles/${GRANT.policyName}`, { allowed_policies_glob: ["*"] }))).status).toBe(403);
  expect((await refusal(admin.write("auth/token/roles/another-role", { allowed_policies: [GRANT.policyName] }))).status).toBe(403);
  expect((await refusal(admin.write("auth/token/create-orphan", { policies: [OPERATOR_POLICY] }))).status).toBe(403);
  const e = await refusal(admin.write(`auth/token/create/${GRANT.policyName}`, { policies: ["root"] }));
  expect(e.status).toBe(400);
  expect((await refusal(admin.write("sys/mounts/kv", { type: "kv" }))).status).toBe(403);
});

test("a new token period reaches the seal token role with the operator token alone, and the next seal token gets it", async () => {
  const admin = client(operator.token);
  const link = await provisionTransitLink(admin, { ...LINK, tokenPeriod: "24h" });
  expect(link.health.periodSeconds).toBe(24 * 3600);
  const role = (await admin.read<{ data: { token_period: number } }>(`auth/token/roles/${GRANT.policyName}`)).body.data;
  expect(role.token_period).toBe(24 * 3600);
});

test("keepOperatorToken renews the token when below half its period and leaves it alone above", async () => {
  const kept = await keepOperatorToken(client(), operator.token, 768 * 3600);
  expect(kept.ttlSeconds).toBeGreaterThan(767 * 3600);
  // A period beyond the token's forces the renewal path: the TTL comes back to the full period.
  const renewed = await keepOperatorToken(client(), operator.token, 10 * 768 * 3600);
  expect(renewed.ttlSeconds).toBeGreaterThan(767 * 3600);
});

test("break-glass: the recovery (here unseal) keys and the operator token generate a root token, which can then make a new operator token", async () => {
  const fresh = await generateRoot(client(operator.token), lab.flavour, keys);
  const self = (await client(fresh).read<{ data: { policies: string[] } }>("auth/token/lookup-self")).body.data;
  expect(self.policies).toEqual(["root"]);
  const next = await ensureOperatorToken(client(), fresh, options);
  expect(next.token).not.toBe(operator.token);
  expect(next.revokedRoot).toBe(true);
  expect((await refusal(client(fresh).read("auth/token/lookup-self"))).status).toBe(403);
  operator = next;
});

test("with the root token revoked and the operator token gone, a run refuses with OperatorTokenLostError naming break-glass", async () => {
  const revoked = await generateRoot(client(operator.token), lab.flavour, keys);
  const lost = await ensureOperatorToken(client(), revoked, options);
  await client(lost.token).write("auth/token/revoke-self");
  const e = await ensureOperatorToken(client(), revoked, options).then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(OperatorTokenLostError);
  expect((e as Error).message).toMatch(/Break-glass/);
});
