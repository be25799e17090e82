/**
 * Token hygiene of the transit links, on real servers through the providers' operations (as the
 * stacks and the lab call them):
 * - a look at the recorded token that fails for a reason other than "gone" (the admin token
 *   refused by its policy, the unsealer unreachable) fails the update and mints no token;
 * - a token replaced while alive (a new period) is recorded as superseded and stays alive until
 *   the step that moves the sealed nodes onto the new one has run: SealRollout (vault: 3 nodes,
 *   restarted one by one) and SealMigration (vault-unlock: 3 nodes, re-pointed) revoke it on
 *   the unsealer once every node is unsealed on the new token; a re-run of the rollout after a
 *   crash (its record not written) finishes it, revoking the gone token again without error;
 * - the lab's plan (the stacks' plan) run again with a new token period replaces all three
 *   tokens: vault's and vault-unlock's old ones are revoked by the rollout and the migration,
 *   the helper's old emergency token is left alive (no step knows vault no longer needs it).
 */
import * as net from "net";
import { LocalCluster } from "../../adapters/local/local-cluster";
import { VaultApiError, VaultUnreachableError } from "../../core/errors";
import { NodeControl, SealSettings, sealSettingsDigest } from "../../core/nodes";
import { TransitSeal } from "../../core/render/seal";
import { initCluster } from "../../core/steps/init";
import { findActive } from "../../core/steps/node-state";
import { tokenExists } from "../../core/steps/token-health";
import { waitClusterUnsealed } from "../../core/steps/unseal";
import { VaultClient } from "../../core/vault-client";
import { SealMigrationOutputs, sealMigrationProvider } from "../../providers/seal-migration";
import { SealRolloutInputs, SealRolloutOutputs, sealRolloutProvider } from "../../providers/seal-rollout";
import { TransitLinkInputs, TransitLinkOutputs, transitLinkProvider } from "../../providers/transit-link";
import { Topology } from "../../lab/topology";
import { checkNew, create, LocalAccess, State, update } from "../providers/harness";
import { shamirClusterWithSecret, ShamirCluster, Unsealer, unsealer } from "../support/pair";
import { Lab, labOptions, newLab } from "../support/servers";

jest.setTimeout(300_000);

let lab: Lab;
let u: Unsealer;
let admin: VaultClient;
const access = new LocalAccess();

beforeAll(async () => {
  lab = await newLab("token-hygiene");
  u = await unsealer(lab, "hygiene-unlock");
  admin = u.cluster.client(u.cluster.nodeIds()[0], u.rootToken);
});
afterAll(async () => {
  access.clear();
  await lab?.destroy();
});

/** The link's inputs on the unsealer `u` for the sealed cluster `sealed`, each test on its own key. */
function linkInputs(keyName: string, sealed: string): Promise<TransitLinkInputs> {
  return checkNew(transitLinkProvider, {
    version: 1,
    nodes: access.of(u.cluster),
    adminToken: u.rootToken,
    mountPath: "transit",
    keyName,
    policyName: `${keyName}-seal-of-${sealed}`,
    displayName: `seal-of-${sealed}`,
  });
}

/** Every token accessor the unsealer knows: what a minted token would add to. */
async function accessors(): Promise<string[]> {
  return (await admin.request<{ data: { keys: string[] } }>("LIST", "auth/token/accessors")).body.data.keys.sort();
}

/** The seal towards `u` with `token`, as `sealed`'s nodes see it. */
function sealAt(sealed: LocalCluster, keyName: string, token: string): SealSettings {
  const seal: TransitSeal = {
    type: "transit",
    address: u.cluster.address(u.cluster.nodeIds()[0]),
    keyName,
    mountPath: "transit/",
    tlsCaCert: lab.pki.caFile,
    tlsClientCert: sealed.clientCert.certFile,
    tlsClientKey: sealed.clientCert.keyFile,
    tlsServerName: u.cluster.name,
  };
  return { stanzas: [seal], transitToken: token };
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

describe("a look at the recorded token that fails for another reason than 'gone'", () => {
  let link: State<TransitLinkOutputs>;
  let inputs: TransitLinkInputs;
  beforeAll(async () => {
    inputs = await linkInputs("look-key", "look");
    link = await create(transitLinkProvider, inputs);
  });

  test("an admin token whose policy refuses the lookup (HTTP 403) fails the update and mints no token", async () => {
    // Allowed everything a new token needs (create-orphan with sudo), refused only the look at the old one.
    await admin.request("PUT", "sys/policies/acl/all-but-lookup", {
      body: {
        policy: [
          'path "*" {\n  capabilities = ["create", "read", "update", "delete", "list", "sudo"]\n}',
          'path "auth/token/lookup-accessor" {\n  capabilities = ["deny"]\n}',
        ].join("\n"),
      },
    });
    const refused = await admin.write<{ auth: { client_token: string } }>("auth/token/create", { policies: ["all-but-lookup"], ttl: "1h" });
    const before = await accessors();
    const news = { ...inputs, adminToken: refused.body.auth.client_token };
    const e = await failure(update(transitLinkProvider, { ...link, outs: { ...link.outs, adminToken: news.adminToken } }, news));
    expect(e).toBeInstanceOf(VaultApiError);
    expect(e).toMatchObject({ status: 403 });
    expect(await accessors()).toEqual(before);
    expect(await tokenExists(admin, link.outs.accessor)).toBe(true);
  });

  test("an unsealer that cannot be reached at the lookup fails the update and mints no token", async () => {
    // A port nothing listens on: the lookup, and only it, meets a refused connection.
    const closed = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, "127.0.0.1", () => {
        const port = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(port));
      });
    });
    const client = (id: string, token?: string): VaultClient => {
      const real = u.cluster.client(id, token);
      const down = new VaultClient({ address: `https://127.0.0.1:${closed}`, token, tls: real.tls });
      const write = real.write.bind(real);
      real.write = ((path: string, body?: unknown) =>
        path === "auth/token/lookup-accessor" ? down.write(path, body) : write(path, body)) as VaultClient["write"];
      return real;
    };
    const lookupDown = { name: `${u.cluster.name}-lookup-down`, nodeIds: () => u.cluster.nodeIds(), client } as unknown as NodeControl;
    const nodes = access.of(lookupDown);
    const before = await accessors();
    const e = await failure(update(transitLinkProvider, { ...link, outs: { ...link.outs, nodes } }, { ...inputs, nodes }));
    expect(e).toBeInstanceOf(VaultUnreachableError);
    expect(await accessors()).toEqual(before);
    expect(await tokenExists(admin, link.outs.accessor)).toBe(true);
  });
});

describe("a token replaced while vault's nodes run on it", () => {
  let vault: LocalCluster;
  let vaultRoot: string;
  let linkIn: TransitLinkInputs;
  let link: State<TransitLinkOutputs>;
  let rolloutIn: SealRolloutInputs;
  let rollout: State<SealRolloutOutputs>;
  let beforeRollout: State<SealRolloutOutputs>;
  let old: string;

  beforeAll(async () => {
    linkIn = await linkInputs("autounseal", "vault");
    link = await create(transitLinkProvider, linkIn);
    vault = await lab.cluster({ name: "hygiene-vault", size: 3, seal: { stanzas: [] } });
    // Born sealed by the link (the stack writes the seal objects before the pods exist).
    await vault.applySeal(sealAt(vault, "autounseal", link.outs.token));
    await vault.startAll();
    vaultRoot = (await initCluster(vault.client(vault.nodeIds()[0]), { kind: "recovery", shares: 1, threshold: 1 })).rootToken;
    await waitClusterUnsealed(vault, { timeoutMs: 60_000 });
    rolloutIn = await checkNew(sealRolloutProvider, {
      version: 1,
      nodes: access.of(vault),
      sealDigest: sealSettingsDigest(sealAt(vault, "autounseal", link.outs.token)),
      adminToken: vaultRoot,
      graceSeconds: 0,
      supersededTokens: { unsealer: linkIn.nodes, adminToken: u.rootToken, accessors: link.outs.supersededAccessors ?? [] },
    });
    rollout = await create(sealRolloutProvider, rolloutIn);
  });

  test("the link records the old token as superseded and leaves it alive: the nodes still run on it", async () => {
    expect(link.outs.supersededAccessors).toEqual([]);
    expect(rollout.outs.revokedAccessors).toEqual([]);
    old = link.outs.accessor;
    linkIn = { ...linkIn, tokenPeriod: "1h" };
    link = await update(transitLinkProvider, link, linkIn);
    expect(link.outs.accessor).not.toBe(old);
    expect(link.outs.supersededAccessors).toEqual([old]);
    // The new token reaches the seal settings (the stack's Secret); the pods have not restarted yet.
    await vault.applySeal(sealAt(vault, "autounseal", link.outs.token));
    expect(await tokenExists(admin, old)).toBe(true);
  });

  test("the rollout restarts every node onto the new token, then revokes the old one", async () => {
    const pids = vault.nodeIds().map((id) => vault.pid(id));
    rolloutIn = {
      ...rolloutIn,
      sealDigest: sealSettingsDigest(sealAt(vault, "autounseal", link.outs.token)),
      supersededTokens: { ...rolloutIn.supersededTokens!, accessors: link.outs.supersededAccessors! },
    };
    expect((await sealRolloutProvider.diff!(rollout.id, rollout.outs, rolloutIn)).changes).toBe(true);
    beforeRollout = rollout;
    rollout = await update(sealRolloutProvider, rollout, rolloutIn);
    expect(rollout.outs.revokedAccessors).toEqual([old]);
    vault.nodeIds().forEach((id, i) => expect(vault.pid(id)).not.toBe(pids[i]));
    expect(await tokenExists(admin, old)).toBe(false);
    expect(await tokenExists(admin, link.outs.accessor)).toBe(true);
    await waitClusterUnsealed(vault, { timeoutMs: 10_000 });

    // They run on the new token: a restarted node unseals, with the old token gone.
    const active = await findActive(vault);
    const standby = vault.nodeIds().find((id) => id !== active)!;
    await vault.restart(standby);
    await waitClusterUnsealed(vault, { timeoutMs: 60_000 });
    // Done: the next run changes nothing.
    expect(await sealRolloutProvider.diff!(rollout.id, rollout.outs, rolloutIn)).toEqual({ changes: false, replaces: [] });
  });

  test("a re-run after a crash that lost the rollout's record finishes it: the gone token is revoked again without error", async () => {
    const again = await update(sealRolloutProvider, beforeRollout, rolloutIn);
    expect(again.outs).toMatchObject({ rolledDigest: rolloutIn.sealDigest, revokedAccessors: [old] });
    await waitClusterUnsealed(vault, { timeoutMs: 10_000 });
  });

  test("the link's next update drops the revoked accessor from its record", async () => {
    const next = await update(transitLinkProvider, link, linkIn);
    expect(next.outs.accessor).toBe(link.outs.accessor);
    expect(next.outs.supersededAccessors).toEqual([]);
  });
});

describe("a token replaced while vault-unlock's nodes run on it", () => {
  let sc: ShamirCluster;
  let linkIn: TransitLinkInputs;
  let link: State<TransitLinkOutputs>;
  let migration: State<SealMigrationOutputs>;

  test("the migration re-points every node onto the new token, then revokes the old one", async () => {
    sc = await shamirClusterWithSecret(lab, "hygiene-vault-unlock");
    linkIn = await linkInputs("unlock-key", "vault-unlock");
    link = await create(transitLinkProvider, linkIn);
    const to = sealAt(sc.cluster, "unlock-key", link.outs.token).stanzas[0] as TransitSeal;
    const superseded = (l: State<TransitLinkOutputs>) => ({
      unsealer: linkIn.nodes,
      adminToken: u.rootToken,
      accessors: l.outs.supersededAccessors ?? [],
    });
    const migrationIn = await checkNew(sealMigrationProvider, {
      version: 1,
      nodes: access.of(sc.cluster),
      from: { type: "shamir" },
      to,
      toToken: link.outs.token,
      keys: sc.keys,
      adminToken: sc.root,
      flavour: lab.flavour,
      supersededTokens: superseded(link),
    });
    migration = await create(sealMigrationProvider, migrationIn);
    expect(migration.outs).toMatchObject({ sealType: "transit", revokedAccessors: [] });

    const old = link.outs.accessor;
    link = await update(transitLinkProvider, link, { ...linkIn, tokenPeriod: "1h" });
    expect(link.outs.supersededAccessors).toEqual([old]);
    expect(await tokenExists(admin, old)).toBe(true);

    const news = { ...migrationIn, toToken: link.outs.token, supersededTokens: superseded(link) };
    migration = await update(sealMigrationProvider, migration, news);
    expect(migration.outs).toMatchObject({ sealType: "transit", changed: true, revokedAccessors: [old] });
    expect(await tokenExists(admin, old)).toBe(false);
    expect((await sc.cluster.appliedSeal()).transitToken).toBe(link.outs.token);

    // Every node runs on the new token: all restarted at once, they auto-unseal with the old one gone.
    await sc.cluster.stopAll();
    await sc.cluster.startAll();
    await waitClusterUnsealed(sc.cluster, { timeoutMs: 60_000 });
    await sc.secretIntact();
  });
});

describe("the lab's plan run again with a new token period (the stacks' transitTokenPeriod changed)", () => {
  let t: Topology;
  beforeAll(async () => {
    t = await Topology.create({ ...labOptions("hygiene-lab"), tokenPeriod: "1h" });
    await t.bootstrap();
  });
  afterAll(() => t?.destroy());

  test("revokes vault's and vault-unlock's old tokens after their rollout and migration, and leaves the helper's alive", async () => {
    const old = {
      vault: t.state.linkToVault!.accessor,
      vaultUnlock: t.state.linkToVaultUnlock!.accessor,
      helper: t.state.helper!.link!.accessor,
    };
    t.opts.tokenPeriod = "2h";
    await t.bootstrap();
    expect(t.state.linkToVault!.accessor).not.toBe(old.vault);
    expect(t.state.linkToVaultUnlock!.accessor).not.toBe(old.vaultUnlock);
    expect(t.state.helper!.link!.accessor).not.toBe(old.helper);
    expect(t.records["vault-seal-rollout"].outs.revokedAccessors).toEqual([old.vault]);
    expect(t.records["vault-unlock-seal-migration"].outs.revokedAccessors).toEqual([old.vaultUnlock]);
    // seal-of-vault lives on vault-unlock, seal-of-vault-unlock on vault.
    expect(await tokenExists(await t.activeAdmin("vault-unlock"), old.vault)).toBe(false);
    expect(await tokenExists(await t.activeAdmin("vault"), old.vaultUnlock)).toBe(false);
    expect(await tokenExists(t.admin("helper"), old.helper)).toBe(true);
    await waitClusterUnsealed(t.vault, { timeoutMs: 30_000 });
    await waitClusterUnsealed(t.vaultUnlock, { timeoutMs: 30_000 });
  });
});
