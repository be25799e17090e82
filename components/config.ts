/**
 * Each stack's config, parsed once into a typed object with a schema. Every problem is
 * reported at once, each with its key path, before any resource is registered: a bad
 * value must never leave half a deployment behind.
 */
import { isIP } from "net";
import { z } from "zod";
import type { VaultExposeArgs } from "./vault-cluster";
import { DEFAULT_TOKEN_PERIOD } from "../core/steps/transit-link";

const NS = "vault-mutual-unseal";

const httpsUrl = z
  .string()
  .refine((s) => {
    try {
      return new URL(s).protocol === "https:";
    } catch {
      return false;
    }
  }, "must be an https:// URL: the transit link carries the keys that unseal a cluster")
  .refine((s) => {
    try {
      return !isIP(new URL(s).hostname.replace(/^\[|\]$/g, ""));
    } catch {
      return true; // reported above
    }
  }, "must name its host by DNS, not by IP address: the certificate is issued for that name and the seal checks it (tls_server_name)");

const duration = z.string().regex(/^[1-9]\d*(s|m|h)$/, "must be a duration such as 720h, 30m or 3600s (not 0)");

const oddReplicas = z
  .number()
  .int()
  .min(1)
  .refine((n) => n % 2 === 1, "must be odd (Raft and Consul need a majority: 1, 3, 5)");

const dnsLabel = z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, "must be a Kubernetes name (lower-case letters, digits, '-')");

const kubeContext = z.string().min(1, "name a kubeconfig context (kubectl config get-contexts)");

const stackName = z.string().regex(/^[^/\s]+\/[^/\s]+\/[^/\s]+$/, "must be organization/project/stack");

const cidr = z.string().regex(/^(\d{1,3}(\.\d{1,3}){3}\/\d{1,2}|[0-9A-Fa-f:]+\/\d{1,3})$/, "must be a CIDR range such as 10.20.0.0/16");

/**
 * A Service that reaches the cluster's unsealed nodes from outside its Kubernetes cluster,
 * with TLS passed through to Vault (its certificate names the address's host).
 * "none": the address is routed by other means (a mesh, a TLS-passthrough Ingress).
 */
const exposeFields = z.object({
  type: z.enum(["LoadBalancer", "NodePort", "none"]),
  loadBalancerIP: z.string().min(1).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  /** Who may connect (loadBalancerSourceRanges); default: anyone the network lets through. */
  sourceRanges: z.array(cidr).min(1).optional(),
  /** A fixed node port (Kubernetes' range 30000-32767), so that the peer's address can name it before the Service exists. */
  nodePort: z.number().int().min(30000).max(32767).optional(),
});

/** Rules between expose's keys, for every stack's expose. */
function exposeRules(e: z.infer<typeof exposeFields>, ctx: z.RefinementCtx): void {
  // Kubernetes refuses these on other Service types (and a NodePort would not enforce the ranges).
  for (const key of ["loadBalancerIP", "sourceRanges"] as const) {
    if (e[key] !== undefined && e.type !== "LoadBalancer")
      ctx.addIssue({ code: "custom", path: [key], message: `applies to type LoadBalancer only (type is ${e.type})` });
  }
  if (e.nodePort !== undefined && e.type === "none")
    ctx.addIssue({ code: "custom", path: ["nodePort"], message: "applies to types NodePort and LoadBalancer only (type is none)" });
}

const expose = exposeFields.strict().superRefine(exposeRules);

/**
 * The helper's expose: it holds the key that unseals `vault` and stays unsealed between runs,
 * so a LoadBalancer must name who may connect, and a NodePort (which cannot: it opens the
 * helper to whoever reaches any node) needs the operator's explicit consent.
 */
const helperExpose = exposeFields
  .extend({
    /** true: the operator accepts a NodePort, fenced only by the helper's NetworkPolicy (where the network plugin enforces it). */
    allowNodePort: z.boolean().optional(),
  })
  .strict()
  .superRefine(exposeRules)
  .superRefine((e, ctx) => {
    if (e.type === "LoadBalancer" && e.sourceRanges === undefined)
      ctx.addIssue({
        code: "custom",
        path: ["sourceRanges"],
        message: "a LoadBalancer in front of the helper needs sourceRanges (vault's egress addresses): it holds the key that unseals vault",
      });
    if (e.type === "NodePort" && e.allowNodePort !== true)
      ctx.addIssue({
        code: "custom",
        path: ["type"],
        message:
          "NodePort is refused for the helper: a NodePort opens it to whoever reaches any node of its Kubernetes cluster (it has no sourceRanges), and the helper holds the key that unseals vault. Use { type: LoadBalancer, sourceRanges: [<vault's egress ranges>] }, or set expose.allowNodePort: true to accept the NodePort (then only the helper's NetworkPolicy fences it, where the network plugin enforces it)",
      });
    if (e.allowNodePort !== undefined && e.type !== "NodePort")
      ctx.addIssue({ code: "custom", path: ["allowNodePort"], message: `applies to type NodePort only (type is ${e.type})` });
  });

/** "preferred": pods spread over zones where the scheduler can; "required": at most one per zone (as many zones as pods). Hosts always differ. */
const zoneSpread = z.enum(["none", "preferred", "required"]).default("none");

/** false: the namespaces exist already (made by the platform team) and the stack only uses them. */
const createNamespaces = z.boolean().default(true);

/**
 * The keys and root token of an earlier init, to take over a cluster that is initialized
 * already (VaultInit's `adopt`), e.g. after its Pulumi state was lost. Secret: set it with
 * `pulumi config set --secret --path 'vault.adopt.rootToken' <token>` and
 * `pulumi config set --secret --path 'vault.adopt.keys[0]' <key>` (one per key; helper: `adopt.…`).
 * The messages never quote its values.
 */
const ADOPT_HOW = "set them with pulumi config set --secret --path";
const adopt = z
  .object(
    {
      keys: z
        .array(
          z
            .string({ error: "must be a key (base64 text) from the earlier init" })
            .min(1, "must be a key (base64 text) from the earlier init"),
          {
            error: `must be the list of keys from the earlier init (${ADOPT_HOW} '<cluster>.adopt.keys[0]' <key>, one per key)`,
          },
        )
        .min(1, "needs the keys from the earlier init (at least the threshold)"),
      rootToken: z
        .string({ error: `must be the root token from the earlier init (${ADOPT_HOW} '<cluster>.adopt.rootToken' <token>)` })
        .min(1, "must be the root token from the earlier init"),
    },
    { error: `must be { keys, rootToken } from the earlier init (${ADOPT_HOW} '<cluster>.adopt.rootToken' and '<cluster>.adopt.keys[i]')` },
  )
  .strict();

export type AdoptConfig = z.infer<typeof adopt>;

/** Where one Vault cluster of the pair runs. */
const clusterPlacement = z
  .object({
    /** kubeconfig context of the Kubernetes cluster it runs in. */
    context: kubeContext,
    namespace: dnsLabel,
    /**
     * How the peer cluster's seal reaches this one when the two run in different Kubernetes
     * clusters (e.g. a LoadBalancer or Ingress address); in one Kubernetes cluster the
     * Service DNS name is used.
     */
    transitAddress: httpsUrl.optional(),
    /** How transitAddress reaches it; default LoadBalancer when the two run in different Kubernetes clusters. */
    expose: expose.optional(),
    /** Keys and root token of an earlier init of this cluster, to take it over (secret config). */
    adopt: adopt.optional(),
  })
  .strict();

/** What to put in a vault-unlock LoadBalancer's sourceRanges, said by both places that ask for it. */
const UNLOCK_SOURCE_RANGES =
  "sourceRanges (vault's egress addresses, usually the same ranges as vaultUnlock.peerCidrs): vault-unlock holds the key that unseals vault, and its NetworkPolicy alone is not enough in front of a load balancer (not every network plugin enforces it, and some load balancers hide the client's address)";

/** vault-unlock exists only to unseal `vault`: a NetworkPolicy admits only vault's pods, or these ranges. */
const unlockPlacement = clusterPlacement
  .extend({
    /** Source ranges of vault's traffic when it runs in another Kubernetes cluster (its nodes' or NAT egress addresses). */
    peerCidrs: z.array(cidr).min(1).optional(),
    /** As clusterPlacement's, but a LoadBalancer must say who may connect (the helper's rule). */
    expose: expose
      .refine((e) => e.type !== "LoadBalancer" || e.sourceRanges !== undefined, {
        message: `a LoadBalancer in front of vault-unlock needs ${UNLOCK_SOURCE_RANGES}`,
        path: ["sourceRanges"],
      })
      .optional(),
  })
  .strict();

/** What both stacks deploy the same way: the servers, their storage, their keys, their pods' placement. */
const deployment = {
  flavour: z.enum(["vault", "openbao"]),
  storage: z.enum(["raft", "consul"]),
  image: z.string().min(1).optional(),
  consulReplicas: oddReplicas.default(3),
  storageClass: z.string().min(1).optional(),
  keyShares: z.number().int().min(1).max(255).default(3),
  keyThreshold: z.number().int().min(1).default(2),
  zoneSpread,
  createNamespaces,
  /**
   * true: deleting a transit link (the stack, or the resource) revokes its seal token. Off by
   * default: nodes still running on the token would lose their seal; a periodic token nobody
   * renews dies after one period anyway.
   */
  revokeSealTokensOnDelete: z.boolean().default(false),
};

/**
 * Which program a stack runs. Default: the stack's name when it is "primary" or "helper", so
 * `prod-primary` and `staging-primary` set it (`pulumi config set role primary`).
 */
export const STACK_ROLES = ["primary", "helper"] as const;
export type StackRole = (typeof STACK_ROLES)[number];

export const primarySchema = z
  .object({
    role: z.literal("primary").optional(),
    ...deployment,
    replicas: oddReplicas.default(3),
    /** The seals renew their tokens; a token dies only after this long without renewal. */
    transitTokenPeriod: duration.default(DEFAULT_TOKEN_PERIOD),
    vault: clusterPlacement,
    vaultUnlock: unlockPlacement,
    /** Public host name of `vault`'s Ingress (vault-unlock has none). */
    ingressHost: z.string().min(1).optional(),
    /** Secret (in vault's namespace) with the certificate the Ingress presents; default `vault-edge-tls`, issued by the stack's edge CA for ingressHost. */
    ingressTlsSecret: z.string().min(1).optional(),
    /**
     * Where `vault`'s emergency seal reaches the helper (the address of the helper stack's
     * exposed Service), https. Set here, not read from the helper stack: no reference cycle.
     * The helper's certificate is issued here for its host.
     */
    helperAddress: httpsUrl.optional(),
    /** The helper stack's namespace: its certificate names its Services there. The helper stack reads it from here. */
    helperNamespace: dnsLabel.default("vault-helper"),
    /** The helper stack (organization/project/stack): its emergency seal token, read only when `emergency` is true. */
    helperStack: stackName.optional(),
    /** true: `vault`'s seal points at the helper (deadlock recovery); false/absent: at vault-unlock. */
    emergency: z.boolean().default(false),
    /**
     * Operators' PGP public keys (base64 of the binary key, `gpg --export <id> | base64 -w0`),
     * one per key share: `vault`'s and `vault-unlock`'s recovery keys are rotated to shares
     * encrypted to them, so the state holds no recovery key that works.
     */
    recoveryPgpKeys: z.array(z.string().min(1)).min(1).optional(),
  })
  .strict();

export const helperSchema = z
  .object({
    role: z.literal("helper").optional(),
    ...deployment,
    replicas: oddReplicas.default(1),
    context: kubeContext,
    /**
     * How `vault`'s emergency seal reaches the helper from its Kubernetes cluster (at the
     * primary's helperAddress). A LoadBalancer must name its sourceRanges; a NodePort needs
     * allowNodePort: the helper holds the key that unseals `vault`.
     */
    expose: helperExpose.optional(),
    /**
     * More source ranges of `vault`'s emergency seal for the helper's NetworkPolicy, beside
     * expose.sourceRanges (which it admits too): required when expose has none (NodePort,
     * none), or when the load balancer does not keep the client's address.
     */
    peerCidrs: z.array(cidr).min(1).optional(),
    /** The primary stack, as organization/project/stack, for its outputs (the key backup, the helper's certificate and namespace). */
    primaryStack: stackName,
    /** Keys and root token of an earlier init of the helper, to take it over (secret config). */
    adopt: adopt.optional(),
  })
  .strict();

export type PrimaryConfig = z.infer<typeof primarySchema>;
export type ExposeConfig = z.infer<typeof expose>;
export type HelperExposeConfig = z.infer<typeof helperExpose>;

/** The external Service an `expose` value asks for; none for `type: none` or no value. */
export function exposeArgs(e: ExposeConfig | HelperExposeConfig | undefined): VaultExposeArgs | undefined {
  if (!e || e.type === "none") return undefined;
  // allowNodePort is the operator's consent, checked by the schema: no field of the Service.
  const service: VaultExposeArgs & { allowNodePort?: boolean } = { ...e, type: e.type };
  delete service.allowNodePort;
  return service;
}
export type HelperConfig = z.infer<typeof helperSchema>;

/**
 * What the helper's NetworkPolicy admits `vault`'s emergency seal from: the LoadBalancer's
 * sourceRanges and peerCidrs, each range once. Never empty for a parsed config (helperProblems).
 */
export function helperPeerCidrs(cfg: HelperConfig): string[] {
  return [...new Set([...(cfg.expose?.sourceRanges ?? []), ...(cfg.peerCidrs ?? [])])];
}

/** Every problem of a stack's config, each with its key path, in one error. */
export class ConfigError extends Error {
  constructor(readonly problems: { key: string; message: string }[]) {
    super(
      `invalid stack config (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n` +
        problems.map((p) => `  ${p.key}: ${p.message}`).join("\n"),
    );
    this.name = "ConfigError";
  }
}

export type Problem = { key: string; message: string };
const num = (v: unknown): number | undefined => (typeof v === "number" ? v : undefined);
const obj = (v: unknown): Record<string, unknown> => (typeof v === "object" && v !== null ? (v as Record<string, unknown>) : {});

/**
 * Rules between keys. They read the raw values defensively, so they are reported together
 * with the per-key problems instead of after those are fixed.
 */
function commonProblems(raw: Record<string, unknown>, defaults: { shares: number; threshold: number }): Problem[] {
  const p: Problem[] = [];
  const shares = raw.keyShares === undefined ? defaults.shares : num(raw.keyShares);
  const threshold = raw.keyThreshold === undefined ? defaults.threshold : num(raw.keyThreshold);
  if (shares !== undefined && threshold !== undefined) {
    if (threshold > shares)
      p.push({ key: "keyThreshold", message: `(${threshold}) is greater than keyShares (${shares}): the keys could never unseal` });
    else if (shares > 1 && threshold < 2) p.push({ key: "keyThreshold", message: "must be at least 2 when there are several key shares" });
  }
  if (raw.flavour === "openbao" && raw.storage === "consul")
    p.push({ key: "storage", message: "OpenBao has no Consul storage: use raft, or flavour vault" });
  return p;
}

function primaryProblems(raw: Record<string, unknown>): Problem[] {
  const p = commonProblems(raw, { shares: 3, threshold: 2 });
  if (raw.emergency === true && !raw.helperAddress)
    p.push({ key: "emergency", message: "needs helperAddress: the emergency seal points at the helper" });
  const pgp = raw.recoveryPgpKeys;
  const shares = raw.keyShares === undefined ? 3 : num(raw.keyShares);
  if (Array.isArray(pgp) && shares !== undefined && pgp.length !== shares)
    p.push({
      key: "recoveryPgpKeys",
      message: `needs one PGP key per key share: keyShares is ${shares} but ${pgp.length} key(s) are given`,
    });
  if (raw.emergency === true && !raw.helperStack)
    p.push({ key: "emergency", message: "needs helperStack: the emergency seal uses the helper stack's emergencySealToken output" });
  const v = obj(raw.vault);
  const vu = obj(raw.vaultUnlock);
  if (typeof v.context === "string" && typeof vu.context === "string") {
    if (v.context !== vu.context) {
      for (const [name, c] of [
        ["vault", v],
        ["vaultUnlock", vu],
      ] as const) {
        if (!c.transitAddress)
          p.push({
            key: `${name}.transitAddress`,
            message: "is required when vault and vaultUnlock run in different Kubernetes clusters (their contexts differ)",
          });
      }
      // The default exposure across clusters is a LoadBalancer (MutualUnsealPair), which would
      // have no sourceRanges: refuse it here rather than open vault-unlock to anyone.
      if (vu.expose === undefined) {
        p.push({
          key: "vaultUnlock.expose",
          message: `defaults to a LoadBalancer when vault runs in another Kubernetes cluster, and that LoadBalancer needs ${UNLOCK_SOURCE_RANGES}: set { type: LoadBalancer, sourceRanges: [<vault's egress ranges>] }, or type NodePort or none when you route it yourself`,
        });
      }
      if (!vu.peerCidrs) {
        p.push({
          key: "vaultUnlock.peerCidrs",
          message:
            "is required when vault runs in another Kubernetes cluster: vault-unlock's NetworkPolicy admits only vault's pods, so name the ranges vault's traffic arrives from (its nodes' or NAT egress addresses)",
        });
      }
    } else if (v.namespace !== undefined && v.namespace === vu.namespace) {
      p.push({ key: "vaultUnlock.namespace", message: "must differ from vault.namespace when both run in one Kubernetes cluster" });
    }
  }
  return p;
}

function parse<T>(schema: z.ZodType<T>, raw: Record<string, unknown>, cross: Problem[]): T {
  const r = schema.safeParse(raw);
  const problems: Problem[] = r.success
    ? []
    : r.error.issues.map((i) => {
        const path = i.path.map(String).join(".");
        const unknown =
          i.code === "unrecognized_keys"
            ? `unknown key(s) ${(i as { keys: string[] }).keys.join(", ")}: check the spelling (see the README's config reference)`
            : undefined;
        return { key: path || "(config)", message: unknown ?? i.message };
      });
  problems.push(...cross);
  if (problems.length > 0) throw new ConfigError(problems.map((x) => ({ key: `${NS}:${x.key}`, message: x.message })));
  return (r as { data: T }).data;
}

/**
 * Top-level keys whose values are text (strings, enums). Pulumi hands every value over as
 * text, objects as JSON; these must not be parsed as JSON, or a context named "2024" would
 * arrive as a number.
 */
function textKeys(schema: z.ZodObject): string[] {
  return Object.entries(schema.shape)
    .filter(([, t]) => {
      let x: z.ZodType = t as z.ZodType;
      while (x instanceof z.ZodOptional || x instanceof z.ZodDefault) x = x.unwrap() as z.ZodType;
      return x instanceof z.ZodString || x instanceof z.ZodEnum;
    })
    .map(([k]) => k);
}
export const PRIMARY_TEXT_KEYS = textKeys(primarySchema);
export const HELPER_TEXT_KEYS = textKeys(helperSchema);

/** `more`: problems found outside the schema (the kubeconfig's contexts), reported with the rest. */
export const parsePrimaryConfig = (raw: Record<string, unknown>, more: Problem[] = []): PrimaryConfig =>
  parse(primarySchema, raw, [...primaryProblems(raw), ...more]);
export const parseHelperConfig = (raw: Record<string, unknown>, more: Problem[] = []): HelperConfig =>
  parse(helperSchema, raw, [...helperProblems(raw), ...more]);

function helperProblems(raw: Record<string, unknown>): Problem[] {
  const p = commonProblems(raw, { shares: 3, threshold: 2 });
  if (raw.expose === undefined) {
    p.push({
      key: "expose",
      message:
        "is required: how vault's emergency seal reaches the helper from its cluster, e.g. { type: LoadBalancer, sourceRanges: [<vault's egress range>] }",
    });
  }
  const e = obj(raw.expose);
  // A LoadBalancer without sourceRanges is reported by the schema; NodePort and none have no ranges to reuse.
  if ((e.type === "NodePort" || e.type === "none") && raw.peerCidrs === undefined) {
    p.push({
      key: "peerCidrs",
      message: `is required with expose.type ${e.type}: the helper's NetworkPolicy admits vault's emergency seal only from named ranges (vault's nodes' or NAT egress addresses, or where your own route to the helper arrives from), and there are no sourceRanges to reuse`,
    });
  }
  return p;
}

/** The kubeconfig contexts a raw config names, with their key paths (read defensively: the schema judges the values). */
export function primaryContexts(raw: Record<string, unknown>): [string, unknown][] {
  return [
    ["vault.context", obj(raw.vault).context],
    ["vaultUnlock.context", obj(raw.vaultUnlock).context],
  ];
}
export const helperContexts = (raw: Record<string, unknown>): [string, unknown][] => [["context", raw.context]];

/**
 * The role of a stack: the `role` config key, else the stack's name when it is a role's name.
 * Anything else is refused with what to set, before any resource is registered.
 */
export function stackRole(stack: string, role: unknown): StackRole {
  if (role !== undefined) {
    if ((STACK_ROLES as readonly unknown[]).includes(role)) return role as StackRole;
    throw new ConfigError([{ key: `${NS}:role`, message: `must be "primary" or "helper", got ${JSON.stringify(role)}` }]);
  }
  if ((STACK_ROLES as readonly string[]).includes(stack)) return stack as StackRole;
  throw new ConfigError([
    {
      key: `${NS}:role`,
      message: `is not set and the stack's name "${stack}" is not a role: pulumi config set role primary (vault and vault-unlock) or helper (the deadlock helper)`,
    },
  ]);
}
