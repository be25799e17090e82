/**
 * Which cluster a provider works on, as a serializable input, and how it gets a NodeControl
 * for it.
 *
 * - "kubernetes": the pods of a StatefulSet, reached through port-forwards made by the API
 *   server with only a kubeconfig (adapters/kubernetes). This is what the stacks use.
 * - "local": a cluster registered in this process with `registerLocalCluster` (real `bao`
 *   processes of the local adapter). Only for tests and the lab, which call the provider
 *   objects directly: under the Pulumi engine a provider runs in another process, where
 *   nothing is registered, and says so.
 */
import type * as pulumi from "@pulumi/pulumi";
import type { KubernetesAccess } from "../adapters/kubernetes/options";
import type { NodeControl } from "../core/nodes";
import { accessProblems } from "../adapters/kubernetes/access";
import type { FieldRule } from "./dynamic-resource";
import { containsUnknown, Failures, InputFields, isUnknown, reasonOf, requiredString } from "./provider-inputs";

export type NodeAccess = ({ kind: "kubernetes" } & KubernetesAccess) | { kind: "local"; cluster: string };

export interface ConnectedNodes {
  nodes: NodeControl;
  /** Releases what `connect` opened (port-forwards); safe to call twice. */
  close(): Promise<void>;
}

/** No cluster behind a node access in this process (a "local" one under the Pulumi engine): it cannot be asked here. */
export class NodesUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NodesUnavailableError";
  }
}

/** Local clusters by name. Read at call time by `connect`; provider objects never capture it. */
const localClusters = new Map<string, NodeControl>();

/** Makes `cluster` reachable as `{ kind: "local", cluster: name }`. Returns the function that unregisters it. */
export function registerLocalCluster(name: string, cluster: NodeControl): () => void {
  localClusters.set(name, cluster);
  return () => {
    if (localClusters.get(name) === cluster) localClusters.delete(name);
  };
}

type KubernetesClusterModule = { KubernetesCluster: new (access: KubernetesAccess) => NodeControl & { close(): Promise<void> } };

/** A NodeControl for `access`. The caller closes it (see `withNodes`). */
export async function connect(access: NodeAccess): Promise<ConnectedNodes> {
  if (access.kind === "local") {
    const nodes = localClusters.get(access.cluster);
    if (!nodes) {
      throw new NodesUnavailableError(
        `no local cluster named "${access.cluster}" is registered in this process. "local" node access only works ` +
          `when the provider runs in the process that called registerLocalCluster (tests, the lab), never under the Pulumi engine: ` +
          `use { kind: "kubernetes", ... } in a stack.`,
      );
    }
    return { nodes, close: async () => undefined };
  }
  if (access.kind === "kubernetes") {
    // Loaded only when needed: the Kubernetes client is big and tests never use it.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { KubernetesCluster } = require("../adapters/kubernetes/kubernetes-cluster") as KubernetesClusterModule;
    // eslint-disable-next-line @typescript-eslint/no-unused-vars
    const { kind: _kind, ...k8s } = access;
    const cluster = new KubernetesCluster(k8s);
    let closed = false;
    return {
      nodes: cluster,
      close: async () => {
        if (closed) return;
        closed = true;
        await cluster.close();
      },
    };
  }
  throw new Error(`nodes.kind: must be "kubernetes" or "local", got "${(access as { kind: unknown }).kind}"`);
}

/** Runs `fn` with the cluster's nodes and always closes them afterwards, also when `fn` throws. */
export async function withNodes<T>(access: NodeAccess, fn: (nodes: NodeControl) => Promise<T>): Promise<T> {
  const c = await connect(access);
  try {
    return await fn(c.nodes);
  } finally {
    await c.close();
  }
}

/**
 * What makes two accesses the same cluster: its name (local) or namespace and StatefulSet
 * (kubernetes). Credentials, context, port, TLS and replica count are only how it is reached
 * or how big it is. Undefined when any part is unknown.
 */
export function clusterIdentity(access: unknown): string | undefined {
  if (!access || typeof access !== "object" || isUnknown(access)) return undefined;
  const a = access as Record<string, unknown>;
  const parts = a.kind === "local" ? [a.kind, a.cluster] : [a.kind, a.namespace, a.statefulSet];
  return parts.some(isUnknown) ? undefined : parts.map(String).join("/");
}

/** Every problem with a NodeAccess input, each under `path` (e.g. "nodes.namespace"). */
export function nodeAccessProblems(access: unknown, path: string, failures: Failures): void {
  if (isUnknown(access)) return;
  if (!access || typeof access !== "object" || Array.isArray(access)) {
    failures.add(path, `must describe the cluster's nodes: { kind: "kubernetes", ... } or { kind: "local", cluster }`);
    return;
  }
  const a = access as Record<string, unknown>;
  if (isUnknown(a.kind)) return;
  if (a.kind === "local") {
    failures.field(a, "cluster", `${path}.cluster`, requiredString);
    return;
  }
  if (a.kind !== "kubernetes") {
    failures.add(`${path}.kind`, `must be "kubernetes" or "local", got ${typeof a.kind === "string" ? `"${a.kind}"` : String(a.kind)}`);
    return;
  }
  // The adapter's own checks, so a stack is refused for exactly what the adapter would refuse.
  // A field not known yet (preview) is left for the check that runs once it is.
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  const { kind: _kind, ...k8s } = a;
  for (const p of accessProblems(k8s as unknown as KubernetesAccess)) {
    const field = p.key.split(/[.[]/)[0];
    if (!containsUnknown(a[field])) failures.add(`${path}.${p.key}`, reasonOf(p));
  }
}

/** The field rule of a NodeAccess input (every provider's `nodes`). */
export const nodeAccess: FieldRule = { nested: nodeAccessProblems };

/** NodeAccess as a resource argument: each field may be an Input (e.g. a kubeconfig from config). */
export type NodeAccessArgs = ({ kind: "kubernetes" } & InputFields<KubernetesAccess>) | { kind: "local"; cluster: pulumi.Input<string> };
