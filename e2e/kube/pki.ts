/**
 * Test equipment: each cluster's own PKI (openssl): a CA, the API server's serving
 * certificate, a client certificate per component and user, and the service-account key.
 * Made once per cluster folder; `down --purge` removes it.
 */
import * as fs from "fs";
import * as path from "path";
import { API_PORT, ClusterLayout, clusterDir, KUBERNETES_SERVICE_IP, nodeName } from "./layout";
import { run } from "./processes";

export const pkiDir = (c: ClusterLayout) => path.join(clusterDir(c), "pki");

/** The users the harness makes: who they are to RBAC. */
export const USERS = {
  admin: "/O=system:masters/CN=vmu-admin",
  "apiserver-kubelet-client": "/O=system:masters/CN=kube-apiserver-kubelet-client",
  kcm: "/CN=system:kube-controller-manager",
  scheduler: "/CN=system:kube-scheduler",
  proxy: "/CN=system:kube-proxy",
  coredns: "/CN=system:coredns",
  /** The stack programs' user: exactly the permissions of docs/deployer-rbac.yaml. */
  deployer: "/CN=vmu-deployer",
  /** The same permissions without pods/portforward (a bad-input check). */
  "deployer-no-portforward": "/CN=vmu-deployer-no-portforward",
};

function cert(dir: string, name: string, subject: string, san?: string): void {
  if (fs.existsSync(path.join(dir, `${name}.crt`))) return;
  const key = path.join(dir, `${name}.key`);
  const csr = path.join(dir, `${name}.csr`);
  const ext = path.join(dir, `${name}.ext`);
  run("openssl", ["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", subject]);
  fs.writeFileSync(
    ext,
    [
      "basicConstraints=CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth,clientAuth",
      ...(san ? [`subjectAltName=${san}`] : []),
    ].join("\n") + "\n",
  );
  run("openssl", [
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    path.join(dir, "ca.crt"),
    "-CAkey",
    path.join(dir, "ca.key"),
    "-CAcreateserial",
    "-out",
    path.join(dir, `${name}.crt`),
    "-days",
    "3650",
    "-extfile",
    ext,
  ]);
  fs.chmodSync(key, 0o600);
}

export function makePki(c: ClusterLayout): void {
  const dir = pkiDir(c);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!fs.existsSync(path.join(dir, "ca.crt"))) {
    run("openssl", [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      path.join(dir, "ca.key"),
      "-out",
      path.join(dir, "ca.crt"),
      "-days",
      "3650",
      "-subj",
      `/CN=vmu-e2e-${c.name}-ca`,
    ]);
    run("openssl", ["genrsa", "-out", path.join(dir, "sa.key"), "2048"]);
    run("openssl", ["rsa", "-in", path.join(dir, "sa.key"), "-pubout", "-out", path.join(dir, "sa.pub")]);
  }
  const names = ["kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost"].map(
    (n) => `DNS:${n}`,
  );
  cert(dir, "apiserver", "/CN=kube-apiserver", [...names, "IP:127.0.0.1", `IP:${c.machineIp}`, `IP:${KUBERNETES_SERVICE_IP}`].join(","));
  for (const [name, subject] of Object.entries(USERS)) cert(dir, name, subject);
  for (let n = 1; n <= c.nodes; n++)
    cert(dir, nodeName(c, n), `/O=system:nodes/CN=system:node:${nodeName(c, n)}`, `DNS:${nodeName(c, n)},IP:127.0.0.1,IP:${c.machineIp}`);
}

export const apiServerUrl = (c: ClusterLayout) => `https://${c.machineIp}:${API_PORT}`;

/** A kubeconfig for one user of one cluster, with file references (components run on this machine). */
export function componentKubeconfig(c: ClusterLayout, user: string): string {
  const dir = pkiDir(c);
  const file = path.join(dir, `${user}.kubeconfig`);
  fs.writeFileSync(
    file,
    [
      "apiVersion: v1",
      "kind: Config",
      `clusters: [{name: ${c.name}, cluster: {server: "${apiServerUrl(c)}", certificate-authority: "${dir}/ca.crt"}}]`,
      `users: [{name: ${user}, user: {client-certificate: "${dir}/${user}.crt", client-key: "${dir}/${user}.key"}}]`,
      `contexts: [{name: ${c.name}, context: {cluster: ${c.name}, user: ${user}}}]`,
      `current-context: ${c.name}`,
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
  return file;
}

/** The cluster, user and context entries of the shared kubeconfig, credentials inlined (the stacks pass it as text). */
export function kubeconfigEntries(c: ClusterLayout, users: { user: keyof typeof USERS; context: string }[]) {
  const dir = pkiDir(c);
  const b64 = (f: string) => fs.readFileSync(path.join(dir, f)).toString("base64");
  return {
    cluster: { name: c.name, cluster: { server: apiServerUrl(c), "certificate-authority-data": b64("ca.crt") } },
    users: users.map((u) => ({
      name: `${c.name}-${u.user}`,
      user: { "client-certificate-data": b64(`${u.user}.crt`), "client-key-data": b64(`${u.user}.key`) },
    })),
    contexts: users.map((u) => ({ name: u.context, context: { cluster: c.name, user: `${c.name}-${u.user}` } })),
  };
}
