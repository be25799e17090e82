/**
 * Recovery keys only operators can read: on a real transit-sealed server, the recovery keys
 * rotated to shares encrypted to PGP keys (made here with gpg, in a GNUPGHOME of the test's
 * own), decrypted as an operator would, and used for break-glass (`generate-root`); the old
 * plaintext keys no longer count. A rotation interrupted half-way, or completed with its
 * answer lost, is finished by running it again.
 */
import { LocalCluster } from "../../adapters/local/local-cluster";
import { InputError } from "../../core/errors";
import { initCluster } from "../../core/steps/init";
import { activeClient } from "../../core/steps/node-state";
import {
  breakGlassPolicy,
  generateRoot,
  RecoveryKeyRotationOptions,
  RootGenerationInProgressError,
  rotateRecoveryKeys,
} from "../../core/steps/recovery-keys";
import { waitClusterUnsealed } from "../../core/steps/unseal";
import { operators } from "../support/pgp";
import { Lab, newLab } from "../support/servers";
import { sealTowards, Unsealer, unsealer } from "../support/pair";

jest.setTimeout(180_000);

let lab: Lab;
let u: Unsealer;
let sealed: LocalCluster;
let plaintextKeys: string[];
let root: string;
/** The first rotation, made once for the tests that look at it. */
let rotated: Awaited<ReturnType<typeof rotateRecoveryKeys>>;
const OPERATORS = ["alice", "bob", "carol", "dave"];
let pgpKeys: string[] = [];

/** What an operator does with their share (set in beforeAll). */
let decrypt: (share: string) => string;

const client = () => sealed.client(sealed.nodeIds()[0]);
/** An operator's break-glass token (made once): root generation only (breakGlassPolicy). */
let breakGlassToken: string;
const breakGlass = () => sealed.client(sealed.nodeIds()[0], breakGlassToken);
const admin = () => activeClient(sealed, root);
const options = (over: Partial<RecoveryKeyRotationOptions> = {}): RecoveryKeyRotationOptions => ({
  flavour: lab.flavour,
  currentKeys: plaintextKeys,
  shares: 3,
  threshold: 2,
  pgpKeys: pgpKeys.slice(0, 3),
  ...over,
});

const generateRootPath = () => (lab.flavour === "openbao" ? "sys/generate-root-token" : "sys/generate-root");

async function tokenWorks(token: string): Promise<boolean> {
  return sealed
    .client(sealed.nodeIds()[0], token)
    .read("auth/token/lookup-self")
    .then(
      () => true,
      () => false,
    );
}

beforeAll(async () => {
  lab = await newLab("recovery");
  const ops = operators(lab.dir, OPERATORS);
  pgpKeys = ops.publicKeys;
  decrypt = ops.decrypt;
  u = await unsealer(lab);
  sealed = await lab.cluster({ name: "sealed", size: 1, seal: { stanzas: [] } });
  await sealed.applySeal({ stanzas: [sealTowards(lab, u, sealed)], transitToken: u.link.token });
  await sealed.startAll();
  const init = await initCluster(client(), { kind: "recovery", shares: 3, threshold: 2 });
  plaintextKeys = init.keys;
  root = init.rootToken;
  await waitClusterUnsealed(sealed, { timeoutMs: 30_000 });
  rotated = await rotateRecoveryKeys(await admin(), options());
  const a = await admin();
  await a.request("PUT", "sys/policies/acl/break-glass", { body: { policy: breakGlassPolicy(lab.flavour) } });
  breakGlassToken = (
    await a.write<{ auth: { client_token: string } }>("auth/token/create-orphan", { policies: ["break-glass"], period: "768h" })
  ).body.auth.client_token;
});
afterAll(() => lab?.destroy());

describe("recovery keys rotated to PGP keys", () => {
  it("gives one share per PGP key, none of them a plaintext key", () => {
    expect(rotated.keys).toHaveLength(3);
    expect(rotated.pgpFingerprints).toHaveLength(3);
    for (const k of rotated.keys) expect(plaintextKeys).not.toContain(k);
  });

  it("lets two operators who decrypt their shares generate a root token that works (break-glass)", async () => {
    const token = await generateRoot(breakGlass(), lab.flavour, [decrypt(rotated.keys[0]), decrypt(rotated.keys[2])]);
    expect(await tokenWorks(token)).toBe(true);
  });

  it("no longer accepts the old plaintext keys for generate-root", async () => {
    const err = await generateRoot(breakGlass(), lab.flavour, plaintextKeys.slice(0, 2)).catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(RootGenerationInProgressError);
    // A refused key leaves no attempt behind: the operators' next try starts clean.
    const status = (await breakGlass().read<{ data?: { started: boolean }; started?: boolean }>(`${generateRootPath()}/attempt`)).body;
    expect((status.data ?? status).started).toBe(false);
  });

  it("run again (its answer lost, or a re-run), reads the same shares back from the server's backup instead of rotating twice", async () => {
    const again = await rotateRecoveryKeys(await admin(), options({ currentKeys: ["not-needed"] }));
    expect(again).toEqual({ ...rotated, fromBackup: true });
  });
});

describe("a rotation left half-way", () => {
  it("is cancelled and done again by the next run; the keys it returns are the ones that work", async () => {
    // The current keys: the first rotation's shares, decrypted. The new rotation goes to
    // another set of PGP keys (carol's replaced by dave's), so no backup can answer for it.
    const current = rotated.keys.map(decrypt);
    const next = [pgpKeys[0], pgpKeys[1], pgpKeys[3]];
    const a = await admin();
    const paths = lab.flavour === "openbao" ? "sys/rotate/recovery" : "sys/rekey-recovery-key";
    // The caller stopped after one share of two.
    const init = await a.write<{ data: { nonce: string } }>(`${paths}/init`, {
      secret_shares: 3,
      secret_threshold: 2,
      pgp_keys: next,
      backup: true,
    });
    await a.write(`${paths}/update`, { key: current[0], nonce: init.body.data.nonce });
    const done = await rotateRecoveryKeys(a, options({ currentKeys: current, pgpKeys: next }));
    expect(done.fromBackup).toBe(false);
    const token = await generateRoot(breakGlass(), lab.flavour, [decrypt(done.keys[0]), decrypt(done.keys[2])]);
    expect(await tokenWorks(token)).toBe(true);
  });
});

test("break-glass refuses to cancel a root generation someone else has under way", async () => {
  await breakGlass().write(`${generateRootPath()}/attempt`, {});
  const err = await generateRoot(breakGlass(), lab.flavour, ["any"]).catch((e) => e);
  expect(err).toBeInstanceOf(RootGenerationInProgressError);
  expect(err.message).toContain(`DELETE ${generateRootPath()}/attempt`);
  await breakGlass().request("DELETE", `${generateRootPath()}/attempt`);
});

test("refuses a rotation with fewer PGP keys than shares, naming the key, before asking the server", async () => {
  const err = await rotateRecoveryKeys(await admin(), options({ pgpKeys: pgpKeys.slice(0, 2) })).catch((e) => e);
  expect(err).toBeInstanceOf(InputError);
  expect(err.message).toMatch(/pgpKeys.*one PGP key per share: 3 shares but 2 keys/);
});

test("refuses a PGP key that is not one, naming which, before asking the server", async () => {
  const err = await rotateRecoveryKeys(
    await admin(),
    options({ pgpKeys: [pgpKeys[0], Buffer.from("not a key").toString("base64"), pgpKeys[2]] }),
  ).catch((e) => e);
  expect(err).toBeInstanceOf(InputError);
  expect(err.message).toMatch(/pgpKeys\[1\].*is not a PGP public key.*gpg --export/);
});
