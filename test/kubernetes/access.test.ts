/**
 * Checks of the Kubernetes adapter's access settings and kubeconfig, before anything talks to
 * a cluster: each bad input and the message it gets, all reported at once.
 */
import { InputErrors } from "../../core/errors";
import { accessProblems, podNames } from "../../adapters/kubernetes/access";
import { loadKubeConfig } from "../../adapters/kubernetes/kubernetes-cluster";
import { KubernetesAccess } from "../../adapters/kubernetes/options";
import { refusal } from "../unit/refusal";
import { ACCESS, KUBECONFIG } from "./fixtures";

describe("access settings", () => {
  test("the article's vault-unlock is accepted; its nodes are the StatefulSet's pods", () => {
    expect(accessProblems(ACCESS)).toEqual([]);
    expect(podNames(ACCESS)).toEqual(["vault-unlock-0", "vault-unlock-1", "vault-unlock-2"]);
  });

  test.each<[string, Partial<KubernetesAccess>, string]>([
    ["no kubeconfig", { kubeconfig: " " }, "kubeconfig: is empty"],
    ["a namespace with capitals", { namespace: "Vault" }, 'namespace: "Vault" is not a namespace name'],
    ["a StatefulSet name too long for its pods' names", { statefulSet: "v".repeat(53) }, "statefulSet:"],
    ["no pods", { replicas: 0 }, "replicas: 0 is not a positive whole number of pods"],
    ["a port out of range", { port: 70000 }, "port: 70000 is not a TCP port"],
    ["a ConfigMap name with a slash", { sealConfigMap: "vault/seal" }, 'sealConfigMap: "vault/seal" is not a Kubernetes object name'],
    ["no CA (verification stays on)", { tls: { ...ACCESS.tls, caPem: "" } }, "tls.caPem: is not a PEM certificate"],
    ["no server name", { tls: { ...ACCESS.tls, serverName: "" } }, "tls.serverName: is empty"],
    [
      "a client certificate without its key",
      { tls: { ...ACCESS.tls, certPem: "-----BEGIN CERTIFICATE-----" } },
      "tls.certPem: a client certificate needs its key",
    ],
    ["an empty context", { context: "" }, "context: is empty"],
    [
      "a grace with milliseconds",
      { sealPropagationGraceSeconds: 2.5 },
      "sealPropagationGraceSeconds: 2.5 is not a whole number of seconds",
    ],
    [
      "a plain-http seal in server.hcl",
      { serverConfigSeals: [{ type: "transit", address: "http://vault-unlock:8200", keyName: "autounseal", mountPath: "transit/" }] },
      "serverConfigSeals[0].address",
    ],
  ])("%s", (_what, over, message) => {
    expect(
      refusal(() => {
        const p = accessProblems({ ...ACCESS, ...over });
        if (p.length) throw p[0];
      }).message,
    ).toContain(message);
  });

  test("every problem is reported at once", () => {
    const problems = accessProblems({ ...ACCESS, replicas: -1, port: 0, namespace: "" });
    expect(problems.map((p) => p.key)).toEqual(["namespace", "replicas", "port"]);
    expect(new InputErrors(problems).message.split("; ")).toHaveLength(3);
  });
});

describe("kubeconfig", () => {
  test("uses the current context, or the one named", () => {
    expect(loadKubeConfig({ kubeconfig: KUBECONFIG }).getCurrentCluster()?.server).toBe("https://203.0.113.10:6443");
    expect(loadKubeConfig({ kubeconfig: KUBECONFIG, context: "helper" }).getCurrentCluster()?.server).toBe("https://203.0.113.20:6443");
  });

  test("an unknown context is refused, listing the ones there are", () => {
    expect(() => loadKubeConfig({ kubeconfig: KUBECONFIG, context: "prod" })).toThrow(
      'context: the kubeconfig has no context "prod" (it has: primary, helper)',
    );
  });

  test("no current context and none named", () => {
    expect(() => loadKubeConfig({ kubeconfig: KUBECONFIG.replace("current-context: primary", "") })).toThrow(
      "context: the kubeconfig has no current context: name one (it has: primary, helper)",
    );
  });

  test("a context naming a cluster that is not defined", () => {
    expect(() => loadKubeConfig({ kubeconfig: KUBECONFIG.replace("context: { cluster: primary,", "context: { cluster: gone,") })).toThrow(
      'kubeconfig: context "primary" names a cluster the kubeconfig does not define',
    );
  });

  test("text that is not a kubeconfig", () => {
    expect(() => loadKubeConfig({ kubeconfig: "clusters: [unclosed" })).toThrow("kubeconfig: is not a readable kubeconfig");
  });
});
