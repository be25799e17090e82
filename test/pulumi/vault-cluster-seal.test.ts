/** VaultCluster: the rendered config and seal, the token Secret reference, the peer gate, the Consul sidecar, OpenBao. */
import { lateSealConfigData } from "../../adapters/kubernetes/seal-config";
import { sealSettingsDigest } from "../../core/nodes";
import { renderFile } from "../../core/render/hcl";
import { sealBlock } from "../../core/render/seal";
import { blockOf, blocksOf, readHcl } from "../unit/hcl-reader";
import { TLS_OFF, installMocks, k8sObjects, one, registered, strings } from "./harness";
import { AGENT, SECRET_MATERIAL, VaultModule, deployVault, deployVaultUnlock, unlockSeal } from "./vault-fixtures";

let m: VaultModule;

beforeAll(async () => {
  await installMocks();
  m = await import("../../components/vault-cluster");
});

const sts = (name: string) => one("StatefulSet", name).inputs.spec.template;
const container = (name: string, c: string) =>
  [...sts(name).spec.containers, ...sts(name).spec.initContainers].find((x: { name: string }) => x.name === c);
const env = (name: string, c: string) =>
  Object.fromEntries(
    container(name, c).env.map((e: { name: string; value?: string; valueFrom?: unknown }) => [e.name, e.value ?? e.valueFrom]),
  );
const serverHcl = (name: string) => readHcl(one("ConfigMap", `${name}-config`).inputs.data["server.hcl"]);

describe("VaultCluster seal and config", () => {
  it("renders vault's seal stanza with the core renderer: transit to vault-unlock over verified mutual TLS, no token", async () => {
    await deployVault(m);
    const cfg = one("ConfigMap", "vault-config").inputs.data;
    expect(cfg["server.hcl"]).toContain(renderFile({}, [sealBlock(unlockSeal(m))]).trim());
    const seal = blockOf(readHcl(cfg["server.hcl"]), "seal", "transit");
    expect(seal.attrs).toEqual({
      address: "https://vault-unlock-active.vault-unlock.svc:8200",
      key_name: "autounseal",
      mount_path: "transit/",
      disable_renewal: "false",
      tls_ca_cert: "/vault/transit-tls/ca.crt",
      tls_client_cert: "/vault/transit-tls/tls.crt",
      tls_client_key: "/vault/transit-tls/tls.key",
      tls_server_name: "vault-unlock-active.vault-unlock.svc",
    });
    expect(cfg["peer-address"]).toBe("https://vault-unlock-active.vault-unlock.svc:8200");
    expect(cfg["peer-server-name"]).toBe("vault-unlock-active.vault-unlock.svc");
    expect(sts("vault").metadata.annotations).toEqual({ [m.SEAL_CHECKSUM_ANNOTATION]: sealSettingsDigest({ stanzas: [unlockSeal(m)] }) });
  });

  it("points Vault at its Consul agent sidecar over verified TLS, and registers itself for the active/standby Services", async () => {
    await deployVault(m);
    const hcl = serverHcl("vault");
    expect(blockOf(hcl, "storage", "consul").attrs).toEqual({
      address: "127.0.0.1:8501",
      path: "vault/",
      scheme: "https",
      tls_ca_file: "/vault/consul-tls/ca.crt",
      tls_cert_file: "/vault/consul-tls/tls.crt",
      tls_key_file: "/vault/consul-tls/tls.key",
    });
    expect(blockOf(hcl, "listener", "tcp").attrs).toMatchObject({
      address: "0.0.0.0:8200",
      tls_cert_file: "/vault/tls/tls.crt",
      tls_client_ca_file: "/vault/tls/ca.crt",
    });
    expect(blocksOf(hcl, "service_registration", "kubernetes")).toHaveLength(1);
    expect(hcl.attrs).toMatchObject({ disable_mlock: true, api_addr: "https://vault-active.vault.svc:8200" });
  });

  it("runs the Consul client agent beside Vault: joins its own Consul, leaves 6 s after the stop signal", async () => {
    await deployVault(m);
    const agent = container("vault", "consul-agent");
    expect(agent.image).toBe(AGENT.image);
    expect(agent.lifecycle.preStop.exec.command).toEqual(["/bin/sh", "-c", "sleep 6 && consul leave"]);
    expect(JSON.parse(one("ConfigMap", "vault-consul-agent").inputs.data["consul.json"])).toMatchObject({
      server: false,
      client_addr: "127.0.0.1",
      retry_join: AGENT.retryJoin,
      tls: { defaults: { verify_incoming: true, verify_outgoing: true }, internal_rpc: { verify_server_hostname: true } },
    });
    expect(sts("vault").spec.volumes).toContainEqual({ name: "consul-gossip", secret: { secretName: "consul-vault-gossip" } });
    expect(container("vault", "vault").volumeMounts).toContainEqual({ name: "consul-tls", mountPath: "/vault/consul-tls", readOnly: true });
  });

  it("vault-unlock starts Shamir on Raft: no seal block, joins its peers by pod name, per-pod addresses from env", async () => {
    await deployVaultUnlock(m);
    const hcl = serverHcl("vault-unlock");
    expect(blocksOf(hcl, "seal")).toEqual([]);
    expect(Object.keys(one("ConfigMap", "vault-unlock-config").inputs.data)).toEqual(["server.hcl"]);
    const raft = blockOf(hcl, "storage", "raft");
    expect(raft.attrs).toMatchObject({ path: "/vault/data", performance_multiplier: 1 });
    expect(blocksOf(raft, "retry_join").map((j) => j.attrs)).toEqual(
      [0, 1, 2].map((i) => ({
        leader_api_addr: `https://vault-unlock-${i}.vault-unlock-internal.vault-unlock.svc:8200`,
        leader_ca_cert_file: "/vault/tls/ca.crt",
      })),
    );
    const e = env("vault-unlock", "vault");
    expect(e).toMatchObject({
      VAULT_API_ADDR: "https://$(POD_NAME).vault-unlock-internal.vault-unlock.svc:8200",
      VAULT_CLUSTER_ADDR: "https://$(POD_NAME).vault-unlock-internal.vault-unlock.svc:8201",
      VAULT_RAFT_NODE_ID: { fieldRef: { fieldPath: "metadata.name" } },
      VAULT_ADDR: "https://127.0.0.1:8200",
      VAULT_CACERT: "/vault/tls/ca.crt",
    });
    expect(container("vault-unlock", "vault").env[0]).toEqual({
      name: "POD_NAME",
      valueFrom: { fieldRef: { fieldPath: "metadata.name" } },
    });
    expect(sts("vault-unlock").metadata.annotations[m.SEAL_CHECKSUM_ANNOTATION]).toBe(sealSettingsDigest({ stanzas: [] }));
  });

  it("reads the transit token only from an optional Secret, so the pod template is the same before and after it exists", async () => {
    await deployVaultUnlock(m);
    const tokenEnv = container("vault-unlock", "vault").env.find((e: { name: string }) => e.name === "VAULT_TRANSIT_SEAL_TOKEN");
    expect(tokenEnv).toEqual({
      name: "VAULT_TRANSIT_SEAL_TOKEN",
      valueFrom: { secretKeyRef: { name: "vault-unlock-transit-token", key: "token", optional: true } },
    });
    expect(sts("vault-unlock").spec.volumes).toEqual(
      expect.arrayContaining([
        { name: "seal", configMap: { name: "vault-unlock-seal", optional: true } },
        { name: "transit-tls", secret: { secretName: "vault-unlock-transit-tls", optional: true } },
      ]),
    );
    expect(container("vault-unlock", "vault").command.join(" ")).toContain("-config=/vault/config/server.hcl -config=/vault/seal/seal.hcl");
  });

  it("keeps tokens and private keys in Secrets only, and never switches TLS verification off", async () => {
    for (const deploy of [deployVault, deployVaultUnlock]) {
      await deploy(m);
      for (const r of k8sObjects()) {
        if (r.inputs.kind === "Secret") {
          expect([r.name, r.secretPaths]).toEqual([r.name, ["stringData"]]);
          continue;
        }
        for (const s of strings(r.inputs)) {
          expect([r.name, s.path, SECRET_MATERIAL.some((k) => s.value.includes(k))]).toEqual([r.name, s.path, false]);
          for (const off of TLS_OFF) expect([r.name, s.path, off.test(s.value)]).toEqual([r.name, s.path, false]);
        }
        const cfg = r.inputs.kind === "ConfigMap" ? Object.values(r.inputs.data as Record<string, string>).join("\n") : "";
        expect(cfg).not.toMatch(/^\s*token\s*=/m);
        for (const c of r.inputs.spec?.template?.spec
          ? [...r.inputs.spec.template.spec.containers, ...(r.inputs.spec.template.spec.initContainers ?? [])]
          : []) {
          for (const e of c.env ?? []) if (/TOKEN/.test(e.name)) expect([c.name, e.name, e.value]).toEqual([c.name, e.name, undefined]);
        }
      }
      expect(one("Secret", `${registered.find((r) => !r.custom)!.name}-tls`).inputs.type).toBe("kubernetes.io/tls");
    }
  });

  it("holds a transit-sealed pod in a peer gate: same image, its own CLI, the seal's own TLS files", async () => {
    await deployVault(m);
    const gate = container("vault", "peer-gate");
    expect(sts("vault").spec.initContainers.map((c: { name: string }) => c.name)).toEqual(["peer-gate"]);
    expect(gate.image).toBe(container("vault", "vault").image);
    const script: string = gate.command[2];
    expect(gate.command.slice(0, 2)).toEqual(["/bin/sh", "-c"]);
    // Its behaviour is run for real in vault-pod-scripts.test.ts; here: the CLI and the files it reads.
    expect(script).toContain("if vault status >/dev/null; then");
    expect(script).toContain("for d in /vault/seal /vault/config;");
    expect(env("vault", "peer-gate")).toEqual({
      VAULT_CACERT: "/vault/transit-tls/ca.crt",
      VAULT_CLIENT_CERT: "/vault/transit-tls/tls.crt",
      VAULT_CLIENT_KEY: "/vault/transit-tls/tls.key",
      HOME: "/tmp",
    });
    expect(gate.volumeMounts.map((v: { mountPath: string }) => v.mountPath)).toEqual([
      "/vault/config",
      "/vault/seal",
      "/vault/tls",
      "/vault/transit-tls",
      "/tmp",
    ]);
  });

  it("renders a later seal (vault-unlock's migration) with the same core renderer, into the optional ConfigMap's data", () => {
    const seal = m.transitSealTo("https://vault-active.vault.svc:8200", { serverName: "vault-active.vault.svc" });
    const data = lateSealConfigData("vault", [seal]);
    expect(data).toEqual({
      "seal.hcl": renderFile({}, [sealBlock(seal)]),
      "peer-address": "https://vault-active.vault.svc:8200",
      "peer-server-name": "vault-active.vault.svc",
      "peer-ca-cert": "/vault/transit-tls/ca.crt",
      "peer-client-cert": "/vault/transit-tls/tls.crt",
      "peer-client-key": "/vault/transit-tls/tls.key",
    });
    expect(() => lateSealConfigData("vault", [{ ...seal, tokenEnv: "HELPER_TOKEN" }])).toThrow("seals[0].tokenEnv");
    expect(lateSealConfigData("openbao", [{ ...seal, tokenEnv: "HELPER_TOKEN" }])["seal.hcl"]).toContain('token = "env://HELPER_TOKEN"');
    expect(() => lateSealConfigData("vault", [seal, seal])).toThrow("2 seal blocks are enabled");
    expect(lateSealConfigData("vault", [{ ...seal, disabled: true }])["peer-address"]).toBeUndefined();
  });

  it("runs OpenBao with its own CLI, env names, labels and no mlock setting", async () => {
    await deployVaultUnlock(m, { flavour: "openbao", seals: [unlockSeal(m)] });
    const bao = container("vault-unlock", "bao");
    expect(bao.image).toBe("quay.io/openbao/openbao:2.7.2");
    expect(bao.command[2]).toContain("exec bao server -config=/vault/config/server.hcl");
    expect(env("vault-unlock", "bao")).toMatchObject({
      BAO_API_ADDR: expect.any(String),
      BAO_CLUSTER_ADDR: expect.any(String),
      BAO_RAFT_NODE_ID: { fieldRef: { fieldPath: "metadata.name" } },
      BAO_CACERT: "/vault/tls/ca.crt",
      VAULT_CACERT: "/vault/tls/ca.crt",
      VAULT_TRANSIT_SEAL_TOKEN: expect.anything(),
    });
    expect(
      Object.keys(env("vault-unlock", "bao")).filter(
        (k) => k.startsWith("VAULT_") && !["VAULT_CACERT", "VAULT_TRANSIT_SEAL_TOKEN"].includes(k),
      ),
    ).toEqual([]);
    expect(container("vault-unlock", "peer-gate").command[2]).toContain("if bao status >/dev/null; then");
    expect(container("vault-unlock", "peer-gate").command[2]).toContain('BAO_ADDR="$(cat "$dir/peer-address" || true)"');
    expect(env("vault-unlock", "peer-gate")).toMatchObject({
      BAO_CLIENT_CERT: "/vault/transit-tls/tls.crt",
      BAO_CACERT: "/vault/transit-tls/ca.crt",
    });
    expect(one("Service", "vault-unlock-active").inputs.spec.selector["openbao-active"]).toBe("true");
    expect(serverHcl("vault-unlock").attrs.disable_mlock).toBeUndefined();
    // OpenBao takes its audit device from the file (AuditDevice confirms it); Vault's goes through the API.
    expect(
      serverHcl("vault-unlock")
        .blocks.filter((x) => x.type === "audit")
        .map((x) => x.labels),
    ).toEqual([["file", "stdout"]]);
  });

  it("declares no audit device in Vault's file (the API enables it)", async () => {
    await deployVaultUnlock(m);
    expect(serverHcl("vault-unlock").blocks.filter((x) => x.type === "audit")).toEqual([]);
  });
});
