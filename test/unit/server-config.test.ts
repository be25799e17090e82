/**
 * The server config file as a node reads it: what ends up in each block, what is refused
 * before anything is deployed, and that no value can break out of its quotes.
 */
import { InputError } from "../../core/errors";
import { ServerConfig, renderServerConfig } from "../../core/render/server-config";
import { SealStanza, TransitSeal } from "../../core/render/seal";
import { blockOf, blocksOf, readHcl } from "./hcl-reader";
import { refusal } from "./refusal";

const unsealer = (over: Partial<TransitSeal> = {}): TransitSeal => ({
  type: "transit",
  address: "https://vault-unlock.vault-unlock.svc:8200",
  keyName: "autounseal",
  mountPath: "transit/",
  tlsCaCert: "/vault/tls/unsealer-ca.pem",
  tlsClientCert: "/vault/tls/seal-client.pem",
  tlsClientKey: "/vault/tls/seal-client-key.pem",
  tlsServerName: "vault-unlock",
  ...over,
});

const raftNode = (over: Partial<ServerConfig> = {}): ServerConfig => ({
  flavour: "openbao",
  listener: {
    address: "0.0.0.0:8200",
    clusterAddress: "0.0.0.0:8201",
    tlsCertFile: "/vault/tls/server.pem",
    tlsKeyFile: "/vault/tls/server-key.pem",
  },
  apiAddr: "https://vault-0.vault-internal:8200",
  clusterAddr: "https://vault-0.vault-internal:8201",
  storage: {
    type: "raft",
    path: "/vault/data",
    nodeId: "vault-0",
    retryJoin: [
      {
        leaderApiAddr: "https://vault-1.vault-internal:8200",
        leaderCaCertFile: "/vault/tls/ca.pem",
        leaderClientCertFile: "/vault/tls/client.pem",
        leaderClientKeyFile: "/vault/tls/client-key.pem",
        leaderTlsServerName: "vault",
      },
      { leaderApiAddr: "https://vault-2.vault-internal:8200", leaderCaCertFile: "/vault/tls/ca.pem" },
    ],
  },
  seals: [unsealer()],
  ...over,
});

const consulNode = (over: Partial<ServerConfig> = {}): ServerConfig =>
  raftNode({
    flavour: "vault",
    storage: {
      type: "consul",
      address: "127.0.0.1:8501",
      path: "vault/",
      scheme: "https",
      tlsCaFile: "/consul/tls/ca.pem",
      tlsCertFile: "/consul/tls/client.pem",
      tlsKeyFile: "/consul/tls/client-key.pem",
    },
    ...over,
  });

const read = (c: ServerConfig) => readHcl(renderServerConfig(c));

describe("raft storage", () => {
  test("each node joins the leader candidates over verified TLS, presenting its client certificate", () => {
    const storage = blockOf(read(raftNode()), "storage", "raft");
    expect(storage.attrs).toEqual({ path: "/vault/data", node_id: "vault-0", performance_multiplier: 1 });
    expect(storage.blocks.map((b) => [b.type, b.attrs])).toEqual([
      [
        "retry_join",
        {
          leader_api_addr: "https://vault-1.vault-internal:8200",
          leader_ca_cert_file: "/vault/tls/ca.pem",
          leader_client_cert_file: "/vault/tls/client.pem",
          leader_client_key_file: "/vault/tls/client-key.pem",
          leader_tls_servername: "vault",
        },
      ],
      ["retry_join", { leader_api_addr: "https://vault-2.vault-internal:8200", leader_ca_cert_file: "/vault/tls/ca.pem" }],
    ]);
  });

  test("a restarted cluster elects a leader at production speed (performance_multiplier 1) unless told otherwise", () => {
    const base = raftNode();
    const slow = raftNode({
      storage: { ...(base.storage as Extract<ServerConfig["storage"], { type: "raft" }>), performanceMultiplier: 5 },
    });
    expect(blockOf(read(base), "storage", "raft").attrs.performance_multiplier).toBe(1);
    expect(blockOf(read(slow), "storage", "raft").attrs.performance_multiplier).toBe(5);
  });

  test("the node advertises its https API and cluster addresses", () => {
    const top = read(raftNode()).attrs;
    expect(top.api_addr).toBe("https://vault-0.vault-internal:8200");
    expect(top.cluster_addr).toBe("https://vault-0.vault-internal:8201");
  });
});

describe("listener", () => {
  test("serves TLS with the node's certificate, and without client-cert checks when none are asked for", () => {
    expect(blockOf(read(raftNode()), "listener", "tcp").attrs).toEqual({
      address: "0.0.0.0:8200",
      cluster_address: "0.0.0.0:8201",
      tls_cert_file: "/vault/tls/server.pem",
      tls_key_file: "/vault/tls/server-key.pem",
    });
  });

  test("accepts only clients whose certificate the given CA issued when requireClientCert is set", () => {
    const c = raftNode();
    const attrs = blockOf(
      read({ ...c, listener: { ...c.listener, tlsClientCaFile: "/vault/tls/clients-ca.pem", requireClientCert: true } }),
      "listener",
      "tcp",
    ).attrs;
    expect(attrs.tls_client_ca_file).toBe("/vault/tls/clients-ca.pem");
    expect(attrs.tls_require_and_verify_client_cert).toBe(true);
  });

  test("a client CA alone lets clients without certificates in", () => {
    const c = raftNode();
    const attrs = blockOf(
      read({ ...c, listener: { ...c.listener, tlsClientCaFile: "/vault/tls/clients-ca.pem" } }),
      "listener",
      "tcp",
    ).attrs;
    expect(attrs.tls_client_ca_file).toBe("/vault/tls/clients-ca.pem");
    expect(attrs).not.toHaveProperty("tls_require_and_verify_client_cert");
  });
});

describe('seal "transit"', () => {
  test("uses the parameter names the transit seal reads, so the unsealer's CA is really trusted", () => {
    const seal = blockOf(read(raftNode()), "seal", "transit");
    expect(seal.attrs).toEqual({
      address: "https://vault-unlock.vault-unlock.svc:8200",
      key_name: "autounseal",
      mount_path: "transit/",
      disable_renewal: "false",
      tls_ca_cert: "/vault/tls/unsealer-ca.pem",
      tls_client_cert: "/vault/tls/seal-client.pem",
      tls_client_key: "/vault/tls/seal-client-key.pem",
      tls_server_name: "vault-unlock",
    });
  });

  test("never writes tls_ca_file (the article's silently ignored key) nor a token into the file", () => {
    // A token smuggled in on the stanza object (e.g. spread from a transit link) must not reach the file.
    const leaky = { ...unsealer(), token: "hvs.SECRET-TRANSIT-TOKEN" } as SealStanza;
    const text = renderServerConfig(raftNode({ seals: [leaky] }));
    expect(text).not.toMatch(/tls_ca_file/);
    expect(text).not.toMatch(/^\s*token\s*=/m);
    expect(text).not.toContain("hvs.SECRET-TRANSIT-TOKEN");
  });

  test("a Shamir node has no seal block", () => {
    expect(blocksOf(read(raftNode({ seals: [] })), "seal")).toEqual([]);
  });

  test("during a migration the old seal is kept as a disabled block next to the new one", () => {
    const old = { ...unsealer({ address: "https://helper.example:8200" }), disabled: true };
    const seals = blocksOf(read(raftNode({ seals: [old, unsealer({ keyName: "autounseal-2" })] })), "seal", "transit");
    expect(seals.map((s) => [s.attrs.address, s.attrs.disabled])).toEqual([
      ["https://helper.example:8200", "true"],
      ["https://vault-unlock.vault-unlock.svc:8200", undefined],
    ]);
  });

  test("an optional namespace is written only when set", () => {
    expect(blockOf(read(raftNode()), "seal", "transit").attrs).not.toHaveProperty("namespace");
    expect(blockOf(read(raftNode({ seals: [unsealer({ namespace: "team-a" })] })), "seal", "transit").attrs.namespace).toBe("team-a");
  });
});

describe("flavours", () => {
  test("OpenBao gets no disable_mlock line (it refuses disable_mlock = false)", () => {
    expect(read(raftNode({ flavour: "openbao" })).attrs).not.toHaveProperty("disable_mlock");
  });

  test("Vault keeps mlock on by default and turns it off only when asked", () => {
    expect(read(raftNode({ flavour: "vault" })).attrs.disable_mlock).toBe(false);
    expect(read(raftNode({ flavour: "vault", disableMlock: true })).attrs.disable_mlock).toBe(true);
  });

  test("Vault on Consul talks to its agent over TLS with Consul's own tls_ca_file/tls_cert_file/tls_key_file", () => {
    const config = read(consulNode());
    expect(blockOf(config, "storage", "consul").attrs).toEqual({
      address: "127.0.0.1:8501",
      path: "vault/",
      scheme: "https",
      tls_ca_file: "/consul/tls/ca.pem",
      tls_cert_file: "/consul/tls/client.pem",
      tls_key_file: "/consul/tls/client-key.pem",
    });
    // tls_ca_file belongs to Consul; the seal still uses tls_ca_cert.
    expect(blockOf(config, "seal", "transit").attrs).not.toHaveProperty("tls_ca_file");
    expect(blockOf(config, "seal", "transit").attrs.tls_ca_cert).toBe("/vault/tls/unsealer-ca.pem");
  });

  test("OpenBao declares the audit device to stdout in the file (its only default way); the API switch only when asked", () => {
    const config = read(raftNode({ auditToStdout: true }));
    const audit = blockOf(config, "audit", "file");
    expect(audit.labels).toEqual(["file", "stdout"]);
    expect(audit.attrs.description).toMatch(/container log/);
    expect(blockOf(audit, "options").attrs).toEqual({ file_path: "stdout" });
    expect(config.attrs).not.toHaveProperty("unsafe_allow_api_audit_creation");
    expect(blocksOf(read(raftNode()), "audit")).toEqual([]);
    expect(read(raftNode({ allowApiAuditCreation: true })).attrs.unsafe_allow_api_audit_creation).toBe(true);
  });

  test("ui and log level are written as given", () => {
    const top = read(raftNode({ ui: true, logLevel: "debug" })).attrs;
    expect(top.ui).toBe(true);
    expect(top.log_level).toBe("debug");
    expect(read(raftNode()).attrs.ui).toBe(false);
  });
});

describe("refused before anything is deployed", () => {
  const base = raftNode();
  test.each<[string, ServerConfig, string, RegExp]>([
    ["Consul storage with OpenBao", consulNode({ flavour: "openbao" }), "storage.type", /OpenBao has no Consul storage backend/],
    ["disableMlock with OpenBao", raftNode({ disableMlock: false }), "disableMlock", /OpenBao has no mlock/],
    [
      "an http api address",
      raftNode({ apiAddr: "http://vault-0.vault-internal:8200" }),
      "apiAddr",
      /"http:\/\/vault-0\.vault-internal:8200" must be an https:\/\/ URL/,
    ],
    [
      "an http cluster address",
      raftNode({ clusterAddr: "http://vault-0.vault-internal:8201" }),
      "clusterAddr",
      /must be an https:\/\/ URL/,
    ],
    ["a bare host as api address", raftNode({ apiAddr: "vault-0:8200" }), "apiAddr", /must be an https:\/\/ URL/],
    [
      "client certificates required without their CA",
      raftNode({ listener: { ...base.listener, requireClientCert: true } }),
      "listener.tlsClientCaFile",
      /requireClientCert needs the CA/,
    ],
    [
      "two enabled seals",
      raftNode({ seals: [unsealer(), unsealer({ keyName: "other" })] }),
      "seals",
      /2 seal blocks are enabled; only one may be/,
    ],
    [
      "a seal over plain http",
      raftNode({ seals: [unsealer({ address: "http://vault-unlock:8200" })] }),
      "seals[0].address",
      /is not https/,
    ],
    [
      "a config-file audit device with Vault",
      raftNode({ flavour: "vault", auditToStdout: true }),
      "auditToStdout",
      /enable the audit device through the API/,
    ],
    [
      "a seal client certificate without its key",
      raftNode({ seals: [unsealer({ tlsClientKey: undefined })] }),
      "seals[0].tlsClientCert",
      /set both tlsClientCert and tlsClientKey/,
    ],
  ])("%s", (_what, config, key, message) => {
    const e = refusal(() => renderServerConfig(config));
    expect(e.key).toBe(key);
    expect(e.message).toMatch(message);
  });
});

describe("strings cannot break out of their quotes", () => {
  const tricky: [string, string][] = [
    ["double quotes", 'cert "quoted".pem'],
    ["backslashes", "C:\\tls\\server.pem\\"],
    ["a newline", "server.pem\nui = true"],
    ["an attempt to close the block and add a token", '"\n}\nseal "transit" {\n  token = "hvs.injected'],
    ["a tab and a carriage return", "a\tb\rc"],
    ["non-ASCII", "ключ/сертификат.pem"],
  ];

  test.each(tricky)("%s in paths, names and the seal address read back unchanged", (_what, v) => {
    const base = raftNode();
    const config = read(
      raftNode({
        listener: { ...base.listener, tlsCertFile: v },
        storage: {
          type: "raft",
          path: v,
          nodeId: v,
          retryJoin: [{ leaderApiAddr: "https://vault-1:8200", leaderCaCertFile: v, leaderTlsServerName: v }],
        },
        seals: [unsealer({ tlsCaCert: v, keyName: v, address: `https://vault-unlock:8200/${v}` })],
      }),
    );
    expect(config.attrs).not.toHaveProperty("ui", true);
    expect(blockOf(config, "listener", "tcp").attrs.tls_cert_file).toBe(v);
    const storage = blockOf(config, "storage", "raft");
    expect([storage.attrs.path, storage.attrs.node_id]).toEqual([v, v]);
    expect(storage.blocks[0].attrs).toMatchObject({ leader_ca_cert_file: v, leader_tls_servername: v });
    const seal = blockOf(config, "seal", "transit");
    expect([seal.attrs.tls_ca_cert, seal.attrs.key_name, seal.attrs.address]).toEqual([v, v, `https://vault-unlock:8200/${v}`]);
    expect(seal.attrs).not.toHaveProperty("token");
  });

  // HCL 1 (what Vault and OpenBao parse configs with) takes "${" as the start of an
  // interpolation: an unbalanced one swallows the closing quote and the following lines
  // (`bao server` then fails with "literal not terminated"); inside a balanced one escapes
  // are not decoded. Either the value is written so that it reads back unchanged, or it is
  // refused up front with an InputError.
  test.each([
    ["an unbalanced ${", "/vault/tls/${ca.pem"],
    ["a balanced ${…} holding a quote", '/vault/tls/${"}.pem'],
  ])("%s in a path is written so it reads back unchanged, or refused", (_what, v) => {
    const base = raftNode();
    let text: string;
    try {
      text = renderServerConfig(raftNode({ listener: { ...base.listener, tlsCertFile: v }, seals: [unsealer({ tlsCaCert: v })] }));
    } catch (e) {
      expect(e).toBeInstanceOf(InputError);
      return;
    }
    const config = readHcl(text);
    expect(blockOf(config, "listener", "tcp").attrs.tls_cert_file).toBe(v);
    expect(blockOf(config, "seal", "transit").attrs.tls_ca_cert).toBe(v);
  });
});
