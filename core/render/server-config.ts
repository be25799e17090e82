/**
 * Pure renderer of a Vault/OpenBao server config file. The Pulumi ConfigMaps, the lab and
 * the tests all render through here, so what the tests prove is what gets deployed.
 */
import { InputError } from "../errors";
import { HclBlock, renderFile } from "./hcl";
import { SealStanza, assertValidSeals, sealBlock } from "./seal";

export type Flavour = "vault" | "openbao";

export interface ListenerConfig {
  /** host:port the API listens on. */
  address: string;
  /** host:port for cluster (request forwarding, Raft) traffic. */
  clusterAddress: string;
  tlsCertFile: string;
  tlsKeyFile: string;
  /** CA whose client certificates are accepted; with requireClientCert, the only ones. */
  tlsClientCaFile?: string;
  requireClientCert?: boolean;
}

export interface RaftJoin {
  leaderApiAddr: string;
  leaderCaCertFile: string;
  /** Needed when the leader's listener requires client certificates. */
  leaderClientCertFile?: string;
  leaderClientKeyFile?: string;
  leaderTlsServerName?: string;
}

export interface RaftStorage {
  type: "raft";
  path: string;
  nodeId: string;
  retryJoin: RaftJoin[];
  /**
   * Raft timing: 1 is the production setting (fast elections); the server's default, 5, is
   * meant for slow development machines and makes a restarted cluster wait ~15 s for a leader.
   */
  performanceMultiplier?: number;
}

export interface ConsulStorage {
  type: "consul";
  /** Address of the local Consul client agent (the sidecar), e.g. 127.0.0.1:8501. */
  address: string;
  path: string;
  scheme: "https";
  tlsCaFile: string;
  tlsCertFile: string;
  tlsKeyFile: string;
}

export interface ServerConfig {
  flavour: Flavour;
  listener: ListenerConfig;
  /** The address clients are redirected to (this node's https API URL). */
  apiAddr: string;
  /** This node's cluster URL (https://host:clusterPort). */
  clusterAddr: string;
  storage: RaftStorage | ConsulStorage;
  /** The seal blocks (none for Shamir). The transit token is not here: see TRANSIT_TOKEN_ENV. */
  seals: SealStanza[];
  /** Vault only: true when the process may not lock memory (no IPC_LOCK). OpenBao has no mlock. */
  disableMlock?: boolean;
  ui?: boolean;
  logLevel?: "trace" | "debug" | "info" | "warn" | "error";
  /**
   * OpenBao only: the audit device to stdout (the container log), declared in the file,
   * the only way OpenBao (2.x) enables audit devices by default. Vault enables it through
   * its API instead (core/steps/audit.ts).
   */
  auditToStdout?: boolean;
  /**
   * OpenBao only: `unsafe_allow_api_audit_creation`, which lets the API enable audit
   * devices as Vault's does. For tests that prove that API call; never in a deployment.
   */
  allowApiAuditCreation?: boolean;
}

/** Path (and device name) of the audit device that writes to stdout. */
export const STDOUT_AUDIT_PATH = "stdout";

function stdoutAuditBlock(): HclBlock {
  return {
    type: "audit",
    labels: ["file", STDOUT_AUDIT_PATH],
    attrs: { description: "every request and response (HMAC'd secrets), to the container log" },
    blocks: [{ type: "options", attrs: { file_path: "stdout" } }],
  };
}

function storageBlock(s: RaftStorage | ConsulStorage): HclBlock {
  if (s.type === "raft") {
    return {
      type: "storage",
      labels: ["raft"],
      attrs: { path: s.path, node_id: s.nodeId, performance_multiplier: s.performanceMultiplier ?? 1 },
      blocks: s.retryJoin.map((j) => ({
        type: "retry_join",
        attrs: {
          leader_api_addr: j.leaderApiAddr,
          leader_ca_cert_file: j.leaderCaCertFile,
          leader_client_cert_file: j.leaderClientCertFile,
          leader_client_key_file: j.leaderClientKeyFile,
          leader_tls_servername: j.leaderTlsServerName,
        },
      })),
    };
  }
  // Consul's own storage parameters really are tls_ca_file/tls_cert_file/tls_key_file.
  return {
    type: "storage",
    labels: ["consul"],
    attrs: {
      address: s.address,
      path: s.path,
      scheme: s.scheme,
      tls_ca_file: s.tlsCaFile,
      tls_cert_file: s.tlsCertFile,
      tls_key_file: s.tlsKeyFile,
    },
  };
}

/** Renders the config file; throws InputError naming the key for anything the server would reject or ignore. */
export function renderServerConfig(c: ServerConfig): string {
  if (c.flavour === "openbao" && c.storage.type === "consul") {
    throw new InputError("storage.type", "OpenBao has no Consul storage backend: use raft with OpenBao, or the vault flavour with Consul");
  }
  if (c.flavour === "openbao" && c.disableMlock !== undefined) {
    throw new InputError("disableMlock", "OpenBao has no mlock and refuses disable_mlock = false: leave disableMlock unset for OpenBao");
  }
  if (c.listener.requireClientCert && !c.listener.tlsClientCaFile) {
    throw new InputError("listener.tlsClientCaFile", "requireClientCert needs the CA that issues the accepted client certificates");
  }
  for (const [key, url] of [
    ["apiAddr", c.apiAddr],
    ["clusterAddr", c.clusterAddr],
  ] as const) {
    if (!url.startsWith("https://")) throw new InputError(key, `"${url}" must be an https:// URL: TLS everywhere`);
  }
  for (const key of ["auditToStdout", "allowApiAuditCreation"] as const) {
    if (c.flavour === "vault" && c[key])
      throw new InputError(
        key,
        "is OpenBao's config-file audit management: with Vault, enable the audit device through the API (core/steps/audit.ts)",
      );
  }
  assertValidSeals(c.seals);
  const withRef = c.seals.findIndex((s) => s.tokenEnv);
  if (c.flavour === "vault" && withRef >= 0) {
    throw new InputError(
      `seals[${withRef}].tokenEnv`,
      "env:// token references in seal blocks are an OpenBao feature (verified with OpenBao only): with Vault, give both seals one token in VAULT_TRANSIT_SEAL_TOKEN",
    );
  }

  const listener: HclBlock = {
    type: "listener",
    labels: ["tcp"],
    attrs: {
      address: c.listener.address,
      cluster_address: c.listener.clusterAddress,
      tls_cert_file: c.listener.tlsCertFile,
      tls_key_file: c.listener.tlsKeyFile,
      tls_client_ca_file: c.listener.tlsClientCaFile,
      tls_require_and_verify_client_cert: c.listener.requireClientCert ? true : undefined,
    },
  };
  return renderFile(
    {
      ui: c.ui ?? false,
      disable_mlock: c.flavour === "vault" ? (c.disableMlock ?? false) : undefined,
      api_addr: c.apiAddr,
      cluster_addr: c.clusterAddr,
      log_level: c.logLevel,
      unsafe_allow_api_audit_creation: c.allowApiAuditCreation ? true : undefined,
    },
    [listener, storageBlock(c.storage), ...c.seals.map(sealBlock), ...(c.auditToStdout ? [stdoutAuditBlock()] : [])],
  );
}
