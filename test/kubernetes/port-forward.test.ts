/**
 * The port-forward tunnel and the Vault client that uses it, against a real `bao` server.
 *
 * What stands in: client-node's PortForward (a WebSocket through the API server to the
 * kubelet) is replaced by a direct TCP connection from the tunnel to the server's port, which
 * is what the kubelet's end of a port-forward does inside the pod. Everything else is real:
 * the local listener, the Vault client, TLS verified against the CA and the name in the
 * server's certificate, the server.
 *
 * NOT verified here (no Kubernetes cluster): the WebSocket hop itself (client-node's
 * framing, the API server's and kubelet's port-forward support, RBAC on pods/portforward).
 */
import * as net from "net";
import { EventEmitter } from "events";
import { Readable, Writable } from "stream";
import type { PortForward } from "@kubernetes/client-node";
import { LocalCluster } from "../../adapters/local/local-cluster";
import { PodCannotStartError } from "../../adapters/kubernetes/pod-status";
import { ForwardedVaultClient, PodTunnel } from "../../adapters/kubernetes/port-forward";
import { AccessDeniedError, VaultTlsError, VaultUnreachableError } from "../../core/errors";
import { waitFor } from "../../core/wait";
import { Lab, newLab } from "../support/servers";
import * as fs from "fs";

jest.setTimeout(60_000);

let lab: Lab;
let cluster: LocalCluster;
let caPem: string;

beforeAll(async () => {
  lab = await newLab("k8s-tunnel");
  cluster = await lab.cluster({ name: "vault-unlock", size: 1, seal: { stanzas: [] } });
  await cluster.startAll();
  caPem = fs.readFileSync(cluster.caFile, "utf8");
});
afterAll(() => lab?.destroy());

/** The pod's end of a port-forward: a TCP connection to the server, as the kubelet makes. */
function directForward(targetPort: () => number, opened: string[]): Pick<PortForward, "portForward"> {
  return {
    async portForward(namespace: string, pod: string, ports: number[], output: Writable, _err: Writable | null, input: Readable) {
      opened.push(`${namespace}/${pod}:${ports[0]}`);
      const conn = net.connect(targetPort(), "127.0.0.1");
      await new Promise<void>((resolve, reject) => conn.once("connect", resolve).once("error", reject));
      const stream = new EventEmitter() as EventEmitter & { close(): void };
      stream.close = () => conn.destroy();
      conn.on("close", () => stream.emit("close"));
      conn.on("error", () => conn.destroy());
      input.pipe(conn);
      conn.pipe(output);
      return stream as never;
    },
  };
}

const serverPort = () => Number(new URL(cluster.address(cluster.nodeIds()[0])).port);

describe("a pod's API through the port-forward tunnel", () => {
  test("answers with TLS verified against the pods' CA and certificate name; messages name the pod", async () => {
    const opened: string[] = [];
    const tunnel = new PodTunnel(directForward(serverPort, opened), "vault-unlock", "vault-unlock-0", 8200);
    try {
      const client = new ForwardedVaultClient(tunnel, { tls: { caPem, serverName: "vault-unlock" } });
      expect(client.address).toBe("https://vault-unlock-0.vault-unlock.port-forward:8200");
      expect((await client.sealStatus()).initialized).toBe(false);
      // One port-forward stream per connection: the pod that exists now is the one reached.
      await client.withToken("some-token").health();
      expect(opened).toEqual(["vault-unlock/vault-unlock-0:8200", "vault-unlock/vault-unlock-0:8200"]);
      expect(client.withToken("t").address).toBe(client.address);
    } finally {
      await tunnel.close();
    }
  });

  test("a certificate that does not name the expected server is refused, and the error names the pod", async () => {
    const tunnel = new PodTunnel(directForward(serverPort, []), "vault-unlock", "vault-unlock-0", 8200);
    try {
      const client = new ForwardedVaultClient(tunnel, { tls: { caPem, serverName: "vault" } });
      const e = await client.sealStatus().then(
        () => undefined,
        (err: Error) => err,
      );
      expect(e).toBeInstanceOf(VaultTlsError);
      expect(e?.message).toContain(
        'GET /v1/sys/seal-status on https://vault-unlock-0.vault-unlock.port-forward:8200: TLS failed (ERR_TLS_CERT_ALTNAME_INVALID): the server\'s certificate does not name "vault"',
      );
      expect(e?.message).not.toContain("https://127.0.0.1:");
    } finally {
      await tunnel.close();
    }
  });

  test("a port-forward RBAC refuses gives an access-denied error with the reason, which a wait does not retry", async () => {
    let attempts = 0;
    const refusing: Pick<PortForward, "portForward"> = {
      portForward: () => {
        attempts++;
        return Promise.reject(new Error("Unexpected server response: 403"));
      },
    };
    const tunnel = new PodTunnel(refusing, "vault-unlock", "vault-unlock-0", 8200);
    try {
      const client = new ForwardedVaultClient(tunnel, { tls: { caPem, serverName: "vault-unlock" } });
      const e = await waitFor("vault-unlock-0 to answer", async () => ({ done: Boolean(await client.sealStatus()), state: "" }), {
        timeoutMs: 10_000,
      }).then(
        () => undefined,
        (err: Error) => err,
      );
      expect(e).toBeInstanceOf(AccessDeniedError);
      expect(attempts).toBe(1);
      expect(e?.message).toContain("GET /v1/sys/seal-status: the way to https://vault-unlock-0.vault-unlock.port-forward:8200 is refused");
      expect(e?.message).toContain(
        "the API server did not open a port-forward to pod vault-unlock/vault-unlock-0: Unexpected server response: 403 (the kubeconfig's user needs create on pods/portforward)",
      );
    } finally {
      await tunnel.close();
    }
  });

  test("a pod that cannot start replaces the bare unreachable error, and a wait stops at once with it", async () => {
    const refusing: Pick<PortForward, "portForward"> = {
      portForward: () => Promise.reject(new Error("pod vault-unlock-0 is not running")),
    };
    const tunnel = new PodTunnel(refusing, "vault-unlock", "vault-unlock-0", 8200);
    let diagnosed = 0;
    const cannotStart = new PodCannotStartError(
      "pod vault-unlock/vault-unlock-0",
      ["vault: ErrImagePull"],
      "pod vault-unlock/vault-unlock-0 phase Pending",
      [],
    );
    try {
      const client = new ForwardedVaultClient(tunnel, { tls: { caPem, serverName: "vault-unlock" } }, async () => {
        diagnosed++;
        return cannotStart;
      });
      const e = await waitFor(
        "vault-unlock-0 to answer",
        async () => ({ done: Boolean(await client.withToken("t").sealStatus()), state: "" }),
        { timeoutMs: 10_000 },
      ).then(
        () => undefined,
        (err: Error) => err,
      );
      expect(e).toBe(cannotStart);
      expect(diagnosed).toBe(1);
      expect(e?.message).toBe(
        "pod vault-unlock/vault-unlock-0 cannot start (vault: ErrImagePull): pod vault-unlock/vault-unlock-0 phase Pending.",
      );
    } finally {
      await tunnel.close();
    }
  });

  test("the kubelet's error channel (nothing listens on the pod's port) is reported", async () => {
    const kubeletError: Pick<PortForward, "portForward"> = {
      async portForward(_ns, _pod, _ports, _out, err) {
        err?.write(
          Buffer.from(
            "error forwarding port 8200 to pod 1f2e, uid : failed to execute portforward in network namespace: connection refused",
          ),
        );
        const stream = new EventEmitter() as EventEmitter & { close(): void };
        stream.close = () => stream.emit("close");
        return stream as never;
      },
    };
    const tunnel = new PodTunnel(kubeletError, "vault-unlock", "vault-unlock-0", 8200);
    try {
      const e = await new ForwardedVaultClient(tunnel, { tls: { caPem, serverName: "vault-unlock" } }).sealStatus().then(
        () => undefined,
        (err: Error) => err,
      );
      expect(e).toBeInstanceOf(VaultUnreachableError);
      expect(e?.message).toContain(
        "the port-forward to pod vault-unlock/vault-unlock-0 port 8200 failed: error forwarding port 8200 to pod 1f2e",
      );
    } finally {
      await tunnel.close();
    }
  });

  test("close() stops the local listener; the next request opens a new one", async () => {
    const tunnel = new PodTunnel(directForward(serverPort, []), "vault-unlock", "vault-unlock-0", 8200);
    const client = new ForwardedVaultClient(tunnel, { tls: { caPem, serverName: "vault-unlock" } });
    await client.sealStatus();
    const first = await tunnel.localPort();
    await tunnel.close();
    const refused = await new Promise<string>((resolve) => {
      const s = net.connect(first, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        resolve("connected");
      });
      s.once("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
    });
    expect(refused).toBe("ECONNREFUSED");
    await client.sealStatus();
    await tunnel.close();
  });
});
