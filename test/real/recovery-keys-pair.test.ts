/**
 * The pair's bootstrap with operators' PGP keys configured (the stacks' `recoveryPgpKeys`),
 * run through the plan and the providers' operations as the lab runs them, on real servers:
 * both clusters' recovery keys end as shares only the operators can decrypt, vault-unlock's
 * included, whose plaintext unseal keys the bootstrap needed (and the state keeps); those
 * plaintext keys open nothing afterwards, the operators' decrypted shares do (break-glass). A
 * second run rotates nothing again.
 */
import { generateRoot } from "../../core/steps/recovery-keys";
import { activeClient } from "../../core/steps/node-state";
import { Topology } from "../../lab/topology";
import { LocalCluster } from "../../adapters/local/local-cluster";
import { operators, Operators } from "../support/pgp";
import { labOptions } from "../support/servers";

jest.setTimeout(300_000);

let t: Topology;
let ops: Operators;

beforeAll(async () => {
  const o = labOptions("recovery-pair");
  ops = operators(o.dir, ["alice", "bob", "carol"]);
  t = await Topology.create({ ...o, recoveryPgpKeys: ops.publicKeys });
  await t.bootstrap();
});
afterAll(() => t?.destroy());

/** Break-glass after the bootstrap: no root token is left, and on OpenBao the operator token may run generate-root (with the keys). */
const breakGlassClient = (cluster: LocalCluster, operatorToken: string) => activeClient(cluster, operatorToken);

test("vault-unlock, migrated to transit, holds recovery keys that only the operators can decrypt; the plaintext ones in the state open nothing", async () => {
  const rotation = t.records["vault-unlock-recovery-keys"].outs;
  const plaintext: string[] = t.records["vault-unlock-init"].outs.keys;
  expect(rotation.encryptedKeys).toHaveLength(3);
  const bg = await breakGlassClient(t.vaultUnlock, t.state.vaultUnlock!.operatorToken);
  await expect(generateRoot(bg, t.opts.flavour, plaintext.slice(0, 2))).rejects.toThrow();
  const token = await generateRoot(bg, t.opts.flavour, rotation.encryptedKeys.slice(1).map(ops.decrypt));
  await expect((await activeClient(t.vaultUnlock, token)).read("auth/token/lookup-self")).resolves.toBeDefined();
  expect((await t.vaultUnlock.client(t.vaultUnlock.nodeIds()[0]).sealStatus()).type).toBe("transit");
});

test("vault's recovery keys too: the operators' decrypted shares generate a root token, the init's keys do not", async () => {
  const rotation = t.records["vault-recovery-keys"].outs;
  const bg = await breakGlassClient(t.vault, t.state.vault!.operatorToken);
  await expect(generateRoot(bg, t.opts.flavour, t.records["vault-init"].outs.keys.slice(0, 2))).rejects.toThrow();
  const token = await generateRoot(bg, t.opts.flavour, [ops.decrypt(rotation.encryptedKeys[0]), ops.decrypt(rotation.encryptedKeys[2])]);
  await expect((await activeClient(t.vault, token)).read("auth/token/lookup-self")).resolves.toBeDefined();
});

test("a second bootstrap changes no recovery key: the shares stay the ones the operators hold", async () => {
  const before = [t.records["vault-recovery-keys"].outs.encryptedKeys, t.records["vault-unlock-recovery-keys"].outs.encryptedKeys];
  await t.bootstrap();
  expect([t.records["vault-recovery-keys"].outs.encryptedKeys, t.records["vault-unlock-recovery-keys"].outs.encryptedKeys]).toEqual(before);
});
