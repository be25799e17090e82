/** vault-network.ts's builders, called directly: the Services, Ingress and NetworkPolicy a VaultCluster registers. */
import * as pulumi from "@pulumi/pulumi";
import { installMocks, value } from "./harness";

type NetworkModule = typeof import("../../components/vault-network");
let m: NetworkModule;

beforeAll(async () => {
  await installMocks();
  m = await import("../../components/vault-network");
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const resolve = (v: unknown): Promise<any> => value(pulumi.output(v));
const POD_LABELS = {
  "app.kubernetes.io/name": "vault",
  "app.kubernetes.io/instance": "vault",
  "app.kubernetes.io/component": "server",
  "app.kubernetes.io/part-of": "vault-mutual-unseal",
};
const SERVING = { ...POD_LABELS, "vault-mutual-unseal/serving": "true" };
const services = (extra: Partial<Parameters<NetworkModule["vaultServices"]>[0]> = {}) =>
  resolve(m.vaultServices({ flavour: "vault", clusterName: "vault", namespace: "vault", ...extra }));

describe("vaultServices", () => {
  it("the unsealed Service (the cluster's own name, what a peer's seal dials) selects serving=true pods, API port only", async () => {
    const { unsealed } = await services();
    expect(unsealed.metadata.name).toBe("vault");
    expect(unsealed.spec).toEqual({
      type: "ClusterIP",
      publishNotReadyAddresses: false,
      selector: SERVING,
      ports: [{ name: "https", port: 8200, targetPort: "https" }],
    });
  });

  it("the active and standby Services select serving pods by the label service registration sets (vault-active / openbao-active)", async () => {
    const vault = await services();
    expect(vault.active.spec.selector).toEqual({ ...SERVING, "vault-active": "true" });
    expect(vault.standby.spec.selector).toEqual({ ...SERVING, "vault-active": "false" });
    const bao = await services({ flavour: "openbao" });
    expect(bao.active.spec.selector["openbao-active"]).toBe("true");
  });

  it("the headless Service publishes every pod, sealed ones too, whatever its serving label", async () => {
    const { headless } = await services();
    expect(headless.metadata.name).toBe("vault-internal");
    expect(headless.spec).toMatchObject({ clusterIP: "None", publishNotReadyAddresses: true });
    expect(headless.spec.selector).toEqual(POD_LABELS);
  });

  it("makes no external Service without expose", async () => {
    expect((await services()).external).toBeUndefined();
  });

  it("with expose: an external Service of the serving pods that keeps the client's address, and the user's annotations", async () => {
    const { external } = await services({ expose: { type: "NodePort", nodePort: 30443, annotations: { team: "x" } } });
    expect(external.metadata).toMatchObject({ name: "vault-external", annotations: { team: "x", "pulumi.com/skipAwait": "true" } });
    expect(external.spec).toMatchObject({
      type: "NodePort",
      externalTrafficPolicy: "Local",
      ports: [{ name: "https", port: 8200, targetPort: "https", nodePort: 30443 }],
    });
    expect(external.spec.selector).toEqual(SERVING);
  });
});

describe("vaultIngress", () => {
  it("re-encrypts to the active Service and verifies its certificate with the cluster's TLS Secret, whatever the user's annotations say", async () => {
    const ingress = await resolve(
      m.vaultIngress({
        flavour: "vault",
        clusterName: "vault",
        namespace: "vault",
        activeService: "vault-active",
        ingress: { host: "vault.example.org", annotations: { "nginx.ingress.kubernetes.io/proxy-ssl-verify": "off", team: "x" } },
      }),
    );
    expect(ingress.metadata.annotations).toMatchObject({
      team: "x",
      "nginx.ingress.kubernetes.io/backend-protocol": "HTTPS",
      "nginx.ingress.kubernetes.io/proxy-ssl-verify": "on",
      "nginx.ingress.kubernetes.io/proxy-ssl-secret": "vault/vault-tls",
      "nginx.ingress.kubernetes.io/proxy-ssl-name": "vault-active.vault.svc",
    });
    expect(ingress.spec.rules[0].http.paths[0].backend).toEqual({ service: { name: "vault-active", port: { number: 8200 } } });
  });
});

describe("vaultNetworkPolicy", () => {
  it("admits the peer's pods and CIDRs on the API port only, and its own pods on the API and cluster ports", async () => {
    const np = await resolve(
      m.vaultNetworkPolicy({
        flavour: "vault",
        clusterName: "vault-unlock",
        namespace: "vault-unlock",
        consul: false,
        policy: { peerNamespace: "vault", peerPodLabels: { app: "vault" }, peerCidrs: ["10.1.0.0/16"] },
      }),
    );
    expect(np.metadata.name).toBe("vault-unlock-unseal-only");
    const [own, peer, ...rest] = np.spec.ingress;
    expect(own.ports).toEqual([
      { protocol: "TCP", port: 8200 },
      { protocol: "TCP", port: 8201 },
    ]);
    expect(peer).toEqual({
      from: [
        { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "vault" } }, podSelector: { matchLabels: { app: "vault" } } },
        { ipBlock: { cidr: "10.1.0.0/16" } },
      ],
      ports: [{ protocol: "TCP", port: 8200 }],
    });
    expect(rest).toEqual([]);
  });
  it("for a peer in another Kubernetes cluster (the helper's vault): only its ranges on the API port, no peer pods", async () => {
    const np = await resolve(
      m.vaultNetworkPolicy({
        flavour: "vault",
        clusterName: "vault-helper",
        namespace: "vault-helper",
        consul: false,
        policy: { peerCidrs: ["198.51.100.0/24", "203.0.113.7/32"] },
      }),
    );
    expect(np.metadata.name).toBe("vault-helper-unseal-only");
    expect(np.spec.ingress[1]).toEqual({
      from: [{ ipBlock: { cidr: "198.51.100.0/24" } }, { ipBlock: { cidr: "203.0.113.7/32" } }],
      ports: [{ protocol: "TCP", port: 8200 }],
    });
  });

  it("refuses a policy with no peer at all: an empty `from` would admit every source", () => {
    expect(() => m.unsealPeerSources(undefined, undefined, [])).toThrow(/^networkPolicy.peerCidrs: names no peer .*admits every source/);
    expect(m.unsealPeerSources(undefined, undefined, ["10.0.0.0/8"])).toEqual([{ ipBlock: { cidr: "10.0.0.0/8" } }]);
  });
});
