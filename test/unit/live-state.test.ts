/**
 * stateNow, the look a provider's diff takes at the servers: what read finds now when it
 * answers; the recorded state when the servers cannot be asked now (unreachable, sealed,
 * no answer in time: a preview without cluster access); the error itself when something
 * is wrong that the operator must fix (a refused token, RBAC, a bad kubeconfig).
 */
import { KubernetesApiError } from "../../adapters/kubernetes/api-error";
import { AccessDeniedError, InputError, TimeoutError, VaultApiError, VaultTlsError, VaultUnreachableError } from "../../core/errors";
import { stateNow } from "../../providers/live-state";

const recorded = { inSync: true, version: 1 };

test("takes what read finds now", async () => {
  expect(await stateNow(async (id) => ({ id, props: { inSync: false, version: 2 } }), "id", recorded)).toEqual({
    inSync: false,
    version: 2,
  });
});

const failing = (e: Error) => async () => {
  throw e;
};

test.each<[string, Error]>([
  ["nothing answers", new VaultUnreachableError("https://vault-unlock-0:8200", "GET sys/health", "ECONNREFUSED", "is it running?")],
  ["the node is sealed", new VaultApiError("https://vault-unlock-0:8200", "GET transit/keys/autounseal", 503, ["Vault is sealed"])],
  ["waiting timed out", new TimeoutError("an active node", 1000, "all sealed")],
  ["the API server is not reached", new KubernetesApiError("read pod vault-unlock/vault-unlock-0", undefined, "ECONNREFUSED", "")],
  [
    "RBAC refuses the port-forward (a read-only kubeconfig's preview)",
    new AccessDeniedError("https://vault-unlock-0.vault-unlock.port-forward:8200", "GET /v1/sys/health", "403"),
  ],
])("keeps the recorded state when %s", async (_what, e) => {
  expect(await stateNow(failing(e), "id", recorded)).toBe(recorded);
});

test.each<[string, Error]>([
  [
    "a token the server refuses",
    new VaultApiError("https://vault-unlock-0:8200", "POST auth/token/lookup-accessor", 403, ["permission denied"]),
  ],
  ["RBAC refusing a read", new KubernetesApiError("read ConfigMap vault/vault-seal", 403, "forbidden", "grant get on configmaps")],
  [
    "a certificate that does not match",
    new VaultTlsError("https://vault-unlock-0:8200", "GET sys/health", "ERR_TLS_CERT_ALTNAME_INVALID", "check tls.serverName"),
  ],
  ["a kubeconfig that cannot be read", new InputError("kubeconfig", "is not a readable kubeconfig")],
])("fails with the error itself on %s", async (_what, e) => {
  await expect(stateNow(failing(e), "id", recorded)).rejects.toBe(e);
});

test("keeps the recorded state when read does not answer in time", async () => {
  const never = () => new Promise<never>(() => undefined);
  expect(await stateNow(never, "id", recorded, 20)).toBe(recorded);
});

test("keeps the recorded state when read returns nothing", async () => {
  expect(await stateNow(async (id) => ({ id }), "id", recorded)).toBe(recorded);
});
