/**
 * stateNow, the look a provider's diff takes at the servers: what read finds now when it
 * answers; the recorded state when the servers cannot be asked now (unreachable, sealed,
 * no answer in time: a preview without cluster access); the error itself when something
 * is wrong that the operator must fix (a refused token, RBAC, a bad kubeconfig).
 */
import * as net from "net";
import { KubernetesApiError } from "../../adapters/kubernetes/api-error";
import {
  AccessDeniedError,
  InputError,
  RequestAbortedError,
  TimeoutError,
  VaultApiError,
  VaultTlsError,
  VaultUnreachableError,
} from "../../core/errors";
import { NodeControl } from "../../core/nodes";
import { VaultClient } from "../../core/vault-client";
import { stateNow } from "../../providers/live-state";
import { registerLocalCluster } from "../../providers/node-access";
import { transitKeyBackupOps, TransitKeyBackupOutputs } from "../../providers/transit-key-backup";

const recorded = { inSync: true, version: 1 };

test("takes what read finds now", async () => {
  expect(await stateNow(async (id) => ({ id, props: { inSync: false, version: 2 } }), "id", recorded)).toEqual({
    inSync: false,
    version: 2,
  });
});

const failing = (e: Error) => async () => {
  throw e;
};

test.each<[string, Error]>([
  ["nothing answers", new VaultUnreachableError("https://vault-unlock-0:8200", "GET sys/health", "ECONNREFUSED", "is it running?")],
  ["the node is sealed", new VaultApiError("https://vault-unlock-0:8200", "GET transit/keys/autounseal", 503, ["Vault is sealed"])],
  ["waiting timed out", new TimeoutError("an active node", 1000, "all sealed")],
  ["the API server is not reached", new KubernetesApiError("read pod vault-unlock/vault-unlock-0", undefined, "ECONNREFUSED", "")],
  [
    "RBAC refuses the port-forward (a read-only kubeconfig's preview)",
    new AccessDeniedError("https://vault-unlock-0.vault-unlock.port-forward:8200", "GET /v1/sys/health", "403"),
  ],
])("keeps the recorded state when %s", async (_what, e) => {
  expect(await stateNow(failing(e), "id", recorded)).toBe(recorded);
});

test.each<[string, Error]>([
  [
    "a token the server refuses",
    new VaultApiError("https://vault-unlock-0:8200", "POST auth/token/lookup-accessor", 403, ["permission denied"]),
  ],
  ["RBAC refusing a read", new KubernetesApiError("read ConfigMap vault/vault-seal", 403, "forbidden", "grant get on configmaps")],
  [
    "a certificate that does not match",
    new VaultTlsError("https://vault-unlock-0:8200", "GET sys/health", "ERR_TLS_CERT_ALTNAME_INVALID", "check tls.serverName"),
  ],
  ["a kubeconfig that cannot be read", new InputError("kubeconfig", "is not a readable kubeconfig")],
])("fails with the error itself on %s", async (_what, e) => {
  await expect(stateNow(failing(e), "id", recorded)).rejects.toBe(e);
});

test("keeps the recorded state when read does not answer in time", async () => {
  const never = () => new Promise<never>(() => undefined);
  expect(await stateNow(never, "id", recorded, 20, 20)).toBe(recorded);
});

/** Rejects with "no <what> within <ms> ms" unless `p` settles first: a cap on a wait for an event, not a measurement. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const cap = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
  });
  return Promise.race([p, cap]).finally(() => clearTimeout(timer));
}

/** A TCP server on 127.0.0.1 that accepts connections and never answers: a server that hangs (no TLS handshake, no HTTP). */
async function silentServer() {
  const sockets: net.Socket[] = [];
  let connected!: () => void;
  const firstConnection = new Promise<void>((resolve) => (connected = resolve));
  const server = net.createServer((socket) => {
    // Read and ignore what arrives (the TLS hello): a socket that is never read never sees its peer's end.
    socket.resume();
    sockets.push(socket);
    connected();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const closed = (s: net.Socket) => new Promise<void>((resolve) => (s.destroyed ? resolve() : s.once("close", () => resolve())));
  return {
    address: `https://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    firstConnection,
    /** Resolves once every connection made to it has ended (the client closed its side). */
    allClosed: () => Promise.all(sockets.map(closed)),
    stop: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe("a look that does not answer in time is cancelled", () => {
  let silent: Awaited<ReturnType<typeof silentServer>>;
  beforeEach(async () => {
    silent = await silentServer();
  });
  afterEach(() => silent.stop());

  // The clients' own timeout is far beyond the caps below: only the look's cancellation can close the connection.
  const client = (token?: string) => new VaultClient({ address: silent.address, token, timeoutMs: 120_000 });

  test("the requests of a read that makes its own client are aborted when the timeout wins", async () => {
    const read = async (id: string) => {
      await client().health();
      return { id, props: { inSync: false, version: 2 } };
    };
    expect(await stateNow(read, "id", recorded, 300)).toBe(recorded);
    await within(silent.firstConnection, 5_000, "connection from the read");
    await within(silent.allClosed(), 5_000, "end of the read's connection after the timeout");
  });

  test("a client's own signal aborts its request in flight with RequestAbortedError", async () => {
    const abort = new AbortController();
    const asked = new VaultClient({ address: silent.address, timeoutMs: 120_000, signal: abort.signal }).health();
    await within(silent.firstConnection, 5_000, "connection from the client");
    abort.abort(new Error("given up"));
    await expect(asked).rejects.toThrow(RequestAbortedError);
    await within(silent.allClosed(), 5_000, "end of the client's connection after the abort");
  });

  test("a provider's read (TransitKeyBackup's, through its node access) is aborted and has finished when stateNow returns", async () => {
    // The cluster's one node is the silent server: the read's node look hangs on it.
    const nodes: NodeControl = {
      name: "silent",
      nodeIds: () => ["silent-0"],
      client: (_id, token) => client(token),
      appliedSeal: async () => ({ stanzas: [] }),
      applySeal: async () => undefined,
      runningSealDigest: async () => undefined,
      saveInitRecord: async () => undefined,
      loadInitRecord: async () => undefined,
      forgetInitRecord: async () => undefined,
      initRecordLocation: () => "nowhere",
      restart: async () => {
        throw new Error("not restarted in this test");
      },
    };
    const unregister = registerLocalCluster("silent", nodes);
    try {
      const olds: TransitKeyBackupOutputs = {
        version: 1,
        nodes: { kind: "local", cluster: "silent" },
        token: "not-a-token",
        mountPath: "transit/",
        keyName: "autounseal",
        backup: "not-a-backup",
        keyVersion: 1,
        latestVersion: 1,
      };
      let finished = false;
      const read = (id: string, props: TransitKeyBackupOutputs) => transitKeyBackupOps.read!(id, props).finally(() => (finished = true));
      expect(await stateNow(read, "id", olds, 300)).toBe(olds);
      // Cancelled, not left running next to the update that may follow.
      expect(finished).toBe(true);
      await within(silent.firstConnection, 5_000, "connection from the read");
      await within(silent.allClosed(), 5_000, "end of the read's connection after the timeout");
    } finally {
      unregister();
    }
  });
});

test("keeps the recorded state when read returns nothing", async () => {
  expect(await stateNow(async (id) => ({ id }), "id", recorded)).toBe(recorded);
});
