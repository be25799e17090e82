/**
 * Test equipment: brings the two Kubernetes clusters of layout.ts up and down on this
 * machine, from the pinned binaries (build-binaries.sh) and Debian's containerd, runc and
 * CNI plugins. `up` twice is a no-op; `up` after a crash removes what is left and starts
 * again; `down` stops only the processes it recorded, then removes the mounts, network
 * namespaces, cgroups and (with purge) the state it made.
 */
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { buildImages } from "./images";
import {
  API_PORT,
  CACHE_DIR,
  IMAGES,
  cgroupRoot,
  CLUSTERS,
  ClusterLayout,
  clusterDir,
  DNS_SERVICE_IP,
  E2E_DIR,
  E2E_ZONE,
  HELPER_HOST,
  HOST_LINK_IN_NS,
  KUBE_DIR,
  KUBECONFIG_FILE,
  kubeletPorts,
  netnsPath,
  nodeDir,
  nodeName,
  ROOT,
  SERVICE_CIDR,
  VERSIONS,
  WAN_LINK,
} from "./layout";
import { apiServerUrl, componentKubeconfig, kubeconfigEntries, makePki, pkiDir } from "./pki";
import { alive, forgetAll, pidsWithCmdline, recorded, run, sleep, start, stop, waitFor } from "./processes";

const say = (line: string) => process.stdout.write(`[kube] ${line}\n`);

/** The folder of pinned binaries, built now when the cache has none for these versions. */
export function binaries(): string {
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  say(`binaries: ${CACHE_DIR} (a cold build takes about 10 minutes)`);
  return run(path.join(__dirname, "build-binaries.sh"), [CACHE_DIR, VERSIONS.kubernetes, VERSIONS.etcd, VERSIONS.coredns])
    .trim()
    .split("\n")
    .pop()!;
}

/** The folder of pinned binaries when they are built already. */
export function builtBinaries(): string | undefined {
  const dir = path.join(CACHE_DIR, `k8s-${VERSIONS.kubernetes}-etcd-${VERSIONS.etcd}-coredns-${VERSIONS.coredns}`);
  return fs.existsSync(path.join(dir, "kubectl")) ? dir : undefined;
}

/** Refusals before anything is touched: each says what to do. */
export function checkPrerequisites(): void {
  if (process.getuid?.() !== 0)
    throw new Error("the Kubernetes harness must run as root (it makes network namespaces, mounts and cgroups): sudo npm run kube -- up");
  const missing = ["containerd", "runc", "ctr", "conntrack", "iptables", "nsenter", "openssl", "ip", "tar"].filter(
    (c) => !run("sh", ["-c", `command -v ${c}`], { allowFail: true }).trim(),
  );
  if (!fs.existsSync("/usr/lib/cni/bridge")) missing.push("CNI plugins (/usr/lib/cni/bridge)");
  if (missing.length)
    throw new Error(
      `missing on this machine: ${missing.join(", ")}: apt-get install containerd runc containernetworking-plugins conntrack socat busybox-static iptables`,
    );
  const v1 = ["cpu", "cpuacct", "cpuset", "memory", "pids", "devices", "freezer", "blkio"].filter(
    (h) => !fs.existsSync(`/sys/fs/cgroup/${h}`),
  );
  if (v1.length)
    throw new Error(
      `the cgroup v1 hierarchies ${v1.join(", ")} are missing under /sys/fs/cgroup: the kubelets here run with cgroupDriver cgroupfs on cgroup v1 (mount them, or run on a machine of this kind)`,
    );
  const routes = run("ip", ["-4", "route", "show"]);
  for (const c of CLUSTERS) {
    if (routes.includes(`${c.hostIp.replace(/\.\d+$/, ".0")}/30`) && !fs.existsSync(netnsPath(c))) {
      throw new Error(
        `${c.hostIp}/30 is already routed on this machine by something else: the harness's addresses are in e2e/kube/layout.ts`,
      );
    }
  }
}

export interface ClusterHealth {
  name: string;
  processes: number;
  dead: string[];
  apiReady: boolean;
  readyNodes: number;
  nodes: number;
}

export function kubectl(bin: string, c: ClusterLayout, args: string[], input?: string): string {
  return run(path.join(bin, "kubectl"), ["--kubeconfig", path.join(pkiDir(c), "admin.kubeconfig"), ...args], { input });
}

export function health(bin: string, c: ClusterLayout): ClusterHealth {
  const procs = recorded(clusterDir(c));
  const h: ClusterHealth = {
    name: c.name,
    processes: procs.length,
    dead: procs.filter((p) => !alive(p)).map((p) => p.name),
    apiReady: false,
    readyNodes: 0,
    nodes: c.nodes,
  };
  if (!procs.length || h.dead.length || !fs.existsSync(path.join(bin, "kubectl"))) return h;
  try {
    h.apiReady = kubectl(bin, c, ["get", "--raw", "/readyz", "--request-timeout=3s"]).trim() === "ok";
    const nodes = JSON.parse(kubectl(bin, c, ["get", "nodes", "-o", "json"])) as {
      items: { status: { conditions: { type: string; status: string }[] } }[];
    };
    h.readyNodes = nodes.items.filter((n) => n.status.conditions.some((x) => x.type === "Ready" && x.status === "True")).length;
  } catch {
    // reported as not ready
  }
  return h;
}

/** Every cluster's health. */
export const clustersHealth = (bin: string) => CLUSTERS.map((c) => health(bin, c));

const healthy = (h: ClusterHealth) => h.processes > 0 && !h.dead.length && h.apiReady && h.readyNodes === h.nodes;

/** Both clusters running and every node Ready; builds and starts what is missing. */
export async function up(baoBin: string): Promise<void> {
  checkPrerequisites();
  const bin = binaries();
  const images = buildImages(baoBin);
  const states = CLUSTERS.map((c) => health(bin, c));
  if (states.every(healthy)) {
    writeKubeconfig();
    say(`already up; kubeconfig ${KUBECONFIG_FILE}`);
    return;
  }
  if (CLUSTERS.some((c) => recorded(clusterDir(c)).length || fs.existsSync(netnsPath(c)))) {
    say("found a stopped or partial run: removing it first");
    await down(true);
  }
  const t0 = Date.now();
  try {
    for (const c of CLUSTERS) machineNetwork(c);
    wanLink();
    // allSettled: a failure of one cluster must not start the clean-up while the other still starts processes.
    const started = await Promise.allSettled(CLUSTERS.map((c) => startCluster(bin, c, images)));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
    writeKubeconfig();
  } catch (e) {
    say(`up failed: ${(e as Error).message}; stopping what was started (logs stay in ${KUBE_DIR}/*/logs)`);
    await down(false);
    throw e;
  }
  say(`up in ${((Date.now() - t0) / 1000).toFixed(1)} s; kubeconfig ${KUBECONFIG_FILE} (contexts primary, helper; *-admin)`);
}

function machineNetwork(c: ClusterLayout): void {
  run("ip", ["netns", "add", c.netns]);
  run("ip", ["link", "add", c.hostLink, "type", "veth", "peer", "name", HOST_LINK_IN_NS, "netns", c.netns]);
  run("ip", ["addr", "add", `${c.hostIp}/30`, "dev", c.hostLink]);
  run("ip", ["link", "set", c.hostLink, "up"]);
  const ns = netnsPath(c);
  run("ip", ["addr", "add", `${c.machineIp}/30`, "dev", HOST_LINK_IN_NS], { netns: ns });
  run("ip", ["link", "set", HOST_LINK_IN_NS, "up"], { netns: ns });
  run("ip", ["link", "set", "lo", "up"], { netns: ns });
  // Per namespace: pods route through the machine, and bridged traffic passes kube-proxy's rules.
  run("sysctl", ["-qw", "net.ipv4.ip_forward=1", "net.bridge.bridge-nf-call-iptables=1"], { netns: ns });
  // The machine has no default route (nothing may leave it), so a connection of its own to a
  // ClusterIP would fail its first route lookup before kube-proxy's DNAT; through lo, what
  // no Service DNATs goes nowhere.
  run("ip", ["route", "add", SERVICE_CIDR, "dev", "lo"], { netns: ns });
}

/** The link between the two machines: the helper's NodePort is reached on its address there. */
function wanLink(): void {
  const [a, b] = CLUSTERS;
  run("ip", ["link", "add", "vmu-wan-a", "netns", a.netns, "type", "veth", "peer", "name", "vmu-wan-b", "netns", b.netns]);
  for (const [c, dev] of [
    [a, "vmu-wan-a"],
    [b, "vmu-wan-b"],
  ] as const) {
    run("ip", ["link", "set", dev, "name", WAN_LINK], { netns: netnsPath(c) });
    run("ip", ["addr", "add", `${c.wanIp}/30`, "dev", WAN_LINK], { netns: netnsPath(c) });
    run("ip", ["link", "set", WAN_LINK, "up"], { netns: netnsPath(c) });
  }
  // Replies to the primary's pods (their source address is kept: externalTrafficPolicy Local).
  run("ip", ["route", "add", `${a.podPrefix}.0.0/16`, "via", a.wanIp], { netns: netnsPath(b) });
}

async function startCluster(bin: string, c: ClusterLayout, images: string[]): Promise<void> {
  const dir = clusterDir(c);
  const ns = netnsPath(c);
  const logs = path.join(dir, "logs");
  fs.mkdirSync(dir, { recursive: true });
  makePki(c);
  componentKubeconfig(c, "admin");
  const p = pkiDir(c);
  const kc = (user: string) => componentKubeconfig(c, user);
  const inNs = (cmd: string, args: string[]) => () => run(cmd, args, { netns: ns, allowFail: true }).trim() !== "";
  const k = `${bin}/`;

  start(
    dir,
    "etcd",
    [
      `${k}etcd`,
      "--name",
      c.name,
      "--data-dir",
      path.join(dir, "etcd"),
      "--listen-client-urls",
      "http://127.0.0.1:2379",
      "--advertise-client-urls",
      "http://127.0.0.1:2379",
      "--listen-peer-urls",
      "http://127.0.0.1:2380",
      "--initial-advertise-peer-urls",
      "http://127.0.0.1:2380",
      "--initial-cluster",
      `${c.name}=http://127.0.0.1:2380`,
      "--listen-metrics-urls",
      "http://127.0.0.1:2381",
    ],
    ns,
  );
  await waitFor(`${c.name} etcd`, 60_000, inNs("curl", ["-sf", "http://127.0.0.1:2381/health"]), `${logs}/etcd.log`);

  start(
    dir,
    "kube-apiserver",
    [
      `${k}kube-apiserver`,
      "--etcd-servers=http://127.0.0.1:2379",
      `--bind-address=${c.machineIp}`,
      `--secure-port=${API_PORT}`,
      `--advertise-address=${c.machineIp}`,
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      `--client-ca-file=${p}/ca.crt`,
      `--tls-cert-file=${p}/apiserver.crt`,
      `--tls-private-key-file=${p}/apiserver.key`,
      `--kubelet-client-certificate=${p}/apiserver-kubelet-client.crt`,
      `--kubelet-client-key=${p}/apiserver-kubelet-client.key`,
      "--kubelet-preferred-address-types=InternalIP,Hostname",
      `--service-account-key-file=${p}/sa.pub`,
      `--service-account-signing-key-file=${p}/sa.key`,
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      "--authorization-mode=Node,RBAC",
      "--enable-admission-plugins=NodeRestriction",
      "--allow-privileged=false",
      "--profiling=false",
    ],
    ns,
  );
  await waitFor(
    `${c.name} kube-apiserver`,
    120_000,
    () => kubectl(bin, c, ["get", "--raw", "/readyz"]).trim() === "ok",
    `${logs}/kube-apiserver.log`,
  );

  start(
    dir,
    "kube-controller-manager",
    [
      `${k}kube-controller-manager`,
      `--kubeconfig=${kc("kcm")}`,
      `--authentication-kubeconfig=${kc("kcm")}`,
      `--authorization-kubeconfig=${kc("kcm")}`,
      "--bind-address=127.0.0.1",
      `--service-account-private-key-file=${p}/sa.key`,
      `--root-ca-file=${p}/ca.crt`,
      `--cluster-signing-cert-file=${p}/ca.crt`,
      `--cluster-signing-key-file=${p}/ca.key`,
      "--use-service-account-credentials=true",
      "--leader-elect=false",
    ],
    ns,
  );
  start(
    dir,
    "kube-scheduler",
    [
      `${k}kube-scheduler`,
      `--kubeconfig=${kc("scheduler")}`,
      `--authentication-kubeconfig=${kc("scheduler")}`,
      `--authorization-kubeconfig=${kc("scheduler")}`,
      "--bind-address=127.0.0.1",
      "--leader-elect=false",
    ],
    ns,
  );
  await waitFor(
    `${c.name} kube-controller-manager`,
    60_000,
    inNs("curl", ["-skf", "https://127.0.0.1:10257/healthz"]),
    `${logs}/kube-controller-manager.log`,
  );
  await waitFor(
    `${c.name} kube-scheduler`,
    60_000,
    inNs("curl", ["-skf", "https://127.0.0.1:10259/healthz"]),
    `${logs}/kube-scheduler.log`,
  );

  for (let n = 1; n <= c.nodes; n++) await startNode(bin, c, n, images);
  for (let n = 1; n <= c.nodes; n++) {
    await waitFor(
      `${nodeName(c, n)} Ready`,
      120_000,
      () =>
        kubectl(bin, c, ["get", "node", nodeName(c, n), "-o", 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']).trim() ===
        "True",
      `${logs}/kubelet-${nodeName(c, n)}.log`,
    );
  }

  fs.writeFileSync(
    path.join(dir, "kube-proxy.yaml"),
    yaml.dump({
      apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
      kind: "KubeProxyConfiguration",
      clientConnection: { kubeconfig: kc("proxy") },
      mode: "iptables",
      clusterCIDR: `${c.podPrefix}.0.0/16`,
      hostnameOverride: nodeName(c, 1),
      bindAddress: c.machineIp,
      metricsBindAddress: "127.0.0.1:10249",
      healthzBindAddress: "127.0.0.1:10256",
      conntrack: { maxPerCore: 0 },
    }),
  );
  start(dir, "kube-proxy", [`${k}kube-proxy`, `--config=${path.join(dir, "kube-proxy.yaml")}`], ns);
  await waitFor(`${c.name} kube-proxy`, 60_000, inNs("curl", ["-sf", "http://127.0.0.1:10256/healthz"]), `${logs}/kube-proxy.log`);

  await startDns(bin, c, kc("coredns"));
  clusterObjects(bin, c);
  say(`${c.name}: ${c.nodes} node(s) Ready at ${apiServerUrl(c)}`);
}

async function startNode(bin: string, c: ClusterLayout, n: number, images: string[]): Promise<void> {
  const dir = clusterDir(c);
  const d = nodeDir(c, n);
  const name = nodeName(c, n);
  for (const sub of ["containerd", "cni", "kubelet", "podlogs", "kubelet-certs"]) fs.mkdirSync(path.join(d, sub), { recursive: true });
  // The kubelet's cgroup parent, in every v1 hierarchy; cpuset needs its cpus and mems seeded.
  for (const h of fs.readdirSync("/sys/fs/cgroup")) {
    const base = `/sys/fs/cgroup/${h}`;
    if (fs.statSync(base).isDirectory() && !fs.lstatSync(base).isSymbolicLink())
      fs.mkdirSync(`${base}/${cgroupRoot(c, n)}`, { recursive: true });
  }
  for (const f of ["cpuset.cpus", "cpuset.mems"])
    fs.writeFileSync(`/sys/fs/cgroup/cpuset/${cgroupRoot(c, n)}/${f}`, fs.readFileSync(`/sys/fs/cgroup/cpuset/${f}`));
  const range = `${c.podPrefix}.${n - 1}`;
  fs.writeFileSync(
    path.join(d, "cni", "10-bridge.conflist"),
    JSON.stringify({
      cniVersion: "0.4.0",
      name,
      plugins: [
        {
          type: "bridge",
          bridge: `cni${n}`,
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: "host-local",
            dataDir: path.join(d, "cni-ipam"),
            ranges: [[{ subnet: `${range}.0/24`, gateway: `${range}.1` }]],
            routes: [{ dst: "0.0.0.0/0" }],
          },
        },
        { type: "portmap", capabilities: { portMappings: true } },
      ],
    }),
  );
  const sock = path.join(d, "containerd", "containerd.sock");
  fs.writeFileSync(
    path.join(d, "containerd.toml"),
    [
      "version = 2",
      `root = "${d}/containerd/root"`,
      `state = "${d}/containerd/state"`,
      "[grpc]",
      `  address = "${sock}"`,
      "[ttrpc]",
      `  address = "${sock}.ttrpc"`,
      '[plugins."io.containerd.internal.v1.opt"]',
      `  path = "${d}/containerd/opt"`,
      '[plugins."io.containerd.grpc.v1.cri"]',
      `  sandbox_image = "${IMAGES.pause}"`,
      // Root here lacks CAP_SYS_RESOURCE: without this runc fails with "can't get final child's PID from pipe".
      "  restrict_oom_score_adj = true",
      '  stream_server_address = "127.0.0.1"',
      '  stream_server_port = "0"',
      '  [plugins."io.containerd.grpc.v1.cri".containerd]',
      '    snapshotter = "overlayfs"',
      '    default_runtime_name = "runc"',
      '    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]',
      '      runtime_type = "io.containerd.runc.v2"',
      '      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]',
      "        SystemdCgroup = false",
      '  [plugins."io.containerd.grpc.v1.cri".cni]',
      '    bin_dir = "/usr/lib/cni"',
      `    conf_dir = "${d}/cni"`,
      "",
    ].join("\n"),
  );
  start(dir, `containerd-${name}`, ["containerd", "--config", path.join(d, "containerd.toml")], netnsPath(c));
  await waitFor(
    `containerd of ${name}`,
    30_000,
    () => run("ctr", ["-a", sock, "version"], { allowFail: true }) !== "",
    path.join(dir, "logs", `containerd-${name}.log`),
  );
  for (const img of images) run("ctr", ["-a", sock, "-n", "k8s.io", "images", "import", "--no-unpack", img]);
  // No upstream resolver: pods resolve cluster names only (nothing here may leave the machine).
  fs.writeFileSync(path.join(dir, "resolv.conf"), `nameserver ${DNS_SERVICE_IP}\n`);
  const ports = kubeletPorts(n);
  fs.writeFileSync(
    path.join(d, "kubelet.yaml"),
    yaml.dump({
      apiVersion: "kubelet.config.k8s.io/v1beta1",
      kind: "KubeletConfiguration",
      failCgroupV1: false,
      cgroupDriver: "cgroupfs",
      cgroupRoot: `/${cgroupRoot(c, n)}`,
      containerRuntimeEndpoint: `unix://${sock}`,
      address: c.machineIp,
      port: ports.port,
      healthzPort: ports.healthz,
      healthzBindAddress: "127.0.0.1",
      readOnlyPort: 0,
      podLogsDir: path.join(d, "podlogs"),
      authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: `${pkiDir(c)}/ca.crt` } },
      authorization: { mode: "Webhook" },
      tlsCertFile: `${pkiDir(c)}/${name}.crt`,
      tlsPrivateKeyFile: `${pkiDir(c)}/${name}.key`,
      clusterDomain: "cluster.local",
      clusterDNS: [DNS_SERVICE_IP],
      resolvConf: path.join(dir, "resolv.conf"),
      serializeImagePulls: false,
      evictionHard: { "memory.available": "200Mi", "nodefs.available": "2%", "imagefs.available": "2%" },
      imageGCHighThresholdPercent: 100,
    }),
  );
  start(
    dir,
    `kubelet-${name}`,
    [
      path.join(bin, "kubelet"),
      `--config=${path.join(d, "kubelet.yaml")}`,
      `--kubeconfig=${componentKubeconfig(c, name)}`,
      `--root-dir=${path.join(d, "kubelet")}`,
      `--cert-dir=${path.join(d, "kubelet-certs")}`,
      `--hostname-override=${name}`,
      `--node-ip=${c.machineIp}`,
      "--v=1",
    ],
    netnsPath(c),
  );
}

/** CoreDNS as a process of the machine behind kube-system/kube-dns; the primary's also answers for the e2e zone (the helper's address). */
async function startDns(bin: string, c: ClusterLayout, kubeconfig: string): Promise<void> {
  const dir = clusterDir(c);
  const helper = CLUSTERS.find((x) => x.name === "helper")!;
  const extra =
    c.name === "primary"
      ? [`${E2E_ZONE}:53 {`, `    bind ${c.machineIp}`, "    hosts {", `        ${helper.wanIp} ${HELPER_HOST}`, "    }", "}"]
      : [];
  fs.writeFileSync(
    path.join(dir, "Corefile"),
    [
      "cluster.local:53 in-addr.arpa:53 ip6.arpa:53 {",
      `    bind ${c.machineIp}`,
      "    errors",
      "    health 127.0.0.1:18080",
      "    ready 127.0.0.1:18181",
      "    kubernetes cluster.local in-addr.arpa ip6.arpa {",
      `        kubeconfig ${kubeconfig} ${c.name}`,
      "        pods insecure",
      "        fallthrough in-addr.arpa ip6.arpa",
      "    }",
      "    cache 5",
      "}",
      ...extra,
      "",
    ].join("\n"),
  );
  kubectl(
    bin,
    c,
    ["apply", "-f", "-"],
    yaml.dump({
      apiVersion: "v1",
      kind: "List",
      items: [
        {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "ClusterRole",
          metadata: { name: "system:coredns" },
          rules: [
            { apiGroups: [""], resources: ["endpoints", "services", "pods", "namespaces"], verbs: ["list", "watch"] },
            { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["list", "watch"] },
          ],
        },
        {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "ClusterRoleBinding",
          metadata: { name: "system:coredns" },
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "system:coredns" },
          subjects: [{ kind: "User", name: "system:coredns" }],
        },
        {
          apiVersion: "v1",
          kind: "Service",
          metadata: { name: "kube-dns", namespace: "kube-system", labels: { "k8s-app": "kube-dns" } },
          spec: {
            clusterIP: DNS_SERVICE_IP,
            ports: [
              { name: "dns", port: 53, protocol: "UDP" },
              { name: "dns-tcp", port: 53, protocol: "TCP" },
            ],
          },
        },
        {
          apiVersion: "v1",
          kind: "Endpoints",
          metadata: { name: "kube-dns", namespace: "kube-system", labels: { "k8s-app": "kube-dns" } },
          subsets: [
            {
              addresses: [{ ip: c.machineIp }],
              ports: [
                { name: "dns", port: 53, protocol: "UDP" },
                { name: "dns-tcp", port: 53, protocol: "TCP" },
              ],
            },
          ],
        },
      ],
    }),
  );
  start(dir, "coredns", [path.join(bin, "coredns"), "-conf", path.join(dir, "Corefile")], netnsPath(c));
  await waitFor(
    `${c.name} CoreDNS`,
    60_000,
    () => run("curl", ["-sf", "http://127.0.0.1:18181/ready"], { netns: netnsPath(c), allowFail: true }) !== "",
    path.join(dir, "logs", "coredns.log"),
  );
}

/** A default StorageClass with local PVs (no provisioner here), and the deployer users' RBAC. */
function clusterObjects(bin: string, c: ClusterLayout): void {
  const items: object[] = [
    {
      apiVersion: "storage.k8s.io/v1",
      kind: "StorageClass",
      metadata: { name: "local-storage", annotations: { "storageclass.kubernetes.io/is-default-class": "true" } },
      provisioner: "kubernetes.io/no-provisioner",
      volumeBindingMode: "WaitForFirstConsumer",
      reclaimPolicy: "Delete",
    },
  ];
  for (let n = 1; n <= c.nodes; n++) {
    for (let v = 1; v <= c.pvsPerNode; v++) {
      const dir = path.join(clusterDir(c), "pv", nodeName(c, n), `pv${v}`);
      fs.mkdirSync(dir, { recursive: true });
      items.push({
        apiVersion: "v1",
        kind: "PersistentVolume",
        metadata: { name: `${nodeName(c, n)}-pv${v}` },
        spec: {
          capacity: { storage: "10Gi" },
          accessModes: ["ReadWriteOnce"],
          persistentVolumeReclaimPolicy: "Retain",
          storageClassName: "local-storage",
          local: { path: dir },
          nodeAffinity: {
            required: {
              nodeSelectorTerms: [{ matchExpressions: [{ key: "kubernetes.io/hostname", operator: "In", values: [nodeName(c, n)] }] }],
            },
          },
        },
      });
    }
  }
  const role = yaml.load(fs.readFileSync(path.join(ROOT, "docs", "deployer-rbac.yaml"), "utf8")) as {
    metadata: { name: string };
    rules: { resources: string[] }[];
  };
  const noPortForward = {
    ...role,
    metadata: { name: `${role.metadata.name}-no-portforward` },
    rules: role.rules.filter((r) => !r.resources.includes("pods/portforward")),
  };
  const bind = (roleName: string, user: string) => ({
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRoleBinding",
    metadata: { name: roleName },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: roleName },
    subjects: [{ kind: "User", name: user }],
  });
  items.push(
    role,
    noPortForward,
    bind(role.metadata.name, "vmu-deployer"),
    bind(noPortForward.metadata.name, "vmu-deployer-no-portforward"),
  );
  kubectl(bin, c, ["apply", "-f", "-"], yaml.dump({ apiVersion: "v1", kind: "List", items }));
}

/** .e2e/kubeconfig: contexts `primary` and `helper` (the deployer), `*-admin`, `primary-no-portforward`. */
export function writeKubeconfig(): void {
  const entries = CLUSTERS.map((c) =>
    kubeconfigEntries(c, [
      { user: "deployer", context: c.name },
      { user: "admin", context: `${c.name}-admin` },
      ...(c.name === "primary" ? [{ user: "deployer-no-portforward" as const, context: "primary-no-portforward" }] : []),
    ]),
  );
  fs.mkdirSync(E2E_DIR, { recursive: true });
  fs.writeFileSync(
    KUBECONFIG_FILE,
    yaml.dump({
      apiVersion: "v1",
      kind: "Config",
      "current-context": "primary",
      clusters: entries.map((e) => e.cluster),
      users: entries.flatMap((e) => e.users),
      contexts: entries.flatMap((e) => e.contexts),
    }),
    { mode: 0o600 },
  );
}

/** Pod network namespaces of this machine's pods: CNI names them cni-*; ours hold an address of our pod ranges. */
function podNetns(c: ClusterLayout): string[] {
  if (!fs.existsSync("/run/netns")) return [];
  return fs
    .readdirSync("/run/netns")
    .filter((n) => n.startsWith("cni-"))
    .filter((n) => {
      const addrs = run("ip", ["-n", n, "-4", "-o", "addr", "show"], { allowFail: true });
      return addrs.includes(` ${c.podPrefix}.`);
    });
}

/** Stops both clusters (kubelets first, so that nothing restarts pods), then removes what they left. */
export async function down(purge: boolean): Promise<void> {
  for (const c of [...CLUSTERS].reverse()) await downCluster(c, purge);
  if (purge) fs.rmSync(KUBECONFIG_FILE, { force: true });
}

async function downCluster(c: ClusterLayout, purge: boolean): Promise<void> {
  const dir = clusterDir(c);
  const procs = recorded(dir);
  await stop(procs.filter((p) => p.name.startsWith("kubelet-")));
  const podNs = podNetns(c);
  for (let n = 1; n <= c.nodes; n++) {
    const sock = path.join(nodeDir(c, n), "containerd", "containerd.sock");
    if (fs.existsSync(sock)) {
      for (const task of run("ctr", ["-a", sock, "-n", "k8s.io", "tasks", "ls", "-q"], { allowFail: true }).split("\n").filter(Boolean)) {
        run("ctr", ["-a", sock, "-n", "k8s.io", "tasks", "kill", "-s", "SIGKILL", task], { allowFail: true });
      }
    }
  }
  await sleep(500);
  for (let n = 1; n <= c.nodes; n++)
    await stop(pidsWithCmdline(`-address ${path.join(nodeDir(c, n), "containerd", "containerd.sock")}`), 3000);
  await stop([...procs].reverse());
  forgetAll(dir);
  // Mounts under the cluster folder (overlay rootfs, volumes, sandbox shm), innermost first.
  const mounts = fs
    .readFileSync("/proc/self/mounts", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[1])
    .filter((m) => m && m.startsWith(`${dir}/`))
    .sort()
    .reverse();
  for (const m of mounts) run("umount", ["-l", m], { allowFail: true });
  for (const n of podNs) {
    run("umount", [`/run/netns/${n}`], { allowFail: true });
    fs.rmSync(`/run/netns/${n}`, { force: true });
  }
  if (fs.existsSync(netnsPath(c))) run("ip", ["netns", "del", c.netns], { allowFail: true });
  run("ip", ["link", "del", c.hostLink], { allowFail: true });
  for (let n = 1; n <= c.nodes; n++) {
    for (const h of fs.existsSync("/sys/fs/cgroup") ? fs.readdirSync("/sys/fs/cgroup") : [])
      removeCgroup(`/sys/fs/cgroup/${h}/${cgroupRoot(c, n)}`);
  }
  if (purge) fs.rmSync(dir, { recursive: true, force: true });
  say(`${c.name}: down${purge ? " (state removed)" : ""}`);
}

function removeCgroup(dir: string): void {
  if (!fs.existsSync(dir)) return;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeCgroup(path.join(dir, e.name));
  try {
    fs.rmdirSync(dir);
  } catch {
    // a process still in it: reported by status
  }
}
