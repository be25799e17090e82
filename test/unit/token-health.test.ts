/**
 * Gone tokens as the core classifies them, on a real server: a call made with a revoked token
 * fails with TokenGoneError (gone: "caller"); a valid token its policy refuses stays a plain
 * VaultApiError; a lookup by the accessor of a revoked token fails with TokenGoneError (gone:
 * "accessor"); a revocation by accessor revokes, and revoking a gone token again is no error.
 */
import { TokenGoneError, VaultApiError } from "../../core/errors";
import { activeClient } from "../../core/steps/node-state";
import { revokeByAccessor, tokenHealth } from "../../core/steps/token-health";
import { provisionTransitLink, readTransitKey } from "../../core/steps/transit-link";
import { VaultClient } from "../../core/vault-client";
import { shamirNode } from "../support/pair";
import { Lab, newLab } from "../support/servers";

jest.setTimeout(120_000);

let lab: Lab;
let admin: VaultClient;

beforeAll(async () => {
  lab = await newLab("token-gone");
  const u = await shamirNode(lab, "token-gone");
  // Unsealed is not yet active: a single Raft node takes a moment (longer under load) to lead.
  admin = await activeClient(u.cluster, u.rootToken);
  await provisionTransitLink(admin, { mountPath: "transit", keyName: "autounseal" });
});
afterAll(() => lab?.destroy());

/** A new child token of the admin with `policies`; its token and accessor. */
async function newToken(policies: string[]): Promise<{ token: string; accessor: string }> {
  const r = await admin.write<{ auth: { client_token: string; accessor: string } }>("auth/token/create", { policies, ttl: "1h" });
  return { token: r.body.auth.client_token, accessor: r.body.auth.accessor };
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

test("a call with a revoked token fails with TokenGoneError naming the caller's token", async () => {
  const t = await newToken(["root"]);
  await admin.write("auth/token/revoke-accessor", { accessor: t.accessor });
  const e = await failure(readTransitKey(admin.withToken(t.token), "transit", "autounseal"));
  expect(e).toBeInstanceOf(TokenGoneError);
  expect(e).toMatchObject({ gone: "caller", status: 403 });
  expect((e as Error).message).toContain("is not valid on");
  expect((e as Error).message).not.toContain(t.token);
});

test("a valid token that its policy refuses stays a plain VaultApiError, not TokenGoneError", async () => {
  const t = await newToken(["default"]);
  const e = await failure(readTransitKey(admin.withToken(t.token), "transit", "autounseal"));
  expect(e).toBeInstanceOf(VaultApiError);
  expect(e).not.toBeInstanceOf(TokenGoneError);
  expect(e).toMatchObject({ status: 403 });
});

test("tokenHealth of a revoked token's accessor fails with TokenGoneError naming the accessor and what to do", async () => {
  const t = await newToken(["default"]);
  await admin.write("auth/token/revoke-accessor", { accessor: t.accessor });
  const e = await failure(tokenHealth(admin, t.accessor));
  expect(e).toBeInstanceOf(TokenGoneError);
  expect(e).toMatchObject({ gone: "accessor" });
  expect((e as Error).message).toContain(`accessor ${t.accessor} no longer exists`);
  expect((e as Error).message).toContain("provision the transit link again");
});

test("revokeByAccessor revokes a live token, and revoking the gone token again is no error", async () => {
  const t = await newToken(["default"]);
  await revokeByAccessor(admin, t.accessor);
  await expect(tokenHealth(admin, t.accessor)).rejects.toBeInstanceOf(TokenGoneError);
  await expect(revokeByAccessor(admin, t.accessor)).resolves.toBeUndefined();
});
