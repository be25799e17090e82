/**
 * A VaultCluster's pods: the StatefulSet, its pod spec (the server container, the peer
 * gate, the optional Consul agent sidecar) and the shell scripts they run. Pure builders:
 * the component registers what they return.
 *
 * Every seal object is mounted optional (the seal ConfigMap, the transit TLS and token
 * Secrets), so the pod template is the same before and after they exist: a seal applied
 * later never changes the StatefulSet.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { TRANSIT_TOKEN_KEY, vaultNames, vaultPodHostOf } from "../adapters/kubernetes/names";
import { TRANSIT_TOKEN_ENV } from "../core/render/seal";
import { Flavour } from "../core/render/server-config";
import { consulContainer } from "./consul-cluster";
import { containerSecurityContext, podSecurityContext } from "./pod-hardening";
import { ZoneSpread, antiAffinity } from "./pod-spread";
import { API_PORT, CLUSTER_PORT, TRANSIT_TLS_FILES, VAULT_DIRS } from "./vault-config";
import { SEAL_CHECKSUM_ANNOTATION, SKIP_AWAIT, vaultPodLabels, vaultServingLabels } from "./vault-labels";

type Input<T> = pulumi.Input<T>;
type EnvVar = k8s.types.input.core.v1.EnvVar;
type Container = k8s.types.input.core.v1.Container;
type PodSpec = k8s.types.input.core.v1.PodSpec;

/**
 * The peer gate: exits 0 at once without a transit seal, else waits until `<cli> status` says
 * the peer is unsealed (exit 0). The seal files are read again on every round, so an
 * emergency switch to the helper reaches a pod that is already waiting.
 */
function peerGateScript(cli: string, env: string): string {
  return [
    // The gate is PID 1 in the init container: without a handler SIGTERM is ignored and a pod
    // held here would take its whole grace period to go.
    "trap 'exit 143' TERM",
    "last=''",
    "while :; do",
    `  dir=''; for d in ${VAULT_DIRS.seal} ${VAULT_DIRS.config}; do if [ -s "$d/peer-address" ]; then dir="$d"; break; fi; done`,
    `  if [ -z "$dir" ]; then echo "peer gate: no transit seal configured, nothing to wait for"; exit 0; fi`,
    `  ${env}ADDR="$(cat "$dir/peer-address" || true)"; export ${env}ADDR`,
    `  ${env}TLS_SERVER_NAME="$(cat "$dir/peer-server-name" 2>/dev/null || true)"; export ${env}TLS_SERVER_NAME`,
    // The seal's TLS files when it names them (towards the helper: its own CA and client certificate), else the defaults in the env.
    ...[
      ["CACERT", "peer-ca-cert"],
      ["CLIENT_CERT", "peer-client-cert"],
      ["CLIENT_KEY", "peer-client-key"],
    ].map(([v, file]) => `  if [ -s "$dir/${file}" ]; then ${env}${v}="$(cat "$dir/${file}")"; export ${env}${v}; fi`),
    `  if ${cli} status >/dev/null; then echo "peer gate: transit peer $${env}ADDR is unsealed"; exit 0; fi`,
    `  if [ "$last" != "$${env}ADDR" ]; then echo "peer gate: waiting until transit peer $${env}ADDR is unsealed"; last="$${env}ADDR"; fi`,
    "  sleep 1",
    "done",
  ].join("\n");
}

/**
 * The server container. It passes the peer gate itself first: the kubelet restarts a
 * container (not its pod, so not the init containers) after the process dies, and a server
 * whose transit peer is unreachable at startup exits, so without the gate here a restart while
 * the peer is down would crash-loop, its back-off growing to 5 minutes. The gate runs in a
 * subshell with the seal's TLS files, so the server keeps its own client settings. The
 * shell (PID 1) waits for it in the background, so that SIGTERM (a pod deleted while it waits)
 * ends it at once instead of after the grace period.
 */
function serverScript(cli: string, gate: string, gateEnv: { name: string; value: string }[]): string {
  const quoted = (v: string) => `'${v.split("'").join("'\\''")}'`;
  return [
    `trap 'kill "$gate" 2>/dev/null; exit 143' TERM`,
    "(",
    ...gateEnv.map((e) => `  export ${e.name}=${quoted(e.value)}`),
    ...gate.split("\n").map((l) => `  ${l}`),
    ") &",
    "gate=$!",
    'wait "$gate"',
    "trap - TERM",
    `if [ -s ${VAULT_DIRS.seal}/seal.hcl ]; then`,
    `  exec ${cli} server -config=${VAULT_DIRS.config}/server.hcl -config=${VAULT_DIRS.seal}/seal.hcl`,
    "fi",
    `exec ${cli} server -config=${VAULT_DIRS.config}/server.hcl`,
  ].join("\n");
}

/** The Consul client agent sidecar's objects (Consul storage). */
export interface VaultConsulAgentRefs {
  image: Input<string>;
  /** ConsulCluster's gossip Secret (same namespace). */
  gossipSecretName: Input<string>;
  configMapName: Input<string>;
  tlsSecretName: Input<string>;
}

/** What a Vault pod is made of; object names are Inputs so that the StatefulSet depends on the objects it mounts. */
export interface VaultPodSettings {
  flavour: Flavour;
  clusterName: string;
  namespace: Input<string>;
  image: Input<string>;
  /** With Consul storage: the agent sidecar; without: Raft data on the claim template's volume. */
  consulAgent?: VaultConsulAgentRefs;
  serviceAccountName: Input<string>;
  configMapName: Input<string>;
  tlsSecretName: Input<string>;
  sealConfigMapName: Input<string>;
  transitTokenSecretName: Input<string>;
  resources?: Input<k8s.types.input.core.v1.ResourceRequirements>;
  zoneSpread?: ZoneSpread;
  /**
   * The listener takes only clients with a certificate from the cluster's CA (vaultConfigSettings'
   * requireClientCert). The kubelet's HTTPS probes present none, so the probes run the CLI in
   * the container instead, with the pod's own certificate (issued with client_auth) as its
   * client certificate; `kubectl exec … <cli> …` by operators gets it the same way.
   */
  requireClientCert?: boolean;
}

/** The pod spec of every server pod of a cluster. */
export function vaultPodSpec(c: VaultPodSettings): PodSpec {
  const { flavour } = c;
  const names = vaultNames(c.clusterName);
  const cli = flavour === "vault" ? "vault" : "bao";
  const env = flavour === "vault" ? "VAULT_" : "BAO_";
  const fieldEnv = (n: string, fieldPath: string): EnvVar => ({ name: n, valueFrom: { fieldRef: { fieldPath } } });
  // Per-pod addresses: the kubelet substitutes $(POD_NAME) from the env var defined before them.
  const podDns = pulumi.output(c.namespace).apply((n) => vaultPodHostOf(c.clusterName, "$(POD_NAME)", n));
  const caEnv = (file: string): { name: string; value: string }[] => [
    { name: "VAULT_CACERT", value: file },
    ...(flavour === "openbao" ? [{ name: "BAO_CACERT", value: file }] : []),
  ];
  const serverEnv: EnvVar[] = [
    fieldEnv("POD_NAME", "metadata.name"),
    { name: `${env}API_ADDR`, value: pulumi.interpolate`https://${podDns}:${API_PORT}` },
    { name: `${env}CLUSTER_ADDR`, value: pulumi.interpolate`https://${podDns}:${CLUSTER_PORT}` },
    ...(c.consulAgent ? [] : [fieldEnv(`${env}RAFT_NODE_ID`, "metadata.name")]),
    fieldEnv(`${env}K8S_POD_NAME`, "metadata.name"),
    fieldEnv(`${env}K8S_NAMESPACE`, "metadata.namespace"),
    { name: `${env}ADDR`, value: `https://127.0.0.1:${API_PORT}` },
    // The article's first failure: the CLI and clients in the pod trust our CA explicitly.
    ...caEnv(`${VAULT_DIRS.tls}/ca.crt`),
    // Optional: the pod template is the same before and after the token Secret exists.
    { name: TRANSIT_TOKEN_ENV, valueFrom: { secretKeyRef: { name: c.transitTokenSecretName, key: TRANSIT_TOKEN_KEY, optional: true } } },
    { name: "HOME", value: VAULT_DIRS.tmp },
    ...(c.requireClientCert
      ? [
          { name: `${env}CLIENT_CERT`, value: `${VAULT_DIRS.tls}/tls.crt` },
          { name: `${env}CLIENT_KEY`, value: `${VAULT_DIRS.tls}/tls.key` },
        ]
      : []),
  ];
  const mounts = [
    { name: "config", mountPath: VAULT_DIRS.config, readOnly: true },
    { name: "seal", mountPath: VAULT_DIRS.seal, readOnly: true },
    { name: "tls", mountPath: VAULT_DIRS.tls, readOnly: true },
    { name: "transit-tls", mountPath: VAULT_DIRS.transitTls, readOnly: true },
    { name: "tmp", mountPath: VAULT_DIRS.tmp },
  ];
  // `<cli> status` exits 0 when unsealed (active or standby), 2 when sealed or uninitialized, 1 when it gets no answer.
  const cliProbe = { answering: `${cli} status >/dev/null; [ $? -ne 1 ]`, unsealed: `${cli} status >/dev/null` };
  const health = (query: string) =>
    c.requireClientCert
      ? { exec: { command: ["/bin/sh", "-c", query === "standbyok=true" ? cliProbe.unsealed : cliProbe.answering] } }
      : { httpGet: { path: `/v1/sys/health?${query}`, port: API_PORT, scheme: "HTTPS" } };
  // The seal's own TLS settings: the gate passes only if the seal itself could connect.
  const gateEnv = [
    ...caEnv(TRANSIT_TLS_FILES.tlsCaCert),
    { name: `${env}CLIENT_CERT`, value: TRANSIT_TLS_FILES.tlsClientCert },
    { name: `${env}CLIENT_KEY`, value: TRANSIT_TLS_FILES.tlsClientKey },
  ];
  const vaultContainer: Container = {
    name: cli,
    image: c.image,
    command: ["/bin/sh", "-ec", serverScript(cli, peerGateScript(cli, env), gateEnv)],
    env: serverEnv,
    ports: [
      { name: "https", containerPort: API_PORT },
      { name: "cluster", containerPort: CLUSTER_PORT },
    ],
    volumeMounts: [
      ...mounts,
      ...(c.consulAgent
        ? [{ name: "consul-tls", mountPath: VAULT_DIRS.consulTls, readOnly: true }]
        : [{ name: names.dataVolumeClaim, mountPath: VAULT_DIRS.data }]),
    ],
    // While the server waits at the peer gate (a restarted container, peer down) nothing
    // listens yet: liveness starts only once the server answers, or after an hour of waiting.
    // The price: a server that hangs while it boots is restarted only after that hour.
    startupProbe: {
      ...health("standbyok=true&sealedcode=204&uninitcode=204"),
      periodSeconds: 5,
      timeoutSeconds: 3,
      failureThreshold: 720,
    },
    // Sealed or uninitialized is healthy (204): only a hung process is restarted, never a sealed one.
    livenessProbe: {
      ...health("standbyok=true&sealedcode=204&uninitcode=204"),
      initialDelaySeconds: 30,
      periodSeconds: 10,
      timeoutSeconds: 3,
      failureThreshold: 3,
    },
    // Sealed (503) and uninitialized (501) pods are kept out of the Services.
    readinessProbe: { ...health("standbyok=true"), periodSeconds: 2, timeoutSeconds: 2, failureThreshold: 2, successThreshold: 1 },
    lifecycle: { preStop: { exec: { command: ["/bin/sh", "-c", "sleep 6"] } } },
    resources: c.resources ?? { requests: { cpu: "250m", memory: "256Mi" }, limits: { memory: "512Mi" } },
    // No capability: OpenBao does not lock memory and Vault runs with disable_mlock
    // (renderVaultConfig); IPC_LOCK would also be refused by Pod Security baseline and restricted.
    securityContext: containerSecurityContext(),
  };
  const peerGate: Container = {
    name: "peer-gate",
    image: c.image,
    command: ["/bin/sh", "-c", peerGateScript(cli, env)],
    env: [...gateEnv, { name: "HOME", value: VAULT_DIRS.tmp }],
    volumeMounts: mounts,
    resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "64Mi" } },
    securityContext: containerSecurityContext(),
  };

  const volumes: k8s.types.input.core.v1.Volume[] = [
    { name: "config", configMap: { name: c.configMapName } },
    { name: "seal", configMap: { name: c.sealConfigMapName, optional: true } },
    { name: "tls", secret: { secretName: c.tlsSecretName } },
    { name: "transit-tls", secret: { secretName: names.transitTlsSecret, optional: true } },
    { name: "tmp", emptyDir: { medium: "Memory", sizeLimit: "64Mi" } },
  ];
  const containers = [vaultContainer];
  if (c.consulAgent) {
    containers.push(
      consulContainer({
        name: "consul-agent",
        image: c.consulAgent.image,
        server: false,
        volumes: { config: "consul-config", gossip: "consul-gossip", tls: "consul-tls", data: "consul-data" },
      }),
    );
    volumes.push(
      { name: "consul-config", configMap: { name: c.consulAgent.configMapName } },
      { name: "consul-gossip", secret: { secretName: c.consulAgent.gossipSecretName } },
      { name: "consul-tls", secret: { secretName: c.consulAgent.tlsSecretName } },
      { name: "consul-data", emptyDir: {} },
    );
  }
  return {
    serviceAccountName: c.serviceAccountName,
    securityContext: podSecurityContext(),
    affinity: antiAffinity(vaultPodLabels(flavour, c.clusterName), c.zoneSpread),
    terminationGracePeriodSeconds: 30,
    initContainers: [peerGate],
    containers,
    volumes,
  };
}

/** The StatefulSet around `pod`. */
export interface VaultStatefulSetSettings {
  flavour: Flavour;
  clusterName: string;
  namespace: Input<string>;
  replicas: Input<number>;
  /** The headless Service (its name, as an Input so the StatefulSet is created after it). */
  serviceName: Input<string>;
  /** sealSettingsDigest of the seal rendered into server.hcl: a change of it restarts nothing by itself (OnDelete), the core does. */
  sealChecksum: Input<string>;
  pod: PodSpec;
  /** Raft only: the data volume of each pod. */
  raftData?: { storageClassName?: Input<string>; size?: Input<string> };
}

export function vaultStatefulSet(c: VaultStatefulSetSettings): k8s.apps.v1.StatefulSetArgs {
  const names = vaultNames(c.clusterName);
  const labels = vaultPodLabels(c.flavour, c.clusterName);
  return {
    // Sealed pods are never ready until later resources (init, unseal, the peer's transit)
    // unseal them: Pulumi must not wait for readiness here; the providers wait themselves.
    metadata: { name: names.statefulSet, namespace: c.namespace, labels, annotations: SKIP_AWAIT },
    spec: {
      serviceName: c.serviceName,
      replicas: c.replicas,
      // Sealed pods are not ready: an ordered start would wait for pod 0 to be unsealed before creating pod 1.
      podManagementPolicy: "Parallel",
      // The core restarts pods itself, one by one, during seal migrations and rollouts.
      updateStrategy: { type: "OnDelete" },
      selector: { matchLabels: labels },
      template: {
        metadata: {
          labels: vaultServingLabels(c.flavour, c.clusterName),
          annotations: { [SEAL_CHECKSUM_ANNOTATION]: c.sealChecksum },
        },
        spec: c.pod,
      },
      volumeClaimTemplates: c.raftData
        ? [
            {
              metadata: { name: names.dataVolumeClaim, labels },
              spec: {
                accessModes: ["ReadWriteOnce"],
                storageClassName: c.raftData.storageClassName,
                resources: { requests: { storage: c.raftData.size ?? "10Gi" } },
              },
            },
          ]
        : undefined,
    },
  };
}
