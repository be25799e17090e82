/**
 * The Kubernetes node adapter's own I/O layer, where it can be run without a cluster: with
 * a kubeconfig whose API server address has nothing listening, every call goes through the
 * real client-node code up to the network and must fail with a message that says what to
 * check, and refusals must come before any call.
 *
 * NOT verified here (no Kubernetes cluster, no Docker on these machines; a fake API server
 * would only prove agreement with our own idea of one): reading and writing the seal
 * ConfigMap and Secret on a real API server, pod deletion and replacement, port-forwards
 * through a real API server and kubelet, and the core's steps (init, unseal, seal migration,
 * deadlock recovery) run through this adapter. The decisions it makes are unit tested in
 * seal-record, pod-status, access and api-error tests; the tunnel against a real server in
 * port-forward.test.ts.
 */
import * as http from "http";
import * as net from "net";
import { KubernetesApiError } from "../../adapters/kubernetes/api-error";
import { KubernetesCluster } from "../../adapters/kubernetes/kubernetes-cluster";
import { KubernetesAccess } from "../../adapters/kubernetes/options";
import { InputError, VaultUnreachableError } from "../../core/errors";
import { isUpToDate } from "../../core/nodes";
import { ACCESS } from "./fixtures";

let cluster: KubernetesCluster;
let apiServer: string;

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

beforeAll(async () => {
  apiServer = `https://127.0.0.1:${await closedPort()}`;
  const access: KubernetesAccess = { ...ACCESS, kubeconfig: ACCESS.kubeconfig.replace("https://203.0.113.10:6443", apiServer) };
  cluster = new KubernetesCluster(access);
});
afterAll(() => cluster?.close());

describe("KubernetesCluster without a reachable API server", () => {
  test("its nodes are the StatefulSet's pods, named in addresses and messages", () => {
    expect(cluster.name).toBe("vault-unlock");
    expect(cluster.nodeIds()).toEqual(["vault-unlock-0", "vault-unlock-1", "vault-unlock-2"]);
    expect(cluster.client("vault-unlock-2", "tok").address).toBe("https://vault-unlock-2.vault-unlock.port-forward:8200");
    expect(cluster.client("vault-unlock-2", "tok").token).toBe("tok");
    expect(() => cluster.client("vault-unlock-3")).toThrow(
      "vault-unlock has no node vault-unlock-3 (pods: vault-unlock-0, vault-unlock-1, vault-unlock-2)",
    );
  });

  test("a node's API is unreachable, and the error says the port-forward could not be opened", async () => {
    const e = await cluster
      .client("vault-unlock-0")
      .sealStatus()
      .then(
        () => undefined,
        (err: Error) => err,
      );
    expect(e).toBeInstanceOf(VaultUnreachableError);
    expect(e?.message).toContain("https://vault-unlock-0.vault-unlock.port-forward:8200 is unreachable");
    expect(e?.message).toContain("the API server did not open a port-forward to pod vault-unlock/vault-unlock-0");
    expect(e?.message).toContain("ECONNREFUSED");
  });

  test("reading the seal settings fails naming the ConfigMap and the API server", async () => {
    const e = await cluster.appliedSeal().then(
      () => undefined,
      (err: Error) => err,
    );
    expect(e).toBeInstanceOf(KubernetesApiError);
    expect(e?.message).toMatch(
      /read (ConfigMap vault-unlock\/vault-unlock-seal|Secret vault-unlock\/vault-unlock-transit-token) failed: .*ECONNREFUSED/,
    );
    expect(e?.message).toContain(`the API server ${apiServer} was not reached`);
    await expect(isUpToDate(cluster, "vault-unlock-0")).rejects.toThrow(KubernetesApiError);
  });

  test("seal settings Kubernetes cannot carry are refused before any call", async () => {
    const seal = {
      stanzas: [
        {
          type: "transit" as const,
          address: "https://vault-active.vault.svc:8200",
          keyName: "autounseal",
          mountPath: "transit/",
          tokenEnv: "BAO_NEW_SEAL_TOKEN",
        },
      ],
      tokenEnv: { BAO_NEW_SEAL_TOKEN: "t" },
    };
    const e = await cluster.applySeal(seal).then(
      () => undefined,
      (err: Error) => err,
    );
    expect(e?.message).toContain("tokenEnv: per-block seal tokens (BAO_NEW_SEAL_TOKEN) are not supported on Kubernetes yet");
    expect(e).not.toBeInstanceOf(KubernetesApiError);
  });

  test("draining a pod fails naming the pod, the label and the API server", async () => {
    const e = await cluster.drain("vault-unlock-1").then(
      () => undefined,
      (err: Error) => err,
    );
    expect(e).toBeInstanceOf(KubernetesApiError);
    expect(e?.message).toMatch(
      /take pod vault-unlock\/vault-unlock-1 out of its Services \(label vault-mutual-unseal\/serving=false\) failed: .*ECONNREFUSED/,
    );
  });

  test("restart of a pod that is not a node is refused before any call", async () => {
    await expect(cluster.restart("vault-0")).rejects.toThrow("vault-unlock has no node vault-0");
  });

  test("bad access settings are refused by the constructor, all at once", () => {
    expect(() => new KubernetesCluster({ ...ACCESS, replicas: 0, port: 0 })).toThrow(
      "replicas: 0 is not a positive whole number of pods; port: 0 is not a TCP port",
    );
    expect(() => new KubernetesCluster({ ...ACCESS, drainSeconds: 1.5 })).toThrow("drainSeconds: 1.5 is not a whole number of seconds");
    expect(() => new KubernetesCluster({ ...ACCESS, context: "prod" })).toThrow(InputError);
  });
});

describe("KubernetesCluster.drain, the request it sends", () => {
  // What is checked: the request this adapter makes (method, path, patch type, body), through
  // the real client-node code, recorded by a loopback HTTP listener. Not checked: what a real
  // API server and endpoints controller do with it (no cluster here).
  test("patches only the serving label of that pod, to false (drain) and back to true (undrain), as strategic merge patches", async () => {
    const seen: { method?: string; url?: string; type?: string; body: string }[] = [];
    const server = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        seen.push({ method: req.method, url: req.url, type: req.headers["content-type"], body });
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ kind: "Pod", apiVersion: "v1", metadata: { name: "vault-unlock-1" } }));
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    const drained = new KubernetesCluster({
      ...ACCESS,
      drainSeconds: 0,
      kubeconfig: ACCESS.kubeconfig.replace("https://203.0.113.10:6443", url),
    });
    try {
      await drained.drain("vault-unlock-1");
      await drained.undrain("vault-unlock-1");
    } finally {
      await drained.close();
      await new Promise((r) => server.close(r));
    }
    expect(seen).toEqual([
      {
        method: "PATCH",
        url: "/api/v1/namespaces/vault-unlock/pods/vault-unlock-1",
        type: "application/strategic-merge-patch+json",
        body: JSON.stringify({ metadata: { labels: { "vault-mutual-unseal/serving": "false" } } }),
      },
      {
        method: "PATCH",
        url: "/api/v1/namespaces/vault-unlock/pods/vault-unlock-1",
        type: "application/strategic-merge-patch+json",
        body: JSON.stringify({ metadata: { labels: { "vault-mutual-unseal/serving": "true" } } }),
      },
    ]);
  });
});
