/**
 * Stack config: every bad value is reported at once, each with its key path, before any
 * resource exists. Table tests: each bad input and the message it gets.
 */
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as path from "path";
import {
  HELPER_TEXT_KEYS,
  PRIMARY_TEXT_KEYS,
  exposeArgs,
  helperPeerCidrs,
  parseHelperConfig,
  parsePrimaryConfig,
} from "../../components/config";
import { configValues } from "../../stacks/read-config";
import { problems } from "../support/config-problems";

const primary = {
  flavour: "vault",
  storage: "consul",
  vault: { context: "prod", namespace: "vault" },
  vaultUnlock: { context: "prod", namespace: "vault-unlock" },
  helperAddress: "https://vault-helper.example.internal:8200",
};

/** vault and vault-unlock in two Kubernetes clusters, reaching each other at these addresses; `unlock` adds to vault-unlock's placement. */
const twoClusters = (unlock: Record<string, unknown> = {}) => ({
  vault: { context: "a", namespace: "vault", transitAddress: "https://vault.a.example:8200" },
  vaultUnlock: { context: "b", namespace: "vault-unlock", transitAddress: "https://unlock.b.example:8200", ...unlock },
});

describe("primary stack config", () => {
  test("a valid config gets the documented defaults", () => {
    const c = parsePrimaryConfig(primary);
    expect({
      replicas: c.replicas,
      consulReplicas: c.consulReplicas,
      keyShares: c.keyShares,
      keyThreshold: c.keyThreshold,
      period: c.transitTokenPeriod,
      emergency: c.emergency,
      revokeOnDelete: c.revokeSealTokensOnDelete,
    }).toEqual({ replicas: 3, consulReplicas: 3, keyShares: 3, keyThreshold: 2, period: "720h", emergency: false, revokeOnDelete: false });
  });

  test.each<[string, Record<string, unknown>, RegExp]>([
    ["an even replica count", { replicas: 4 }, /^vault-mutual-unseal:replicas: must be odd/],
    ["an even Consul replica count", { consulReplicas: 2 }, /^vault-mutual-unseal:consulReplicas: must be odd/],
    [
      "threshold above shares",
      { keyShares: 3, keyThreshold: 5 },
      /^vault-mutual-unseal:keyThreshold: \(5\) is greater than keyShares \(3\)/,
    ],
    [
      "a helper address that is not https",
      { helperAddress: "http://helper:8200" },
      /^vault-mutual-unseal:helperAddress: must be an https:\/\/ URL/,
    ],
    ["an unknown storage type", { storage: "etcd" }, /^vault-mutual-unseal:storage: /],
    ["OpenBao on Consul", { flavour: "openbao" }, /^vault-mutual-unseal:storage: OpenBao has no Consul storage/],
    ["a missing kubeconfig context", { vault: { namespace: "vault" } }, /^vault-mutual-unseal:vault.context: /],
    [
      "an empty kubeconfig context",
      { vault: { context: "", namespace: "vault" } },
      /^vault-mutual-unseal:vault.context: name a kubeconfig context/,
    ],
    [
      "two Kubernetes clusters without transit addresses",
      { vaultUnlock: { context: "unlock", namespace: "vault-unlock" } },
      /^vault-mutual-unseal:vault.transitAddress: is required when vault and vaultUnlock run in different Kubernetes clusters/,
    ],
    [
      "one namespace for both in one cluster",
      { vaultUnlock: { context: "prod", namespace: "vault" } },
      /^vault-mutual-unseal:vaultUnlock.namespace: must differ from vault.namespace/,
    ],
    [
      "the emergency switch without a helper",
      { emergency: true, helperAddress: undefined },
      /^vault-mutual-unseal:emergency: needs helperAddress/,
    ],
    ["the emergency switch without the helper stack", { emergency: true }, /^vault-mutual-unseal:emergency: needs helperStack/],
    [
      "a helper stack that is not organization/project/stack",
      { helperStack: "helper" },
      /^vault-mutual-unseal:helperStack: must be organization\/project\/stack/,
    ],
    ["a zero token period", { transitTokenPeriod: "0h" }, /^vault-mutual-unseal:transitTokenPeriod: must be a duration/],
    ["a misspelt key", { keyTreshold: 2 }, /^vault-mutual-unseal:\(config\): unknown key\(s\) keyTreshold: check the spelling/],
    [
      "two Kubernetes clusters without vault's source ranges for vault-unlock's NetworkPolicy",
      twoClusters(),
      /^vault-mutual-unseal:vaultUnlock.peerCidrs: is required when vault runs in another Kubernetes cluster/,
    ],
    [
      "a peer range that is not a CIDR",
      { vaultUnlock: { context: "prod", namespace: "vault-unlock", peerCidrs: ["10.0.0.1"] } },
      /^vault-mutual-unseal:vaultUnlock.peerCidrs.0: must be a CIDR range/,
    ],
    [
      "peer ranges on vault, which has no NetworkPolicy",
      { vault: { context: "prod", namespace: "vault", peerCidrs: ["10.0.0.0/8"] } },
      /^vault-mutual-unseal:vault: .*peerCidrs/,
    ],
    [
      "an unknown Service type",
      { vault: { context: "prod", namespace: "vault", expose: { type: "ExternalName" } } },
      /^vault-mutual-unseal:vault.expose.type: /,
    ],
    ["an unknown zone rule", { zoneSpread: "always" }, /^vault-mutual-unseal:zoneSpread: /],
    ["revoke-on-delete that is not true or false", { revokeSealTokensOnDelete: "yes" }, /^vault-mutual-unseal:revokeSealTokensOnDelete: /],
    [
      "a helper address by IP",
      { helperAddress: "https://192.0.2.7:8200" },
      /^vault-mutual-unseal:helperAddress: must name its host by DNS, not by IP address/,
    ],
    [
      "a node port outside Kubernetes' range",
      { vault: { context: "prod", namespace: "vault", expose: { type: "NodePort", nodePort: 8200 } } },
      /^vault-mutual-unseal:vault.expose.nodePort: /,
    ],
    [
      "a node port with type none",
      { vault: { context: "prod", namespace: "vault", expose: { type: "none", nodePort: 30820 } } },
      /^vault-mutual-unseal:vault.expose.nodePort: applies to types NodePort and LoadBalancer only/,
    ],
    [
      "source ranges on a NodePort",
      { vault: { context: "prod", namespace: "vault", expose: { type: "NodePort", sourceRanges: ["10.0.0.0/8"] } } },
      /^vault-mutual-unseal:vault.expose.sourceRanges: applies to type LoadBalancer only \(type is NodePort\)/,
    ],
    [
      "two Kubernetes clusters with vault-unlock behind its default LoadBalancer, open to anyone",
      twoClusters({ peerCidrs: ["192.0.2.0/24"] }),
      /^vault-mutual-unseal:vaultUnlock.expose: defaults to a LoadBalancer .* needs sourceRanges .*vault's egress addresses/,
    ],
    [
      "two Kubernetes clusters with vault-unlock behind a LoadBalancer open to anyone",
      twoClusters({ peerCidrs: ["192.0.2.0/24"], expose: { type: "LoadBalancer" } }),
      /^vault-mutual-unseal:vaultUnlock.expose.sourceRanges: a LoadBalancer in front of vault-unlock needs sourceRanges .*vault's egress addresses/,
    ],
    [
      "a helper namespace that is no Kubernetes name",
      { helperNamespace: "Vault_Helper" },
      /^vault-mutual-unseal:helperNamespace: must be a Kubernetes name/,
    ],
  ])("refuses %s", (_what, change, message) => {
    const found = problems(() => parsePrimaryConfig({ ...primary, ...change }));
    expect(found.some((p) => message.test(p))).toBe(true);
  });

  test("two Kubernetes clusters with addresses and vault's ranges: exposed by default, ranges kept", () => {
    const c = parsePrimaryConfig({
      ...primary,
      ...twoClusters({ peerCidrs: ["192.0.2.0/24"], expose: { type: "LoadBalancer", sourceRanges: ["192.0.2.0/24"] } }),
    });
    expect(c.vaultUnlock.peerCidrs).toEqual(["192.0.2.0/24"]);
    expect(c.vaultUnlock.expose).toEqual({ type: "LoadBalancer", sourceRanges: ["192.0.2.0/24"] });
    expect(c.zoneSpread).toBe("none");
    expect(c.helperNamespace).toBe("vault-helper");
  });

  test.each([
    ["a NodePort", { type: "NodePort" }],
    ["type none (routed by other means)", { type: "none" }],
  ])("two Kubernetes clusters with vault-unlock behind %s need no source ranges", (_what, expose) => {
    const c = parsePrimaryConfig({
      ...primary,
      ...twoClusters({ peerCidrs: ["192.0.2.0/24"], expose }),
    });
    expect(c.vaultUnlock.expose).toEqual(expose);
  });

  test("the emergency switch with the helper's address and stack is accepted", () => {
    expect(parsePrimaryConfig({ ...primary, emergency: true, helperStack: "acme/vault-mutual-unseal/helper" }).emergency).toBe(true);
  });

  test("every problem is reported at once, not only the first", () => {
    const found = problems(() =>
      parsePrimaryConfig({ ...primary, replicas: 2, keyShares: 2, keyThreshold: 3, helperAddress: "http://x", storage: "etcd" }),
    );
    expect(found.map((p) => p.split(":")[1])).toEqual(expect.arrayContaining(["replicas", "keyThreshold", "helperAddress", "storage"]));
  });
});

describe("helper stack config", () => {
  const expose = { type: "LoadBalancer", sourceRanges: ["198.51.100.0/24"] };
  const helper = { flavour: "vault", storage: "raft", context: "backup", primaryStack: "acme/vault-mutual-unseal/primary", expose };

  test("a valid config: one node by default, exposed through a LoadBalancer to the given ranges", () => {
    const c = parseHelperConfig(helper);
    expect({ replicas: c.replicas, expose: c.expose, revokeOnDelete: c.revokeSealTokensOnDelete }).toEqual({
      replicas: 1,
      expose,
      revokeOnDelete: false,
    });
  });

  test.each<[string, Record<string, unknown>, RegExp]>([
    [
      "a primary stack that is not organization/project/stack",
      { primaryStack: "primary" },
      /^vault-mutual-unseal:primaryStack: must be organization\/project\/stack/,
    ],
    ["an even replica count", { replicas: 2 }, /^vault-mutual-unseal:replicas: must be odd/],
    ["OpenBao on Consul", { flavour: "openbao", storage: "consul" }, /^vault-mutual-unseal:storage: OpenBao has no Consul storage/],
    [
      "its own namespace (the primary stack names it, for the helper's certificate)",
      { namespace: "helper" },
      /^vault-mutual-unseal:\(config\): unknown key\(s\) namespace/,
    ],
    [
      "source ranges that are not CIDRs",
      { expose: { type: "LoadBalancer", sourceRanges: ["everyone"] } },
      /^vault-mutual-unseal:expose.sourceRanges.0: must be a CIDR range/,
    ],
    [
      "no exposure named (the helper must be reachable from vault's cluster)",
      { expose: undefined },
      /^vault-mutual-unseal:expose: is required: how vault's emergency seal reaches the helper/,
    ],
    [
      "a LoadBalancer open to anyone",
      { expose: { type: "LoadBalancer" } },
      /^vault-mutual-unseal:expose.sourceRanges: a LoadBalancer in front of the helper needs sourceRanges/,
    ],
    [
      "a NodePort without the operator's opt-in (open to whoever reaches a node)",
      { expose: { type: "NodePort", nodePort: 30820 }, peerCidrs: ["10.232.0.0/16"] },
      /^vault-mutual-unseal:expose.type: NodePort is refused for the helper: a NodePort opens it to whoever reaches any node .*Use \{ type: LoadBalancer, sourceRanges: .*allowNodePort: true/,
    ],
    [
      "a NodePort opted out explicitly",
      { expose: { type: "NodePort", allowNodePort: false }, peerCidrs: ["10.232.0.0/16"] },
      /^vault-mutual-unseal:expose.type: NodePort is refused for the helper/,
    ],
    [
      "the NodePort opt-in on a LoadBalancer",
      { expose: { ...expose, allowNodePort: true } },
      /^vault-mutual-unseal:expose.allowNodePort: applies to type NodePort only \(type is LoadBalancer\)/,
    ],
    [
      "a NodePort with no range for the NetworkPolicy",
      { expose: { type: "NodePort", allowNodePort: true } },
      /^vault-mutual-unseal:peerCidrs: is required with expose.type NodePort: the helper's NetworkPolicy admits vault's emergency seal only from named ranges/,
    ],
    [
      "type none with no range for the NetworkPolicy",
      { expose: { type: "none" } },
      /^vault-mutual-unseal:peerCidrs: is required with expose.type none/,
    ],
    ["peer ranges that are not CIDRs", { peerCidrs: ["vault"] }, /^vault-mutual-unseal:peerCidrs.0: must be a CIDR range/],
  ])("refuses %s", (_what, change, message) => {
    expect(problems(() => parseHelperConfig({ ...helper, ...change })).some((p) => message.test(p))).toBe(true);
  });

  test("a NodePort with expose.allowNodePort and peerCidrs is accepted; the opt-in is no field of the Service", () => {
    const c = parseHelperConfig({
      ...helper,
      expose: { type: "NodePort", nodePort: 30820, allowNodePort: true },
      peerCidrs: ["10.232.0.0/16"],
    });
    expect(c.expose).toEqual({ type: "NodePort", nodePort: 30820, allowNodePort: true });
    expect(exposeArgs(c.expose)).toEqual({ type: "NodePort", nodePort: 30820 });
    expect(helperPeerCidrs(c)).toEqual(["10.232.0.0/16"]);
  });

  test("the NetworkPolicy's ranges: the LoadBalancer's sourceRanges and peerCidrs, each once", () => {
    expect(helperPeerCidrs(parseHelperConfig(helper))).toEqual(["198.51.100.0/24"]);
    const c = parseHelperConfig({ ...helper, peerCidrs: ["198.51.100.0/24", "203.0.113.0/28"] });
    expect(helperPeerCidrs(c)).toEqual(["198.51.100.0/24", "203.0.113.0/28"]);
  });
});

describe("the example stack files", () => {
  // The documented examples must parse: a reader copies them.
  const config = (file: string): Record<string, unknown> => {
    const doc = yaml.load(fs.readFileSync(path.join(__dirname, "../..", file), "utf8")) as { config: Record<string, unknown> };
    return Object.fromEntries(Object.entries(doc.config).map(([k, v]) => [k.replace(/^vault-mutual-unseal:/, ""), v]));
  };
  test("Pulumi.primary.yaml parses", () => expect(() => parsePrimaryConfig(config("Pulumi.primary.yaml"))).not.toThrow());
  test("Pulumi.helper.yaml parses", () => expect(() => parseHelperConfig(config("Pulumi.helper.yaml"))).not.toThrow());
});

describe("config values as Pulumi hands them over (all text)", () => {
  test("numbers, booleans and objects are parsed; text keys stay text even when they look like numbers", () => {
    const raw = configValues(
      {
        "vault-mutual-unseal:flavour": "vault",
        "vault-mutual-unseal:replicas": "3",
        "vault-mutual-unseal:emergency": "false",
        "vault-mutual-unseal:context": "2024",
        "vault-mutual-unseal:expose": '{"type":"LoadBalancer","sourceRanges":["198.51.100.0/24"]}',
        "vault-mutual-unseal:kubeconfig": "apiVersion: v1",
        "aws:region": "eu-west-1",
      },
      HELPER_TEXT_KEYS,
    );
    expect(raw).toEqual({
      flavour: "vault",
      replicas: 3,
      emergency: false,
      context: "2024",
      expose: { type: "LoadBalancer", sourceRanges: ["198.51.100.0/24"] },
    });
    expect(PRIMARY_TEXT_KEYS).toEqual(
      expect.arrayContaining(["flavour", "storage", "image", "ingressHost", "helperAddress", "transitTokenPeriod"]),
    );
    expect(PRIMARY_TEXT_KEYS).not.toContain("replicas");
  });
});
