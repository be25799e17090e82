/** Kubernetes API failures as the adapter reports them: what failed, what the server said, what to check. */
import { kubernetesApiError } from "../../adapters/kubernetes/api-error";

const where = { namespace: "vault-unlock", server: "https://203.0.113.10:6443" };

describe("Kubernetes API failures", () => {
  test.each<[string, unknown, string]>([
    [
      "RBAC",
      {
        statusCode: 403,
        body: { kind: "Status", message: 'secrets "vault-unlock-transit-token" is forbidden: User "ci" cannot update resource "secrets"' },
      },
      'update Secret vault-unlock/vault-unlock-transit-token failed with HTTP 403: secrets "vault-unlock-transit-token" is forbidden: User "ci" cannot update resource "secrets". the kubeconfig\'s user needs, in that namespace: get/create/update/patch on configmaps and secrets, get/list/delete/patch on pods, create on pods/portforward',
    ],
    [
      "expired credentials",
      { statusCode: 401, body: { message: "Unauthorized" } },
      "failed with HTTP 401: Unauthorized. the API server refused the kubeconfig's credentials",
    ],
    [
      "a missing namespace",
      { statusCode: 404, body: { message: 'namespaces "vault-unlock" not found' } },
      "create the namespace vault-unlock first",
    ],
    [
      "a concurrent change",
      { statusCode: 409, body: { message: "the object has been modified" } },
      "changed by someone else meanwhile: run the step again",
    ],
    [
      "an unreachable API server",
      Object.assign(new Error("connect ECONNREFUSED 203.0.113.10:6443"), { code: "ECONNREFUSED" }),
      "update Secret vault-unlock/vault-unlock-transit-token failed: connect ECONNREFUSED 203.0.113.10:6443. the API server https://203.0.113.10:6443 was not reached",
    ],
  ])("%s", (_what, failure, message) => {
    const e = kubernetesApiError("update Secret vault-unlock/vault-unlock-transit-token", failure, where);
    expect(e.message).toContain(message);
  });

  test("never repeats a request body (a Secret's token) in the message", () => {
    const e = kubernetesApiError(
      "create Secret vault-unlock/t",
      { statusCode: 422, body: { message: 'Secret "t" is invalid: metadata.name' }, request: { body: "hvs.secret-token" } },
      where,
    );
    expect(e.message).not.toContain("hvs.secret-token");
    expect(e.status).toBe(422);
  });
});
