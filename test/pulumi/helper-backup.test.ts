/** HelperBackup: the backup unsealer, its key copy with the drift check, its emergency token. */
import * as pulumi from "@pulumi/pulumi";
import { installMocks, k8sObjects, kindName, registered, settle, validateK8s, value } from "./harness";

type HelperModule = typeof import("../../components/helper-backup");
let m: HelperModule;

beforeAll(async () => {
  await installMocks();
  m = await import("../../components/helper-backup");
});
beforeEach(() => registered.splice(0));

async function deploy() {
  const h = new m.HelperBackup("helper", {
    flavour: "openbao",
    namespace: "vault-helper",
    tls: pulumi.secret({ caCertPem: "CA-PEM", certPem: "HELPER-PEM", keyPem: "HELPER-KEY" }),
    serverName: "vault-helper.example.internal",
    operatorTls: pulumi.secret({ caCertPem: "CA-PEM", certPem: "OPERATOR-PEM", keyPem: "OPERATOR-KEY" }),
    kubeconfig: pulumi.secret("KUBECONFIG"),
    context: "backup",
    backup: pulumi.secret("BACKUP"),
    latestVersion: 2,
    peerCidrs: ["198.51.100.0/24"],
  });
  await settle();
  return h;
}

describe("HelperBackup", () => {
  it("is a one-node Shamir VaultCluster, its init, unseal, operator token, audit device, key copy and emergency link, in that order", async () => {
    const h = await deploy();
    expect(registered.filter((r) => !r.custom).map((r) => `${r.type} ${r.name}`)).toEqual([
      "vault-mutual-unseal:index:HelperBackup helper",
      "vault-mutual-unseal:index:VaultCluster helper-vault",
    ]);
    const dynamic = registered.filter((r) => r.type.startsWith("pulumi-nodejs:dynamic")).map((r) => r.name);
    expect(dynamic).toEqual([
      "helper-init",
      "helper-unseal",
      "helper-operator-token",
      "helper-audit",
      "helper-key-copy",
      "helper-emergency-link",
    ]);
    for (const r of k8sObjects()) validateK8s(r);
    expect(
      k8sObjects()
        .filter((r) => r.inputs.kind === "NetworkPolicy")
        .map(kindName),
    ).toEqual(["NetworkPolicy vault-helper-unseal-only"]);
    const sts = k8sObjects().find((r) => kindName(r) === "StatefulSet vault-helper")!;
    expect(sts.inputs.spec.replicas).toBe(1);
    expect(sts.inputs.metadata.annotations).toEqual({ "pulumi.com/skipAwait": "true" });
    expect(registered.find((r) => r.name === "helper-init")!.inputs).toMatchObject({ kind: "shamir", shares: 3, threshold: 2 });
    expect(registered.find((r) => r.name === "helper-key-copy")!.inputs).toMatchObject({
      backup: "BACKUP",
      latestVersion: 2,
      failOnDrift: true,
      mountPath: "transit/",
      keyName: "autounseal",
    });
    expect(registered.find((r) => r.name === "helper-key-copy")!.secretPaths).toEqual(expect.arrayContaining(["backup", "token", "nodes"]));
    expect(registered.find((r) => r.name === "helper-emergency-link")!.inputs).toMatchObject({
      createKey: false,
      displayName: "emergency-seal-of-vault",
    });
    expect(await value(h.address)).toBe("https://vault-helper-active.vault-helper.svc:8200");
  });
});

describe("helper key drift check", () => {
  it.each([
    [2, 2, true, /^in sync: the helper holds version 2 of transit\/autounseal, the unsealer's latest is 2/],
    [3, 2, true, /^in sync/],
    [
      1,
      2,
      false,
      /^DRIFT: the helper holds version 1 of transit\/autounseal but the unsealer's key is at version 2; .*pulumi up` on the primary stack \(it takes a new backup of the rotated key\)/,
    ],
  ])("helper at version %i, key at %i: in sync %s", async (helper, latest, inSync, verdict) => {
    const { restoreVerdict } = await import("../../providers/transit-key-restore");
    const v = restoreVerdict({ mountPath: "transit/", keyName: "autounseal" }, helper, latest);
    expect(v.inSync).toBe(inSync);
    expect(v.verdict).toMatch(verdict);
  });
});
