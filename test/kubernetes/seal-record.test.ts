/**
 * The Kubernetes adapter's seal bookkeeping, as pure functions: what applySeal writes into
 * the seal ConfigMap and token Secret, what appliedSeal reads back, and which settings a pod
 * runs (runningSealDigest's rule).
 *
 * NOT verified here (no Kubernetes cluster, no Docker on these machines; Vault is never
 * mocked and a fake API server would prove nothing about a real one): that a real API server
 * accepts these objects, that the kubelet hands a new pod the new ConfigMap and Secret within
 * the grace, and that real Vault pods start with them. What is verified: the objects'
 * content, the "write only when it differs" rule, refusals, and the digest rule over
 * timelines of applies, pod creations and container starts.
 */
import { InputError, InputErrors } from "../../core/errors";
import { SealSettings, sealSettingsDigest } from "../../core/nodes";
import { SealStanza } from "../../core/render/seal";
import { lateSealConfigData } from "../../adapters/kubernetes/seal-config";
import {
  ConfigMapLike,
  HISTORY_LIMIT,
  SEAL_ANNOTATIONS,
  SINCE_EVER,
  SealPlacement,
  SecretLike,
  UNKNOWN_SEAL_DIGEST,
  historyOf,
  planSealWrite,
  restartDelayMs,
  runningDigest,
  sealConfigMapContent,
  sealProblemsOnKubernetes,
  storedSeal,
} from "../../adapters/kubernetes/seal-record";

const place: SealPlacement = {
  namespace: "vault-unlock",
  configMap: "vault-unlock-seal",
  secret: "vault-unlock-transit-token",
  labels: { "app.kubernetes.io/instance": "vault-unlock" },
};
const toVault: SealStanza = {
  type: "transit",
  address: "https://vault-active.vault.svc:8200",
  keyName: "autounseal",
  mountPath: "transit/",
  tlsServerName: "vault-active.vault.svc",
  tlsCaCert: "/vault/transit-tls/ca.crt",
  tlsClientCert: "/vault/transit-tls/tls.crt",
  tlsClientKey: "/vault/transit-tls/tls.key",
};
const toHelper: SealStanza = { ...toVault, address: "https://helper.example.com:8200", tlsServerName: "helper.example.com" };
const transit = (token = "hvs.token-one", stanzas = [toVault]): SealSettings => ({ stanzas, transitToken: token });
const T0 = new Date("2025-03-01T10:00:00Z");
const at = (s: number) => new Date(T0.getTime() + s * 1000);
const GRACE = 5000;

/** What the API server stores after the plan's writes (Secret data stays base64, as the API returns it). */
function afterWrite(current: { configMap?: ConfigMapLike; secret?: SecretLike }, seal: SealSettings, now: Date, p = place) {
  const plan = planSealWrite(p, seal, current, now);
  return { plan, configMap: plan.configMap ?? current.configMap, secret: plan.secret ?? current.secret };
}

const b64 = (s: string) => Buffer.from(s).toString("base64");

describe("sealConfigMapContent: the seal ConfigMap's content for every writer", () => {
  test("records the stanzas as JSON with sorted keys and unset ones left out, the format live ConfigMaps carry", () => {
    const content = sealConfigMapContent("vault", [{ ...toVault, disabled: undefined }]);
    expect(content.annotations[SEAL_ANNOTATIONS.stanzas]).toBe(
      '[{"address":"https://vault-active.vault.svc:8200","keyName":"autounseal","mountPath":"transit/","tlsCaCert":"/vault/transit-tls/ca.crt","tlsClientCert":"/vault/transit-tls/tls.crt","tlsClientKey":"/vault/transit-tls/tls.key","tlsServerName":"vault-active.vault.svc","type":"transit"}]',
    );
    expect(content.data).toEqual(lateSealConfigData("vault", [toVault]));
  });

  test("a ConfigMap holding only this content (a cluster born sealed) is read back by storedSeal", () => {
    const content = sealConfigMapContent("vault", [toHelper]);
    const cm: ConfigMapLike = { metadata: { name: place.configMap, annotations: content.annotations }, data: content.data };
    expect(storedSeal(place, cm, { data: { token: b64("hvs.helper") } }).settings).toEqual({
      stanzas: [toHelper],
      transitToken: "hvs.helper",
    });
  });

  test("for a seal rendered into server.hcl: no seal.hcl (it would add a second seal block), the stanzas still recorded", () => {
    const content = sealConfigMapContent("vault", [toVault], [toVault]);
    expect(content.data).toEqual({});
    expect(JSON.parse(content.annotations[SEAL_ANNOTATIONS.stanzas])).toEqual([toVault]);
  });

  test("planSealWrite writes exactly this content, beside its history annotations", () => {
    const { plan } = afterWrite({}, transit("hvs.token-one", [toHelper]), T0);
    const content = sealConfigMapContent("vault", [toHelper]);
    expect(plan.configMap?.data).toEqual(content.data);
    expect(plan.configMap?.metadata?.annotations?.[SEAL_ANNOTATIONS.stanzas]).toBe(content.annotations[SEAL_ANNOTATIONS.stanzas]);
  });
});

describe("applySeal on Kubernetes: what is written", () => {
  test("first transit seal: a Secret with the token and a ConfigMap with the component's own data, digest and applied-at recorded", () => {
    const { plan } = afterWrite({}, transit(), T0);
    expect(plan.secret).toEqual({
      metadata: { name: "vault-unlock-transit-token", namespace: "vault-unlock", labels: place.labels },
      type: "Opaque",
      data: { token: b64("hvs.token-one") },
    });
    // Exactly what VaultCluster's pods read: seal.hcl and the peer gate's files.
    expect(plan.configMap?.data).toEqual(lateSealConfigData("vault", [toVault]));
    const ann = plan.configMap?.metadata?.annotations ?? {};
    expect(ann[SEAL_ANNOTATIONS.digest]).toBe(sealSettingsDigest(transit()));
    expect(ann[SEAL_ANNOTATIONS.appliedAt]).toBe(T0.toISOString());
    // Before the first write, pods ran Shamir without a token.
    expect(JSON.parse(ann[SEAL_ANNOTATIONS.history])).toEqual([
      { digest: sealSettingsDigest({ stanzas: [] }), at: SINCE_EVER },
      { digest: sealSettingsDigest(transit()), at: T0.toISOString() },
    ]);
    expect(plan.configMap?.metadata?.labels).toEqual(place.labels);
  });

  test("the token never appears in the ConfigMap", () => {
    const { plan } = afterWrite({}, transit("hvs.very-secret-token"), T0);
    expect(JSON.stringify(plan.configMap)).not.toContain("hvs.very-secret-token");
  });

  test("applying the same settings again writes nothing, whatever the key order of the stanzas", () => {
    const first = afterWrite({}, transit(), T0);
    const reordered = JSON.parse(JSON.stringify(toVault, Object.keys(toVault).reverse())) as SealStanza;
    const again = planSealWrite(place, transit("hvs.token-one", [reordered]), first, at(60));
    expect(again.secret).toBeUndefined();
    expect(again.configMap).toBeUndefined();
  });

  test("a new token rewrites the Secret and records a change (pods must restart to read it)", () => {
    const first = afterWrite({}, transit(), T0);
    const { plan } = afterWrite(first, transit("hvs.token-two"), at(60));
    expect(plan.secret?.data).toEqual({ token: b64("hvs.token-two") });
    expect(plan.configMap?.data).toEqual(first.configMap?.data);
    expect(historyOf(plan.configMap).map((e) => e.at)).toEqual([SINCE_EVER, T0.toISOString(), at(60).toISOString()]);
  });

  test("a new address with the same token rewrites only the ConfigMap", () => {
    const first = afterWrite({}, transit(), T0);
    const { plan } = afterWrite(first, transit("hvs.token-one", [toHelper]), at(60));
    expect(plan.secret).toBeUndefined();
    expect(plan.configMap?.data?.["peer-address"]).toBe("https://helper.example.com:8200");
  });

  test("back to Shamir: the token leaves the Secret, its other keys stay; seal.hcl has no seal block", () => {
    const first = afterWrite({}, transit(), T0);
    const withExtra = { ...first.secret, data: { ...first.secret?.data, note: b64("kept") } };
    const { plan } = afterWrite({ configMap: first.configMap, secret: withExtra }, { stanzas: [] }, at(60));
    expect(plan.secret?.data).toEqual({ note: b64("kept") });
    expect(plan.configMap?.data).toEqual(lateSealConfigData("vault", []));
    expect(plan.configMap?.data?.["seal.hcl"]).not.toContain("seal");
  });

  test("rewrites keep what others put on the objects and carry the resourceVersion, so a concurrent change fails instead of being lost", () => {
    const existing: ConfigMapLike = {
      metadata: {
        name: "vault-unlock-seal",
        namespace: "vault-unlock",
        resourceVersion: "4711",
        labels: { team: "platform" },
        annotations: { "example.com/owner": "ops" },
        managedFields: [{ manager: "kubectl" }],
      },
      data: { "seal.hcl": "\n" },
    };
    const { plan } = afterWrite({ configMap: existing }, transit(), T0);
    expect(plan.configMap?.metadata).toMatchObject({
      resourceVersion: "4711",
      labels: { team: "platform" },
      annotations: { "example.com/owner": "ops" },
    });
    expect(plan.configMap?.metadata?.managedFields).toBeUndefined();
  });

  test(`the history keeps the last ${HISTORY_LIMIT} changes`, () => {
    let state: { configMap?: ConfigMapLike; secret?: SecretLike } = {};
    for (let i = 0; i < HISTORY_LIMIT + 5; i++) state = afterWrite(state, transit(`hvs.token-${i}`), at(i * 60));
    const history = historyOf(state.configMap);
    expect(history).toHaveLength(HISTORY_LIMIT);
    expect(history[history.length - 1]).toEqual({
      digest: sealSettingsDigest(transit(`hvs.token-${HISTORY_LIMIT + 4}`)),
      at: at((HISTORY_LIMIT + 4) * 60).toISOString(),
    });
  });
});

describe("appliedSeal on Kubernetes: reading the settings back", () => {
  test("reads back exactly the settings applied (same digest), token from the Secret", () => {
    const seal = transit("hvs.token-one", [{ ...toVault, disabled: true }, toHelper]);
    const written = afterWrite({}, seal, T0);
    const read = storedSeal(place, written.configMap, written.secret);
    expect(read.settings).toEqual(seal);
    expect(sealSettingsDigest(read.settings)).toBe(sealSettingsDigest(seal));
  });

  test("without a ConfigMap: Shamir, or the seal rendered into server.hcl, with the Secret's token", () => {
    expect(storedSeal(place, undefined, undefined).settings).toEqual({ stanzas: [], transitToken: undefined });
    const born = { ...place, serverConfigSeals: [toVault] };
    expect(storedSeal(born, undefined, { data: { token: b64("hvs.t") } }).settings).toEqual({ stanzas: [toVault], transitToken: "hvs.t" });
  });

  test("a seal.hcl written by someone else cannot be read back: refused, naming the ConfigMap and what to do", () => {
    const foreign: ConfigMapLike = { metadata: { name: "vault-unlock-seal" }, data: { "seal.hcl": 'seal "transit" {}\n' } };
    expect(() => storedSeal(place, foreign, undefined)).toThrow(
      /ConfigMap vault-unlock\/vault-unlock-seal: holds a seal.hcl that the node adapter did not write .*\(applySeal\) or delete the ConfigMap/,
    );
  });

  test("a hand-edited annotation is reported, not guessed at", () => {
    const written = afterWrite({}, transit(), T0).configMap!;
    const broken = {
      ...written,
      metadata: { ...written.metadata, annotations: { ...written.metadata?.annotations, [SEAL_ANNOTATIONS.stanzas]: "{not json" } },
    };
    expect(() => storedSeal(place, broken, undefined)).toThrow(
      `ConfigMap vault-unlock-seal annotation ${SEAL_ANNOTATIONS.stanzas}: is not valid JSON`,
    );
  });
});

describe("refusals", () => {
  test.each<[string, SealSettings, SealStanza[] | undefined, string]>([
    [
      "per-block tokens in env vars",
      {
        stanzas: [
          { ...toVault, disabled: true, tokenEnv: "BAO_OLD_SEAL_TOKEN" },
          { ...toHelper, tokenEnv: "BAO_NEW_SEAL_TOKEN" },
        ],
        tokenEnv: { BAO_OLD_SEAL_TOKEN: "a", BAO_NEW_SEAL_TOKEN: "b" },
      },
      undefined,
      "tokenEnv: per-block seal tokens (BAO_OLD_SEAL_TOKEN, BAO_NEW_SEAL_TOKEN) are not supported on Kubernetes yet",
    ],
    [
      "an env:// reference in a stanza",
      { stanzas: [{ ...toVault, tokenEnv: "HELPER_TOKEN" }] },
      undefined,
      "stanzas[0].tokenEnv: env://HELPER_TOKEN token references are not supported on Kubernetes yet",
    ],
    [
      "another seal for a cluster born with its seal in server.hcl",
      transit("t", [toHelper]),
      [toVault],
      "stanzas: this cluster's seal is rendered into its server.hcl",
    ],
  ])("%s", (_what, seal, born, message) => {
    const problems = sealProblemsOnKubernetes(seal, born);
    expect(problems.map((p) => p.message).join("\n")).toContain(message);
    expect(() => planSealWrite({ ...place, serverConfigSeals: born }, seal, {}, T0)).toThrow(
      problems.length > 1 ? InputErrors : InputError,
    );
  });

  test("invalid stanzas are refused by the core's checks before anything is written", () => {
    expect(() => planSealWrite(place, transit("t", [{ ...toVault, address: "http://vault:8200" }]), {}, T0)).toThrow("is not https");
  });

  test("a cluster born with its seal may still change its token: the ConfigMap then carries no seal.hcl (no second seal block)", () => {
    const born = { ...place, serverConfigSeals: [toVault] };
    const { plan } = afterWrite({}, transit("hvs.new"), T0, born);
    expect(plan.configMap?.data).toEqual({});
    expect(plan.secret?.data).toEqual({ token: b64("hvs.new") });
    // Pods started before ran the server.hcl seal without a token.
    expect(historyOf(plan.configMap)[0]).toEqual({ digest: sealSettingsDigest({ stanzas: [toVault] }), at: SINCE_EVER });
  });
});

describe("runningSealDigest's rule: which settings a pod started with", () => {
  const shamir = sealSettingsDigest({ stanzas: [] });
  const one = sealSettingsDigest(transit());
  const two = sealSettingsDigest(transit("hvs.token-two"));
  // Applied at T0 (Shamir → transit), then a new token at T0+60 s.
  const history = historyOf(afterWrite(afterWrite({}, transit(), T0), transit("hvs.token-two"), at(60)).configMap);

  test.each<[string, { podCreated?: Date; containerStarted?: Date }, string]>([
    ["a pod running since before the first apply runs Shamir", { podCreated: at(-3600), containerStarted: at(-3590) }, shamir],
    ["a pod created after the first change and its grace runs it", { podCreated: at(10), containerStarted: at(12) }, one],
    [
      "a pod started within the grace after a change counts as the older settings (restarted once more at worst)",
      { podCreated: at(61), containerStarted: at(62) },
      one,
    ],
    ["a pod created past the grace of the latest change runs it", { podCreated: at(65), containerStarted: at(70) }, two],
    [
      "a container restarted by the kubelet inside an old pod reads the new settings",
      { podCreated: at(-3600), containerStarted: at(300) },
      two,
    ],
    [
      "a new pod counts by its creation (API server clock) even when its node's clock is behind",
      { podCreated: at(65), containerStarted: at(30) },
      two,
    ],
    ["no times at all: unknown, so the core restarts it", {}, UNKNOWN_SEAL_DIGEST],
  ])("%s", (_what, started, expected) => {
    expect(runningDigest(history, "current", started, GRACE)).toBe(expected);
  });

  test("a pod older than every kept entry is unknown (and so restarted), never taken as up to date", () => {
    const recent = history.slice(1);
    expect(runningDigest(recent, "current", { podCreated: at(-3600), containerStarted: at(-3600) }, GRACE)).toBe(UNKNOWN_SEAL_DIGEST);
  });

  test("when the adapter never wrote the ConfigMap, every running pod runs the current settings", () => {
    expect(runningDigest([], "current", { podCreated: at(0) }, GRACE)).toBe("current");
  });

  test("restart() deletes no earlier than the grace after the last change, so the replacement is reported up to date", () => {
    const now = at(62); // 2 s after the token change
    const delay = restartDelayMs(history, now, GRACE);
    expect(delay).toBe(3000);
    // The replacement is created after the delete: at the earliest at now + delay.
    const created = new Date(now.getTime() + delay);
    expect(runningDigest(history, "current", { podCreated: created, containerStarted: at(0) }, GRACE)).toBe(two);
    expect(restartDelayMs(history, at(600), GRACE)).toBe(0);
    expect(restartDelayMs([], at(0), GRACE)).toBe(0);
  });
});
