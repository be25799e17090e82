/**
 * TransitLink through its provider object on a real unsealer: create issues a periodic
 * orphan token that can encrypt with the key; update keeps it; a new period issues a new
 * one and leaves the old alive (nodes may still run with it), recording it as superseded; read
 * sees a revoked token and the update that follows replaces it (diff alone sees it too);
 * keepAlive renews a token no seal renews; delete keeps mount, key, policy and by default the
 * token, and revokes the token and the superseded ones only with revokeTokenOnDelete.
 */
import { LocalCluster } from "../../adapters/local/local-cluster";
import { TokenGoneError, VaultApiError, VaultTlsError } from "../../core/errors";
import { NodeControl } from "../../core/nodes";
import { VaultClient } from "../../core/vault-client";
import { sleep } from "../../core/wait";
import { TransitLinkInputs, TransitLinkOutputs, transitLinkProvider as provider } from "../../providers/transit-link";
import { shamirNode } from "../support/pair";
import { Lab, newLab } from "../support/servers";
import { checkNew, create, LocalAccess, read, State, update } from "./harness";

jest.setTimeout(120_000);

let lab: Lab;
let c: LocalCluster;
let admin: VaultClient;
let inputs: TransitLinkInputs;
const access = new LocalAccess();

beforeAll(async () => {
  lab = await newLab("prov-link");
  const u = await shamirNode(lab, "link-unsealer");
  ({ cluster: c, admin } = u);
  inputs = await checkNew(provider, {
    version: 1,
    nodes: access.of(c),
    adminToken: u.rootToken,
    mountPath: "transit",
    keyName: "autounseal",
    displayName: "seal-of-vault",
  });
});
afterAll(async () => {
  access.clear();
  await lab?.destroy();
});

/** Whether a token still exists, looked up by accessor. */
async function alive(accessor: string): Promise<boolean> {
  try {
    await admin.write("auth/token/lookup-accessor", { accessor });
    return true;
  } catch (e) {
    if (e instanceof VaultApiError && e.mentions("invalid accessor")) return false;
    throw e;
  }
}

let created: State<TransitLinkOutputs>;

test("create: mount, key, policy and a periodic orphan token that encrypts with the key", async () => {
  created = await create(provider, inputs);
  expect(created.id).toBe("transit-link:local/link-unsealer:transit/autounseal");
  expect(created.outs).toMatchObject({ policyName: "autounseal-seal", periodSeconds: 720 * 3600, tokenHealthy: true });
  expect(created.outs.ttlSeconds).toBeGreaterThan(719 * 3600);
  const seal = c.client(c.nodeIds()[0], created.outs.token);
  await seal.write("transit/encrypt/autounseal", { plaintext: Buffer.from("x").toString("base64") });
  // Least privilege: nothing but its key.
  await expect(seal.read("sys/mounts")).rejects.toThrow(/403/);
});

test("update with the same inputs keeps the token; a new period issues a new one and leaves the old one alive", async () => {
  const same = await update(provider, created, inputs);
  expect({ token: same.outs.token, accessor: same.outs.accessor }).toEqual({ token: created.outs.token, accessor: created.outs.accessor });

  const shorter = await update(provider, same, { ...inputs, tokenPeriod: "1h" });
  expect(shorter.outs.accessor).not.toBe(created.outs.accessor);
  expect(shorter.outs).toMatchObject({ periodSeconds: 3600, tokenHealthy: true });
  expect(await alive(created.outs.accessor)).toBe(true);
  // Alive and replaced: for the step that moves the nodes onto the new token to revoke.
  expect(same.outs.supersededAccessors).toEqual([]);
  expect(shorter.outs.supersededAccessors).toEqual([created.outs.accessor]);
  created = shorter;
  inputs = { ...inputs, tokenPeriod: "1h" };
});

test("read records a revoked token; diff asks for an update, which issues a new token", async () => {
  const read0 = await read(provider, created);
  expect(read0.outs).toMatchObject({ tokenHealthy: true, periodSeconds: 3600 });
  expect(await provider.diff!(created.id, read0.outs, inputs)).toEqual({ changes: false, replaces: [], deleteBeforeReplace: false });

  // A root token the unsealer refuses is a problem to fix, not "no change": the diff says so.
  const refused = { ...inputs, adminToken: "not-the-root-token" };
  await expect(provider.diff!(created.id, { ...read0.outs, adminToken: refused.adminToken }, refused)).rejects.toThrow(/HTTP 403/);

  await admin.write("auth/token/revoke-accessor", { accessor: created.outs.accessor });
  // No refresh needed: diff itself finds the token gone.
  expect((await provider.diff!(created.id, created.outs, inputs)).changes).toBe(true);
  const read1 = await read(provider, created);
  expect(read1.outs).toMatchObject({ tokenHealthy: false, ttlSeconds: 0 });
  expect(read1.outs.tokenVerdict).toContain("expired or was revoked");
  expect((await provider.diff!(created.id, read1.outs, inputs)).changes).toBe(true);

  const renewed = await update(provider, read1, inputs);
  expect(renewed.outs.accessor).not.toBe(created.outs.accessor);
  expect(renewed.outs.tokenHealthy).toBe(true);
  // A gone token is nothing to revoke: not superseded (the one replaced while alive still is).
  expect(renewed.outs.supersededAccessors).toEqual(read1.outs.supersededAccessors);
  expect(renewed.outs.supersededAccessors).not.toContain(created.outs.accessor);
  created = renewed;
});

test("keepAlive: a token no seal renews is renewed by the update once below half its period; without it nothing changes", async () => {
  const kept = await checkNew(provider, { ...inputs, keyName: "standby-key", tokenPeriod: "10s", keepAlive: true });
  const made = await create(provider, kept);
  expect(made.outs).toMatchObject({ keepAlive: true, periodSeconds: 10 });
  expect(await provider.diff!(made.id, made.outs, kept)).toMatchObject({ changes: false });

  // Nothing renews it (no seal uses it): past half its period.
  await sleep(6000);
  const unkept = { ...kept, keepAlive: false };
  expect(await provider.diff!(made.id, { ...made.outs, keepAlive: false }, unkept)).toMatchObject({ changes: false });
  expect(await provider.diff!(made.id, made.outs, kept)).toMatchObject({ changes: true });

  const renewed = await update(provider, made, kept);
  expect(renewed.outs.accessor).toBe(made.outs.accessor);
  expect(renewed.outs.ttlSeconds).toBeGreaterThan(5);
  const ttl = (await admin.write<{ data: { ttl: number } }>("auth/token/lookup-accessor", { accessor: made.outs.accessor })).body.data.ttl;
  expect(ttl).toBeGreaterThan(5);
  await provider.delete!(renewed.id, renewed.outs);
});

test("delete by default keeps the token alive (nodes may still run on it), and the mount, the key and the policy", async () => {
  const before = (await admin.read<{ data: { latest_version: number } }>("transit/keys/autounseal")).body.data.latest_version;
  expect(created.outs.revokeTokenOnDelete).toBe(false);
  await provider.delete!(created.id, created.outs);
  expect(await alive(created.outs.accessor)).toBe(true);
  for (const a of created.outs.supersededAccessors!) expect(await alive(a)).toBe(true);
  expect((await admin.read<{ data: { latest_version: number } }>("transit/keys/autounseal")).body.data.latest_version).toBe(before);
  expect((await admin.read<{ policy?: string; data?: { policy: string } }>("sys/policies/acl/autounseal-seal")).status).toBe(200);
});

test("delete with revokeTokenOnDelete revokes the token and the superseded ones, and keeps the rest; a second delete is fine", async () => {
  const optIn = await checkNew(provider, { ...inputs, revokeTokenOnDelete: true });
  // Now an update of the opted-in link: the same token, still superseding the first one.
  const state = await update(provider, created, optIn);
  expect(state.outs.accessor).toBe(created.outs.accessor);
  expect(state.outs.supersededAccessors!.length).toBeGreaterThan(0);
  await provider.delete!(state.id, state.outs);
  expect(await alive(state.outs.accessor)).toBe(false);
  for (const a of state.outs.supersededAccessors!) expect(await alive(a)).toBe(false);
  expect((await admin.read<{ policy?: string; data?: { policy: string } }>("sys/policies/acl/autounseal-seal")).status).toBe(200);
  await provider.delete!(state.id, state.outs);
});

test("keepAlive with a period above the token store's max TTL renews below half of what a renewal gives, not on every run", async () => {
  // The token store caps every TTL (768 h by default); here 20 s, so a 60 s period gets 20 s.
  await admin.write("sys/auth/token/tune", { max_lease_ttl: "20s" });
  const kept = await checkNew(provider, { ...inputs, keyName: "capped-key", tokenPeriod: "60s", keepAlive: true });
  const made = await create(provider, kept);
  expect(made.outs).toMatchObject({ periodSeconds: 60 });
  expect(made.outs.fullTtlSeconds).toBeLessThanOrEqual(20);
  // Fresh: no change, although its TTL is below half its period.
  expect(await provider.diff!(made.id, made.outs, kept)).toMatchObject({ changes: false });

  await sleep(11_000);
  expect(await provider.diff!(made.id, made.outs, kept)).toMatchObject({ changes: true });
  const renewed = await update(provider, made, kept);
  expect(renewed.outs.accessor).toBe(made.outs.accessor);
  expect(renewed.outs.ttlSeconds).toBeGreaterThan(10);
  // Renewed as far as the store allows: the next run changes nothing.
  expect(await provider.diff!(renewed.id, renewed.outs, kept)).toMatchObject({ changes: false });
});

test("a root token the unsealer no longer knows fails the read with TokenGoneError (the caller's token), though the seal token is alive", async () => {
  const made = await create(provider, { ...inputs, keyName: "gone-root-key" });
  const child = await admin.write<{ auth: { client_token: string; accessor: string } }>("auth/token/create", { policies: ["root"] });
  await admin.write("auth/token/revoke-accessor", { accessor: child.body.auth.accessor });
  const withGoneRoot = { ...made, outs: { ...made.outs, adminToken: child.body.auth.client_token } };
  const e = await provider.read!(withGoneRoot.id, withGoneRoot.outs).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(TokenGoneError);
  expect(e).toMatchObject({ gone: "caller" });
  expect(await alive(made.outs.accessor)).toBe(true);
  await provider.delete!(made.id, made.outs);
});

test("a diff through a node whose TLS fails raises the TLS error instead of keeping the recorded state", async () => {
  // The same unsealer asked with a server name its certificate does not hold.
  const client = (node: string, token?: string) =>
    new VaultClient({ address: c.address(node), token, tls: { caFile: c.caFile, serverName: "not-this-server" } });
  const wrongName = { name: `${c.name}-wrong-name`, nodeIds: () => c.nodeIds(), client } as unknown as NodeControl;
  const nodes = access.of(wrongName);
  await expect(provider.diff!(created.id, { ...created.outs, nodes }, { ...inputs, nodes })).rejects.toBeInstanceOf(VaultTlsError);
});
