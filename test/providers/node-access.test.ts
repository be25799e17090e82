/**
 * connect(): "local" finds clusters registered in this process and says why it cannot work
 * elsewhere; "kubernetes" loads the Kubernetes adapter only when asked, hands it the access
 * without `kind`, and every provider closes what it opened (port-forwards), also on failure.
 * The adapter is replaced here by a stand-in: no Kubernetes cluster is available.
 */
import { KubernetesAccess } from "../../adapters/kubernetes/options";
import { NodeControl } from "../../core/nodes";
import { VaultClient } from "../../core/vault-client";
import { connect, NodeAccess, registerLocalCluster, withNodes } from "../../providers/node-access";
import { unsealProvider } from "../../providers/unseal";
import { vaultInitProvider } from "../../providers/vault-init";

const opened: { access: KubernetesAccess; closed: number }[] = [];

jest.mock(
  "../../adapters/kubernetes/kubernetes-cluster",
  () => ({
    KubernetesCluster: class {
      readonly name: string;
      private readonly record: { access: KubernetesAccess; closed: number };
      constructor(access: KubernetesAccess) {
        this.name = access.statefulSet;
        this.record = { access, closed: 0 };
        opened.push(this.record);
      }
      nodeIds() {
        return Array.from({ length: this.record.access.replicas }, (_, i) => `${this.name}-${i}`);
      }
      client(): VaultClient {
        // Nothing listens there: every call fails as a dead port-forward would.
        return new VaultClient({ address: "https://127.0.0.1:1", timeoutMs: 500 });
      }
      async close() {
        this.record.closed++;
      }
    },
  }),
  { virtual: true },
);

const access = (): NodeAccess => ({
  kind: "kubernetes",
  kubeconfig: "apiVersion: v1",
  namespace: "vault",
  statefulSet: "vault",
  replicas: 3,
  port: 8200,
  tls: { caPem: "ca", serverName: "vault" },
  sealConfigMap: "vault-seal",
  sealTokenSecret: "vault-seal-token",
});

beforeEach(() => {
  opened.length = 0;
});

test("kubernetes: the adapter gets the access without kind; close is idempotent", async () => {
  const c = await connect(access());
  expect(c.nodes.nodeIds()).toEqual(["vault-0", "vault-1", "vault-2"]);
  const expected: Record<string, unknown> = { ...access() };
  delete expected.kind;
  expect(opened[0].access).toEqual(expected);
  await c.close();
  await c.close();
  expect(opened[0].closed).toBe(1);
});

test("withNodes closes when the work throws", async () => {
  await expect(
    withNodes(access(), async () => {
      throw new Error("boom");
    }),
  ).rejects.toThrow("boom");
  expect(opened.map((o) => o.closed)).toEqual([1]);
});

test("providers close the port-forwards they opened, also when the server cannot be reached", async () => {
  // Create waits for a starting pod's API; here it never comes, so the wait is short.
  await expect(
    vaultInitProvider.create({ version: 1, nodes: access(), kind: "shamir", shares: 3, threshold: 2, startTimeoutMs: 1500 }),
  ).rejects.toThrow(/unreachable/);
  await expect(
    unsealProvider.read!("unseal:kubernetes/vault/vault", {
      version: 1,
      nodes: access(),
      keys: ["k"],
      unsealedNodes: [],
      sealedNodes: [],
      sealType: "shamir",
    }),
  ).resolves.toMatchObject({ props: { sealedNodes: [], sealType: "unknown" } });
  expect(opened.map((o) => o.closed)).toEqual([1, 1]);
});

test("local: a registered cluster is found; an unknown name says local access only works in-process", async () => {
  const fake = { name: "here" } as NodeControl;
  const unregister = registerLocalCluster("here", fake);
  expect((await connect({ kind: "local", cluster: "here" })).nodes).toBe(fake);
  unregister();
  await expect(connect({ kind: "local", cluster: "here" })).rejects.toThrow(
    /no local cluster named "here" is registered in this process.*never under the Pulumi engine/,
  );
});
