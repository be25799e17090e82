/**
 * The shell the pods run, executed here with /bin/sh and a stub CLI in place of vault/bao:
 * the peer gate waits exactly until `status` succeeds, reads the peer from the seal files,
 * and lets a Shamir pod through at once; the server picks up the later seal file when present.
 */
import { spawn, spawnSync } from "child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { installMocks, one } from "./harness";
import { VaultModule, deployVault } from "./vault-fixtures";

let m: VaultModule;
let root: string;

beforeAll(async () => {
  await installMocks();
  m = await import("../../components/vault-cluster");
});
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "vault-pod-"));
  for (const d of ["bin", "vault/config", "vault/seal"]) mkdirSync(join(root, d), { recursive: true });
  // The stub CLI logs its arguments and TLS env, and fails until it has been called `okAfter` times.
  writeFileSync(
    join(root, "bin", "vault"),
    [
      "#!/bin/sh",
      `n=$(cat "${root}/calls" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "${root}/calls"`,
      `echo "$* | addr=$VAULT_ADDR | name=$VAULT_TLS_SERVER_NAME" >> "${root}/log"`,
      `echo "ca=$VAULT_CACERT cert=$VAULT_CLIENT_CERT key=$VAULT_CLIENT_KEY" >> "${root}/tls"`,
      `[ "$1" = server ] && exit 0`,
      `if [ "$n" -ge "$(cat "${root}/okAfter")" ] || [ "$VAULT_ADDR" = "$(cat "${root}/okAddr" 2>/dev/null)" ]; then exit 0; fi`,
      `if [ -s "${root}/switchTo" ]; then cp "${root}/switchTo" "${root}/vault/config/peer-address"; fi`,
      'echo "Error checking seal status: connection refused" >&2; exit 2',
    ].join("\n"),
  );
  chmodSync(join(root, "bin", "vault"), 0o755);
  writeFileSync(join(root, "okAfter"), "3");
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

async function scripts(): Promise<{ gate: string; server: string }> {
  await deployVault(m);
  const spec = one("StatefulSet", "vault").inputs.spec.template.spec;
  // Same script, rooted in the temporary directory instead of the pod's /vault.
  const relocate = (s: string) => s.split("/vault/").join(`${root}/vault/`);
  return { gate: relocate(spec.initContainers[0].command[2]), server: relocate(spec.containers[0].command[2]) };
}

function run(script: string, flags = "-c") {
  const r = spawnSync("/bin/sh", [flags, script], {
    env: { PATH: `${join(root, "bin")}:/usr/bin:/bin` },
    encoding: "utf8",
    timeout: 20_000,
  });
  const log = (() => {
    try {
      return readFileSync(join(root, "log"), "utf8").trim().split("\n");
    } catch {
      return [];
    }
  })();
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, log };
}

describe("pod scripts", () => {
  it("peer gate: waits while the peer's status fails, then lets the pod start; uses the seal's address and server name", async () => {
    const { gate } = await scripts();
    writeFileSync(join(root, "vault/config/peer-address"), "https://vault-unlock-active.vault-unlock.svc:8200");
    writeFileSync(join(root, "vault/config/peer-server-name"), "vault-unlock-active.vault-unlock.svc");
    const r = run(gate);
    expect(r.status).toBe(0);
    expect(r.log).toEqual(
      Array(3).fill("status | addr=https://vault-unlock-active.vault-unlock.svc:8200 | name=vault-unlock-active.vault-unlock.svc"),
    );
    expect(r.stdout).toContain("peer gate: transit peer https://vault-unlock-active.vault-unlock.svc:8200 is unsealed");
    expect(r.stderr).toContain("connection refused");
  });

  it("peer gate: a later seal in the optional ConfigMap wins over the born one", async () => {
    const { gate } = await scripts();
    writeFileSync(join(root, "okAfter"), "1");
    writeFileSync(join(root, "vault/config/peer-address"), "https://old:8200");
    writeFileSync(join(root, "vault/seal/peer-address"), "https://helper.example.org:8200");
    expect(run(gate).log).toEqual(["status | addr=https://helper.example.org:8200 | name="]);
  });

  it("peer gate: follows a seal re-pointed at the helper while it waits (the emergency switch)", async () => {
    const { gate } = await scripts();
    writeFileSync(join(root, "okAfter"), "100");
    writeFileSync(join(root, "okAddr"), "https://helper.example.org:8200");
    writeFileSync(join(root, "switchTo"), "https://helper.example.org:8200");
    writeFileSync(join(root, "vault/config/peer-address"), "https://vault-unlock-active.vault-unlock.svc:8200");
    const r = run(gate);
    expect(r.status).toBe(0);
    expect(r.log).toEqual([
      "status | addr=https://vault-unlock-active.vault-unlock.svc:8200 | name=",
      "status | addr=https://helper.example.org:8200 | name=",
    ]);
    expect(r.stdout.trim().split("\n")).toEqual([
      "peer gate: waiting until transit peer https://vault-unlock-active.vault-unlock.svc:8200 is unsealed",
      "peer gate: transit peer https://helper.example.org:8200 is unsealed",
    ]);
  });

  it("peer gate: checks the peer with the TLS files the seal names (the helper's own CA and client certificate)", async () => {
    const { gate } = await scripts();
    writeFileSync(join(root, "okAfter"), "1");
    writeFileSync(join(root, "vault/seal/peer-address"), "https://helper.example.org:8200");
    writeFileSync(join(root, "vault/seal/peer-ca-cert"), "/vault/transit-tls/emergency-ca.crt");
    writeFileSync(join(root, "vault/seal/peer-client-cert"), "/vault/transit-tls/emergency-tls.crt");
    writeFileSync(join(root, "vault/seal/peer-client-key"), "/vault/transit-tls/emergency-tls.key");
    expect(run(gate).status).toBe(0);
    expect(readFileSync(join(root, "tls"), "utf8").trim()).toBe(
      "ca=/vault/transit-tls/emergency-ca.crt cert=/vault/transit-tls/emergency-tls.crt key=/vault/transit-tls/emergency-tls.key",
    );
  });

  it("peer gate: a Shamir pod (no transit seal) passes at once without calling the CLI", async () => {
    const { gate } = await scripts();
    const r = run(gate);
    expect(r.status).toBe(0);
    expect(r.log).toEqual([]);
    expect(r.stdout).toContain("no transit seal configured");
  });

  it("server: a restarted container waits at the peer gate, with the seal's TLS files, before the server starts", async () => {
    const { server } = await scripts();
    writeFileSync(join(root, "vault/config/peer-address"), "https://vault-unlock.vault-unlock.svc:8200");
    writeFileSync(join(root, "vault/seal/seal.hcl"), "seal {}");
    const r = run(server, "-ec");
    expect(r.log).toEqual([
      ...Array(3).fill("status | addr=https://vault-unlock.vault-unlock.svc:8200 | name="),
      `server -config=${root}/vault/config/server.hcl -config=${root}/vault/seal/seal.hcl | addr= | name=`,
    ]);
    expect(r.stdout).toContain("peer gate: waiting until transit peer https://vault-unlock.vault-unlock.svc:8200 is unsealed");
  });

  it("server: a pod deleted while its server waits at the peer gate ends at once on SIGTERM", async () => {
    const { server } = await scripts();
    writeFileSync(join(root, "okAfter"), "100000");
    writeFileSync(join(root, "vault/config/peer-address"), "https://vault-unlock.vault-unlock.svc:8200");
    const child = spawn("/bin/sh", ["-ec", server], { env: { PATH: `${join(root, "bin")}:/usr/bin:/bin` }, stdio: "ignore" });
    await new Promise((r) => setTimeout(r, 1500));
    // As PID 1 in a pod the shell would ignore SIGTERM without a handler (here it would die of
    // the signal, exit code null): 143 shows the handler ran and ended the gate.
    child.kill("SIGTERM");
    const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
    expect(code).toBe(143);
    expect(readFileSync(join(root, "log"), "utf8")).not.toContain("server -config");
  });

  it("server: starts on server.hcl alone, and adds the later seal file once it exists", async () => {
    const { server } = await scripts();
    expect(run(server, "-ec").log).toEqual([`server -config=${root}/vault/config/server.hcl | addr= | name=`]);
    rmSync(join(root, "log"));
    writeFileSync(join(root, "vault/seal/seal.hcl"), "seal {}");
    expect(run(server, "-ec").log).toEqual([
      `server -config=${root}/vault/config/server.hcl -config=${root}/vault/seal/seal.hcl | addr= | name=`,
    ]);
  });
});
