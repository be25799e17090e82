/**
 * The hardening every pod of this project shares, Vault's and Consul's alike: what Pod
 * Security "restricted" demands (non-root, no capability, RuntimeDefault seccomp, no
 * privilege escalation), plus a read-only root filesystem.
 */
import * as k8s from "@pulumi/kubernetes";

/**
 * Labels of the namespaces the stacks create: Pod Security "restricted" enforced, which every
 * pod of this project meets.
 */
export const POD_SECURITY_LABELS = { "pod-security.kubernetes.io/enforce": "restricted" };

/** Pod-level hardening: non-root, default seccomp. */
export function podSecurityContext(): k8s.types.input.core.v1.PodSecurityContext {
  // OnRootMismatch: a volume already owned by the group is not re-chmodded at every mount
  // (which left the Raft database group-readable, and OpenBao warns about it).
  return {
    runAsNonRoot: true,
    runAsUser: 100,
    runAsGroup: 1000,
    fsGroup: 1000,
    fsGroupChangePolicy: "OnRootMismatch",
    seccompProfile: { type: "RuntimeDefault" },
  };
}

/** Container hardening: read-only root, no privilege escalation, every capability dropped but `add`. */
export function containerSecurityContext(add: string[] = []): k8s.types.input.core.v1.SecurityContext {
  return {
    runAsNonRoot: true,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ["ALL"], ...(add.length ? { add } : {}) },
  };
}
