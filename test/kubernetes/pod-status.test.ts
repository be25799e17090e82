/**
 * How the Kubernetes adapter reads a Vault pod's status while restarting it, and what it
 * tells the user when the replacement does not come up. Pod objects are written here in
 * the shape the API returns them.
 *
 * NOT verified here (no Kubernetes cluster on these machines): that a real kubelet reports
 * these exact reasons and timings for a Vault pod; the shapes follow the Kubernetes API
 * reference (PodStatus, ContainerStatus).
 */
import {
  ContainerStatusLike,
  PodLike,
  PodRestartError,
  classifyPod,
  describePod,
  hintsFor,
  needsAChange,
  vaultContainerName,
} from "../../adapters/kubernetes/pod-status";

const where = { namespace: "vault-unlock", name: "vault-unlock-0" };
const created = "2025-03-01T10:00:00Z";
const started = "2025-03-01T10:00:07Z";

type Conditions = NonNullable<PodLike["status"]>["conditions"];

function pod(
  over: {
    uid?: string;
    phase?: string;
    deleting?: boolean;
    init?: ContainerStatusLike[];
    containers?: ContainerStatusLike[];
    conditions?: Conditions;
  } = {},
): PodLike {
  return {
    metadata: {
      name: "vault-unlock-0",
      namespace: "vault-unlock",
      uid: over.uid ?? "uid-new",
      creationTimestamp: new Date(created),
      deletionTimestamp: over.deleting ? new Date(started) : undefined,
    },
    // The Consul agent sidecar comes first on purpose: the Vault container is the one with the API port.
    spec: {
      containers: [
        { name: "consul-agent", ports: [{ containerPort: 8501 }] },
        { name: "vault", ports: [{ containerPort: 8200 }, { containerPort: 8201 }] },
      ],
    },
    status: {
      phase: over.phase ?? "Running",
      conditions: over.conditions,
      initContainerStatuses: over.init ?? [{ name: "peer-gate", state: { terminated: { exitCode: 0, reason: "Completed" } } }],
      containerStatuses: over.containers ?? [
        { name: "consul-agent", state: { running: { startedAt: new Date(started) } } },
        { name: "vault", state: { running: { startedAt: new Date(started) } } },
      ],
    },
  };
}
const crashLooping = [
  { name: "consul-agent", state: { running: { startedAt: new Date(started) } } },
  {
    name: "vault",
    restartCount: 4,
    state: { waiting: { reason: "CrashLoopBackOff", message: "back-off 1m20s restarting failed container=vault" } },
    lastState: { terminated: { exitCode: 1, reason: "Error" } },
  },
];
const opts = { apiPort: 8200, previousUid: "uid-old" };

describe("classifying the pod during a restart", () => {
  test.each<[string, string, PodLike | undefined]>([
    ["not recreated yet", "absent", undefined],
    ["still the pod that was deleted", "previous", pod({ uid: "uid-old" })],
    ["the replacement is being deleted", "terminating", pod({ deleting: true })],
    [
      "held by the peer gate",
      "starting",
      pod({
        phase: "Pending",
        init: [{ name: "peer-gate", state: { running: { startedAt: new Date(started) } } }],
        containers: [{ name: "vault", state: { waiting: { reason: "PodInitializing" } } }],
      }),
    ],
    ["Vault crash-looping", "failing", pod({ containers: crashLooping })],
    [
      "image not pullable",
      "failing",
      pod({
        phase: "Pending",
        init: [{ name: "peer-gate", state: { waiting: { reason: "ImagePullBackOff", message: "Back-off pulling image" } } }],
      }),
    ],
    ["the pod failed", "failing", pod({ phase: "Failed" })],
    [
      "running but only the sidecar is up",
      "starting",
      pod({
        containers: [
          { name: "consul-agent", state: { running: {} } },
          { name: "vault", state: { waiting: { reason: "ContainerCreating" } } },
        ],
      }),
    ],
    ["Vault running in the new pod", "running", pod()],
  ])("%s → %s", (_what, kind, p) => {
    expect(classifyPod(p, opts).kind).toBe(kind);
  });

  test("a running pod reports when it was created (API server clock) and when Vault started (node clock)", () => {
    expect(classifyPod(pod(), opts)).toEqual({ kind: "running", podCreated: new Date(created), containerStarted: new Date(started) });
    // The API may hand over strings where client-node has not made Dates.
    const raw = JSON.parse(JSON.stringify(pod())) as PodLike;
    expect(classifyPod(raw, opts)).toEqual({ kind: "running", podCreated: new Date(created), containerStarted: new Date(started) });
  });

  test("the Vault container is the one exposing the API port, unless named", () => {
    expect(vaultContainerName(pod(), 8200)).toBe("vault");
    expect(vaultContainerName(pod(), 8200, "bao")).toBe("bao");
  });

  test("without a restart in progress the current pod is simply classified", () => {
    expect(classifyPod(pod({ uid: "uid-old" }), { apiPort: 8200 }).kind).toBe("running");
  });
});

describe("what the user is told when the replacement does not come up", () => {
  test("a crash-looping Vault: phase, reason, restarts, last exit, and where to read the log", () => {
    const p = pod({ containers: crashLooping });
    const e = new PodRestartError("pod vault-unlock/vault-unlock-0", 300_000, describePod(p, where), hintsFor(p, where));
    expect(e.message).toContain("restarting pod vault-unlock/vault-unlock-0: no new pod with a Vault API answering within 300 s");
    expect(e.message).toContain("phase Running");
    expect(e.message).toContain(
      "container vault waiting (CrashLoopBackOff: back-off 1m20s restarting failed container=vault), restarted 4 times, last: terminated (exit 1, Error)",
    );
    expect(e.message).toContain("kubectl logs -n vault-unlock vault-unlock-0 -c vault --previous");
  });

  test("an image that cannot be pulled", () => {
    const p = pod({
      phase: "Pending",
      init: [
        {
          name: "peer-gate",
          state: { waiting: { reason: "ImagePullBackOff", message: 'Back-off pulling image "quay.io/openbao/openbao:9.9"' } },
        },
      ],
      containers: [],
    });
    expect(describePod(p, where)).toContain(
      'init container peer-gate waiting (ImagePullBackOff: Back-off pulling image "quay.io/openbao/openbao:9.9")',
    );
    expect(hintsFor(p, where)).toEqual(["the image of peer-gate cannot be pulled: check the image name and the pod's imagePullSecrets"]);
  });

  test("a pod held by the peer gate points at the transit peer", () => {
    const p = pod({
      phase: "Pending",
      init: [{ name: "peer-gate", state: { running: { startedAt: new Date(started) } } }],
      containers: [{ name: "vault", state: { waiting: { reason: "PodInitializing" } } }],
    });
    expect(describePod(p, where)).toContain("init container peer-gate running since 2025-03-01T10:00:07.000Z");
    expect(hintsFor(p, where)).toEqual([
      "the peer gate is holding the pod until its transit peer answers: unseal the peer cluster (or the helper) first",
    ]);
  });

  test("a pod that cannot be scheduled says why", () => {
    const p = pod({
      phase: "Pending",
      init: [],
      containers: [],
      conditions: [
        {
          type: "PodScheduled",
          status: "False",
          reason: "Unschedulable",
          message: "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules.",
        },
      ],
    });
    expect(describePod(p, where)).toContain(
      "PodScheduled=False (Unschedulable: 0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules.)",
    );
    expect(hintsFor(p, where)[0]).toContain("the pod is not scheduled (0/3 nodes are available");
  });

  test("a pod that was never recreated", () => {
    expect(describePod(undefined, where)).toBe("pod vault-unlock/vault-unlock-0 does not exist");
    expect(hintsFor(undefined, where)[0]).toContain("kubectl describe statefulset -n vault-unlock");
  });
});

describe("a pod that cannot start until something changes", () => {
  test("an image that cannot be pulled or a missing config key: named with the container", () => {
    const image = pod({ phase: "Pending", init: [{ name: "peer-gate", state: { waiting: { reason: "ErrImagePull" } } }], containers: [] });
    expect(needsAChange(image)).toEqual(["peer-gate: ErrImagePull"]);
    const config = pod({ containers: [{ name: "vault", state: { waiting: { reason: "CreateContainerConfigError" } } }] });
    expect(needsAChange(config)).toEqual(["vault: CreateContainerConfigError"]);
  });

  test("a pull error on a pod younger than a minute may still pass by itself (a registry's rate limit): not yet; a bad image name: at once", () => {
    const young = new Date(new Date(created).getTime() + 10_000);
    const pulling = pod({
      phase: "Pending",
      init: [{ name: "peer-gate", state: { waiting: { reason: "ErrImagePull" } } }],
      containers: [],
    });
    expect(needsAChange(pulling, young)).toBeUndefined();
    expect(needsAChange(pulling, new Date(new Date(created).getTime() + 61_000))).toEqual(["peer-gate: ErrImagePull"]);
    const badName = pod({
      phase: "Pending",
      init: [{ name: "peer-gate", state: { waiting: { reason: "InvalidImageName" } } }],
      containers: [],
    });
    expect(needsAChange(badName, young)).toEqual(["peer-gate: InvalidImageName"]);
  });

  test("a crash loop, a pod still starting and a running pod are not (waiting may still help)", () => {
    expect(needsAChange(pod({ containers: crashLooping }))).toBeUndefined();
    expect(needsAChange(pod({ phase: "Pending", init: [{ name: "peer-gate", state: { running: {} } }], containers: [] }))).toBeUndefined();
    expect(needsAChange(pod())).toBeUndefined();
    expect(needsAChange(undefined)).toBeUndefined();
  });
});
