/**
 * The Kubernetes adapter's init record store, the requests it sends: through the real
 * client-node code to a loopback HTTP listener that records them and answers as scripted.
 * Checked: method, path, the Secret's name, type and data, the handling of 409 and 404.
 * Not checked here (no cluster): what a real API server and its RBAC do with them (the e2e run).
 */
import * as http from "http";
import * as net from "net";
import { KubernetesApiError } from "../../adapters/kubernetes/api-error";
import { KubernetesCluster } from "../../adapters/kubernetes/kubernetes-cluster";
import { ACCESS } from "./fixtures";

interface Seen {
  method?: string;
  url?: string;
  body: string;
}

const RECORD = JSON.stringify({ format: 1, kind: "recovery", keys: ["a2V5"], rootToken: "s.root" });
const SECRETS = "/api/v1/namespaces/vault-unlock/secrets";
const NAME = "vault-unlock-init-record";

/** Runs `fn` against an adapter whose API server answers each request with the next of `answers`. */
async function withApiServer(answers: { status: number; body?: object }[], fn: (c: KubernetesCluster) => Promise<void>): Promise<Seen[]> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      seen.push({ method: req.method, url: req.url, body });
      const a = answers.shift() ?? { status: 500 };
      res.writeHead(a.status, { "content-type": "application/json" });
      res.end(JSON.stringify(a.body ?? { kind: "Status", apiVersion: "v1", code: a.status }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  const cluster = new KubernetesCluster({ ...ACCESS, kubeconfig: ACCESS.kubeconfig.replace("https://203.0.113.10:6443", url) });
  try {
    await fn(cluster);
  } finally {
    await cluster.close();
    await new Promise((r) => server.close(r));
  }
  return seen;
}

const secretBody = (seen: Seen) =>
  JSON.parse(seen.body) as { metadata: { name: string; namespace: string }; type: string; data: Record<string, string> };

test("the record is named after the StatefulSet, in its namespace", async () => {
  await withApiServer([], async (c) => expect(c.initRecordLocation()).toBe(`Secret vault-unlock/${NAME}`));
});

test("saving creates an Opaque Secret holding the record, base64 under `record`", async () => {
  const seen = await withApiServer([{ status: 201, body: { kind: "Secret" } }], (c) => c.saveInitRecord(RECORD));
  expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([`POST ${SECRETS}`]);
  const body = secretBody(seen[0]);
  expect({ name: body.metadata.name, namespace: body.metadata.namespace, type: body.type }).toEqual({
    name: NAME,
    namespace: "vault-unlock",
    type: "Opaque",
  });
  expect(Buffer.from(body.data.record, "base64").toString("utf8")).toBe(RECORD);
});

test("saving over a record left by an earlier cluster of that name replaces it", async () => {
  const seen = await withApiServer([{ status: 409 }, { status: 200, body: { kind: "Secret" } }], (c) => c.saveInitRecord(RECORD));
  expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([`POST ${SECRETS}`, `PUT ${SECRETS}/${NAME}`]);
  expect(Buffer.from(secretBody(seen[1]).data.record, "base64").toString("utf8")).toBe(RECORD);
});

test("a refused save fails naming the Secret, and never carries the record", async () => {
  let err: Error | undefined;
  await withApiServer([{ status: 403 }], async (c) => {
    err = await c.saveInitRecord(RECORD).then(
      () => undefined,
      (e: Error) => e,
    );
  });
  expect(err).toBeInstanceOf(KubernetesApiError);
  expect(err?.message).toContain(`create Secret vault-unlock/${NAME}`);
  expect(err?.message).not.toContain("s.root");
});

test("loading reads the Secret and decodes the record; no Secret is no record", async () => {
  const data = { record: Buffer.from(RECORD).toString("base64") };
  let found: (string | undefined)[] = [];
  const seen = await withApiServer([{ status: 200, body: { kind: "Secret", data } }, { status: 404 }], async (c) => {
    found = [await c.loadInitRecord(), await c.loadInitRecord()];
  });
  expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([`GET ${SECRETS}/${NAME}`, `GET ${SECRETS}/${NAME}`]);
  expect(found).toEqual([RECORD, undefined]);
});

test("forgetting deletes that Secret; one already gone is no error", async () => {
  const seen = await withApiServer([{ status: 200, body: { kind: "Status" } }, { status: 404 }], async (c) => {
    await c.forgetInitRecord();
    await c.forgetInitRecord();
  });
  expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([`DELETE ${SECRETS}/${NAME}`, `DELETE ${SECRETS}/${NAME}`]);
});
