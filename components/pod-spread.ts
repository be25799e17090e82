/**
 * How the pods of one quorum (Raft or Consul servers) spread over hosts and zones, shared by
 * VaultCluster and ConsulCluster: two members on one host would let one host failure cost two
 * votes.
 */
import * as k8s from "@pulumi/kubernetes";

/** How a cluster's pods spread over zones: not at all, where the scheduler can, or one per zone. */
export type ZoneSpread = "none" | "preferred" | "required";

/**
 * No two pods of one cluster on a host (required), and the zone rule: "required" needs as
 * many zones as pods (a lost zone then costs one member, never a quorum).
 */
export function antiAffinity(labels: Record<string, string>, zoneSpread: ZoneSpread = "none"): k8s.types.input.core.v1.Affinity {
  const term = (topologyKey: string) => ({ labelSelector: { matchLabels: labels }, topologyKey });
  const zone = "topology.kubernetes.io/zone";
  return {
    podAntiAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: [term("kubernetes.io/hostname"), ...(zoneSpread === "required" ? [term(zone)] : [])],
      ...(zoneSpread === "preferred"
        ? { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: term(zone) }] }
        : {}),
    },
  };
}
