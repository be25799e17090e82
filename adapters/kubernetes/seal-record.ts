/**
 * The seal settings of a cluster on Kubernetes, as the node adapter keeps them: the seal
 * ConfigMap (data from `lateSealConfigData`, read by the pods) and the token Secret, plus
 * annotations on the ConfigMap that let the adapter read the settings back and tell which
 * settings each running pod started with. Pure functions: no API calls here.
 *
 * Which settings a pod runs (the rule `runningDigest` implements)
 * ----------------------------------------------------------------
 * A Vault container reads seal.hcl and VAULT_TRANSIT_SEAL_TOKEN once, when it starts. Every
 * applySeal that changes the settings appends `{ digest, at }` to the ConfigMap's history
 * annotation, `at` being the API server's clock (its Date header) read just before the
 * writes. A container is taken to run the newest entry with
 *
 *     at + grace <= max(pod.metadata.creationTimestamp, container's state.running.startedAt)
 *
 * and, when no entry qualifies, `UNKNOWN_SEAL_DIGEST` (which matches nothing, so the core
 * restarts it). `grace` covers the kubelet's delay in seeing a changed ConfigMap or Secret,
 * the second-resolution timestamps and small clock skew. A container started within the grace
 * window is reported on the older settings: at worst it is restarted once more, never left
 * on stale settings while reported up to date.
 * - Restarts by the adapter: it deletes a pod no earlier than `at + grace` (API server clock),
 *   and the replacement pod is created after that, so its creationTimestamp alone proves it
 *   runs the latest settings, whatever the node's clock says.
 * - Starts by Kubernetes (eviction, node reboot, a crash-looping container that comes back):
 *   judged by the same rule; container restarts inside a pod are judged by the kubelet's
 *   startedAt, so node clocks must be within the grace of the API server's.
 * - Assumes one writer of the seal settings at a time (as Pulumi's stack lock gives) and a
 *   kubelet that sees ConfigMap/Secret changes within the grace (the default Watch strategy
 *   does in well under a second; raise the grace with the TTL-cache strategy).
 */
import { InputError, InputErrors, throwProblems } from "../../core/errors";
import { SealSettings, sealSettingsDigest } from "../../core/nodes";
import { SealStanza } from "../../core/render/seal";
import { Flavour } from "../../core/render/server-config";
import { TRANSIT_TOKEN_KEY } from "./names";
import { lateSealConfigData } from "./seal-config";

export const SEAL_ANNOTATIONS = {
  /** sealSettingsDigest of the applied settings (the newest history entry). */
  digest: "vault-mutual-unseal/seal-digest",
  /** When they were applied, API server clock, RFC 3339. */
  appliedAt: "vault-mutual-unseal/seal-applied-at",
  /** JSON `[{ digest, at }]`, oldest first: what pods started at any time run. */
  history: "vault-mutual-unseal/seal-history",
  /** JSON of the applied stanzas, so the settings can be read back without parsing HCL. */
  stanzas: "vault-mutual-unseal/seal-stanzas",
} as const;

/** Reported for a pod started before every recorded entry: matches no real digest. */
export const UNKNOWN_SEAL_DIGEST = "unknown";
/** The state before the adapter first wrote the ConfigMap holds "since ever". */
export const SINCE_EVER = new Date(0).toISOString();
/** Entries kept; a pod older than the oldest one is reported UNKNOWN_SEAL_DIGEST (and restarted). */
export const HISTORY_LIMIT = 16;

export interface SealHistoryEntry {
  digest: string;
  /** RFC 3339, API server clock. */
  at: string;
}

/**
 * The parts of a ConfigMap and a Secret this module reads and writes (client-node's
 * V1ConfigMap/V1Secret fit). Other metadata (owner references, finalizers…) is carried over
 * unchanged on a rewrite, since objects are copied whole.
 */
export interface ObjectMetaLike {
  name?: string;
  namespace?: string;
  resourceVersion?: string;
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
  managedFields?: unknown;
}
export interface ConfigMapLike {
  metadata?: ObjectMetaLike;
  data?: Record<string, string>;
}
export interface SecretLike {
  metadata?: ObjectMetaLike;
  type?: string;
  /** Base64, as the API returns it. */
  data?: Record<string, string>;
}

/** Where the seal lives for this cluster. */
export interface SealPlacement {
  namespace: string;
  configMap: string;
  secret: string;
  /** Labels for objects the adapter creates. */
  labels: Record<string, string>;
  /**
   * The stanzas rendered into server.hcl (VaultClusterArgs.seals) for a cluster born with its
   * seal; empty or absent for a cluster whose seal comes only from the seal ConfigMap.
   */
  serverConfigSeals?: SealStanza[];
}

/** What the adapter reads back from the cluster. */
export interface StoredSeal {
  settings: SealSettings;
  /** Oldest first; empty when the adapter never wrote the ConfigMap. */
  history: SealHistoryEntry[];
}

/** The problems that make `seal` impossible to apply on Kubernetes, each with its key path. */
export function sealProblemsOnKubernetes(seal: SealSettings, serverConfigSeals: SealStanza[] = []): InputError[] {
  const problems: InputError[] = [];
  const envTokens = Object.keys(seal.tokenEnv ?? {});
  if (envTokens.length > 0) {
    problems.push(
      new InputError(
        "tokenEnv",
        `per-block seal tokens (${envTokens.join(", ")}) are not supported on Kubernetes yet: the pod template passes only VAULT_TRANSIT_SEAL_TOKEN from the token Secret. Use one token valid on both unsealers, or migrate through Shamir`,
      ),
    );
  }
  seal.stanzas.forEach((s, i) => {
    if (s.tokenEnv !== undefined)
      problems.push(
        new InputError(
          `stanzas[${i}].tokenEnv`,
          `env://${s.tokenEnv} token references are not supported on Kubernetes yet: the pods get only VAULT_TRANSIT_SEAL_TOKEN`,
        ),
      );
  });
  if (serverConfigSeals.length > 0 && !sameStanzas(seal.stanzas, serverConfigSeals)) {
    problems.push(
      new InputError(
        "stanzas",
        "this cluster's seal is rendered into its server.hcl (VaultClusterArgs.seals): a seal ConfigMap would add a second seal block. Only its transit token can change at run time; change the seal itself through the VaultCluster component",
      ),
    );
  }
  return problems;
}

function sameStanzas(a: SealStanza[], b: SealStanza[]): boolean {
  return sealSettingsDigest({ stanzas: a }) === sealSettingsDigest({ stanzas: b });
}

/** Stanzas as JSON with sorted keys and no unset ones, so equal settings give equal text. */
function stanzasJson(stanzas: SealStanza[]): string {
  return JSON.stringify(
    stanzas.map((st) => {
      const o = st as unknown as Record<string, unknown>;
      return Object.fromEntries(
        Object.keys(o)
          .filter((k) => o[k] !== undefined)
          .sort()
          .map((k) => [k, o[k]]),
      );
    }),
  );
}

/** What every writer of the seal ConfigMap puts in it for `stanzas` (the adapter adds its history annotations). */
export interface SealConfigMapContent {
  /** seal.hcl and the peer gate's files; none when the seal is in server.hcl already. */
  data: Record<string, string>;
  /** The stanzas as JSON, so that the adapter reads the settings back without parsing HCL (storedSeal). */
  annotations: { [SEAL_ANNOTATIONS.stanzas]: string };
}

/**
 * The seal ConfigMap's content for `stanzas`, the one builder used by TransitUnsealLink (a
 * cluster born sealed) and by planSealWrite (a migration at run time), so that what one
 * writes the other reads back. `flavour` only decides whether env:// token references are
 * allowed (the adapter refuses them on Kubernetes before, so it passes "vault").
 */
export function sealConfigMapContent(flavour: Flavour, stanzas: SealStanza[], serverConfigSeals: SealStanza[] = []): SealConfigMapContent {
  return {
    data: serverConfigSeals.length > 0 ? {} : lateSealConfigData(flavour, stanzas),
    annotations: { [SEAL_ANNOTATIONS.stanzas]: stanzasJson(stanzas) },
  };
}

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
const unb64 = (s: string) => Buffer.from(s, "base64").toString("utf8");

/** The transit token in the Secret, if any. */
export function tokenOf(secret: SecretLike | undefined): string | undefined {
  const v = secret?.data?.[TRANSIT_TOKEN_KEY];
  return v === undefined ? undefined : unb64(v);
}

function parseJson<T>(where: string, text: string, valid: (v: unknown) => v is T): T {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new InputError(where, "is not valid JSON: was the annotation edited by hand? Apply the seal settings again to rewrite it");
  }
  if (!valid(v))
    throw new InputError(
      where,
      "does not have the expected shape: was the annotation edited by hand? Apply the seal settings again to rewrite it",
    );
  return v;
}

const isHistory = (v: unknown): v is SealHistoryEntry[] =>
  Array.isArray(v) &&
  v.every(
    (e) =>
      typeof e === "object" && e !== null && typeof e.digest === "string" && typeof e.at === "string" && !Number.isNaN(Date.parse(e.at)),
  );
const isStanzas = (v: unknown): v is SealStanza[] =>
  Array.isArray(v) && v.every((e) => typeof e === "object" && e !== null && e.type === "transit" && typeof e.address === "string");

/** The history recorded on the ConfigMap (empty when the adapter never wrote it). */
export function historyOf(cm: ConfigMapLike | undefined): SealHistoryEntry[] {
  const text = cm?.metadata?.annotations?.[SEAL_ANNOTATIONS.history];
  return text === undefined ? [] : parseJson(`ConfigMap ${cm?.metadata?.name} annotation ${SEAL_ANNOTATIONS.history}`, text, isHistory);
}

/**
 * The applied settings: the ConfigMap's recorded stanzas and the Secret's token. Without a
 * ConfigMap (or one without seal.hcl) pods run the server.hcl seal, if any, with the token.
 * A ConfigMap with a seal.hcl the adapter did not write cannot be read back: refused.
 */
export function storedSeal(p: SealPlacement, cm: ConfigMapLike | undefined, secret: SecretLike | undefined): StoredSeal {
  const transitToken = tokenOf(secret);
  const recorded = cm?.metadata?.annotations?.[SEAL_ANNOTATIONS.stanzas];
  if (recorded !== undefined) {
    const stanzas = parseJson(`ConfigMap ${p.configMap} annotation ${SEAL_ANNOTATIONS.stanzas}`, recorded, isStanzas);
    return { settings: { stanzas, transitToken }, history: historyOf(cm) };
  }
  if (cm?.data?.["seal.hcl"]) {
    throw new InputError(
      `ConfigMap ${p.namespace}/${p.configMap}`,
      `holds a seal.hcl that the node adapter did not write (no ${SEAL_ANNOTATIONS.stanzas} annotation), so its seal settings cannot be read back. Apply the seal settings through the adapter (applySeal) or delete the ConfigMap`,
    );
  }
  return { settings: { stanzas: p.serverConfigSeals ?? [], transitToken }, history: [] };
}

/** The objects to write for `seal`; an object is absent when its content already matches. */
export interface SealWritePlan {
  secret?: SecretLike;
  configMap?: ConfigMapLike;
  digest: string;
}

/**
 * What applySeal writes, given what exists now and the API server's time. The Secret goes
 * first: a run stopped between the two writes leaves the history without the new entry, so
 * pods started meanwhile are reported on the old settings and restarted again, never the
 * other way round.
 */
export function planSealWrite(
  p: SealPlacement,
  seal: SealSettings,
  current: { configMap?: ConfigMapLike; secret?: SecretLike },
  serverNow: Date,
): SealWritePlan {
  throwProblems(sealProblemsOnKubernetes(seal, p.serverConfigSeals));
  const digest = sealSettingsDigest(seal);
  const content = sealConfigMapContent("vault", seal.stanzas, p.serverConfigSeals);
  const data = content.data;
  const plan: SealWritePlan = { digest };

  const oldToken = tokenOf(current.secret);
  if (oldToken !== seal.transitToken && (current.secret || seal.transitToken !== undefined)) {
    const rest = { ...(current.secret?.data ?? {}) };
    delete rest[TRANSIT_TOKEN_KEY];
    plan.secret = {
      metadata: { ...keptMeta(current.secret?.metadata, p.labels), name: p.secret, namespace: p.namespace },
      type: current.secret?.type ?? "Opaque",
      data: seal.transitToken === undefined ? rest : { ...rest, [TRANSIT_TOKEN_KEY]: b64(seal.transitToken) },
    };
  }

  let history: SealHistoryEntry[];
  try {
    history = historyOf(current.configMap);
  } catch {
    history = [];
  }
  if (history.length === 0) {
    // What pods started before this first write run: the state without our ConfigMap, when there was none.
    let before = UNKNOWN_SEAL_DIGEST;
    try {
      before = sealSettingsDigest(storedSeal(p, current.configMap, current.secret).settings);
    } catch (e) {
      if (!(e instanceof InputError || e instanceof InputErrors)) throw e;
    }
    history = [{ digest: before, at: SINCE_EVER }];
  }
  const latest = history[history.length - 1];
  if (latest.digest !== digest) history = [...history, { digest, at: serverNow.toISOString() }].slice(-HISTORY_LIMIT);

  const annotations = {
    ...(current.configMap?.metadata?.annotations ?? {}),
    [SEAL_ANNOTATIONS.digest]: digest,
    [SEAL_ANNOTATIONS.appliedAt]: history[history.length - 1].at,
    [SEAL_ANNOTATIONS.history]: JSON.stringify(history),
    ...content.annotations,
  };
  const sameData = JSON.stringify(sorted(current.configMap?.data ?? {})) === JSON.stringify(sorted(data));
  const sameAnnotations = JSON.stringify(sorted(current.configMap?.metadata?.annotations ?? {})) === JSON.stringify(sorted(annotations));
  if (!current.configMap || !sameData || !sameAnnotations) {
    plan.configMap = {
      metadata: { ...keptMeta(current.configMap?.metadata, p.labels), name: p.configMap, namespace: p.namespace, annotations },
      data,
    };
  }
  return plan;
}

/** An existing object's metadata for a replace (resourceVersion included: a concurrent change fails), or labels for a new one. */
function keptMeta(meta: ObjectMetaLike | undefined, labels: Record<string, string>): ObjectMetaLike {
  if (!meta) return { labels };
  // managedFields sent back would overwrite the server's field ownership records.
  return { ...meta, managedFields: undefined };
}

function sorted(o: Record<string, string>): [string, string][] {
  return Object.entries(o).sort(([a], [b]) => a.localeCompare(b));
}

/** The newest applied-at in the history (undefined when the adapter never wrote the ConfigMap). */
export function latestAppliedAt(history: SealHistoryEntry[]): Date | undefined {
  const last = history[history.length - 1];
  return last && last.at !== SINCE_EVER ? new Date(last.at) : undefined;
}

/**
 * How long restart() waits before deleting a pod so that its replacement, created after the
 * delete, is past the grace of the last seal change (0 when it already is).
 */
export function restartDelayMs(history: SealHistoryEntry[], serverNow: Date, graceMs: number): number {
  const at = latestAppliedAt(history);
  return at ? Math.max(0, at.getTime() + graceMs - serverNow.getTime()) : 0;
}

/**
 * The digest a container runs, by the rule in the file comment. `history` empty means the
 * adapter never wrote the ConfigMap: every pod runs `currentDigest`.
 */
export function runningDigest(
  history: SealHistoryEntry[],
  currentDigest: string,
  started: { podCreated?: Date; containerStarted?: Date },
  graceMs: number,
): string {
  if (history.length === 0) return currentDigest;
  const times = [started.podCreated, started.containerStarted].filter((t): t is Date => t instanceof Date && !Number.isNaN(t.getTime()));
  if (times.length === 0) return UNKNOWN_SEAL_DIGEST;
  const since = Math.max(...times.map((t) => t.getTime()));
  let digest = UNKNOWN_SEAL_DIGEST;
  for (const e of history) {
    const at = Date.parse(e.at);
    if (e.at === SINCE_EVER || at + graceMs <= since) digest = e.digest;
  }
  return digest;
}
