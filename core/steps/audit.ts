/**
 * The audit device to stdout that the article enabled at bootstrap: every request and
 * response, secrets HMAC'd, in the container log where the cluster's log shipping already is.
 *
 * Vault enables audit devices through its API (`sys/audit/<path>`), which needs an unsealed
 * node and a root (sudo) token. OpenBao 2.x refuses that API by default and reads them from
 * its config file (renderServerConfig `auditToStdout`); there this step only confirms the
 * declared device is active. Idempotent either way.
 */
import { VaultApiError } from "../errors";
import { STDOUT_AUDIT_PATH } from "../render/server-config";
import { VaultClient } from "../vault-client";

type AuditTable = Record<string, { type: string; options?: Record<string, string> }>;

/** "present": the device already writes to stdout; "enabled": this call enabled it. */
export async function enableStdoutAudit(admin: VaultClient): Promise<"present" | "enabled"> {
  const res = await admin.read<AuditTable & { data?: AuditTable }>("sys/audit");
  const table: AuditTable = res.body.data ?? res.body;
  const existing = table[`${STDOUT_AUDIT_PATH}/`];
  if (existing) {
    if (existing.type !== "file" || existing.options?.file_path !== "stdout") {
      throw new Error(
        `${admin.address} has an audit device at ${STDOUT_AUDIT_PATH}/ that does not write to stdout (type ${existing.type}, file_path ${existing.options?.file_path}): disable it or move it to another path`,
      );
    }
    return "present";
  }
  try {
    await admin.write(`sys/audit/${STDOUT_AUDIT_PATH}`, {
      type: "file",
      description: "every request and response (HMAC'd secrets), to the container log",
      options: { file_path: "stdout" },
    });
  } catch (e) {
    if (e instanceof VaultApiError && e.mentions("declarative")) {
      throw new Error(
        `${admin.address} (OpenBao) enables audit devices only from its config file, and its file declares none: render the server config with auditToStdout (VaultCluster does for OpenBao) and restart the pods`,
        { cause: e },
      );
    }
    throw e;
  }
  return "enabled";
}
