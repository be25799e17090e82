/**
 * The lab's bootstrap: the pair's and the helper's plan (core/pair-plan.ts), the same steps
 * the stacks register, run here by calling the same providers' operations (check, then
 * create; or diff, then update when a record exists) on local clusters, in the plan's order.
 * What only the lab decides is what the stacks give to Kubernetes: a "cluster" step starts
 * the cluster's processes, and a born-sealed link writes the sealed cluster's seal settings
 * into the local adapter (the stacks: a ConfigMap and a Secret).
 *
 * Every finished step is recorded (`save`); a run given the records continues where the
 * last one stopped, and a finished step whose inputs did not change is not run again.
 */
import { SealSettings, sealSettingsDigest } from "../core/nodes";
import { ClusterRole, helperPlan, LinkStep, MigrationStep, pairPlan, PlanStep, RolloutStep, sealGrantsOf, stepOf } from "../core/pair-plan";
import { Flavour } from "../core/render/server-config";
import { TransitSeal } from "../core/render/seal";
import { auditDeviceOps } from "../providers/audit-device";
import { recoveryKeyRotationOps } from "../providers/recovery-key-rotation";
import { NodeAccess } from "../providers/node-access";
import { operatorTokenOps } from "../providers/operator-token";
import { ProviderOps } from "../providers/project-require";
import { sealMigrationOps } from "../providers/seal-migration";
import { sealRolloutOps } from "../providers/seal-rollout";
import { SupersededTokens } from "../providers/superseded-tokens";
import { transitKeyBackupOps } from "../providers/transit-key-backup";
import { transitKeyRestoreOps } from "../providers/transit-key-restore";
import { transitLinkOps } from "../providers/transit-link";
import { unsealOps } from "../providers/unseal";
import { vaultInitOps } from "../providers/vault-init";
import { DEFAULT_TOKEN_PERIOD } from "../core/steps/transit-link";

/** One finished step: the provider's id and outputs, as the engine would keep them in the state. */
export interface StepRecord {
  id: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each kind has its own outputs
  outs: any;
}
export type StepRecords = Record<string, StepRecord>;

/** What the lab's clusters are: the local adapter's clusters, by role. */
export interface LabCluster {
  readonly name: string;
  startAll(): Promise<void>;
  applySeal(seal: SealSettings): Promise<void>;
}

export interface LabPlanOptions {
  clusters: Record<ClusterRole, LabCluster>;
  /** How each sealed cluster's seal reaches its unsealer: address and TLS files as its nodes see them (the key comes from the plan). */
  sealTo: Record<"vault" | "vaultUnlock", Omit<TransitSeal, "type" | "mountPath" | "keyName">>;
  flavour: Flavour;
  shares?: number;
  threshold?: number;
  tokenPeriod?: string;
  /** Operators' PGP keys (base64), one per share: the plan must then have been made with them (labPlan). */
  recoveryPgpKeys?: string[];
  records?: StepRecords;
  save?: (records: StepRecords) => void | Promise<void>;
  log?: (msg: string) => void;
}

/** The lab's plan: the pair's steps, then the helper's (its backup from the pair's backup step). */
export function labPlan(names: Record<ClusterRole, string>, o: { recoveryPgpKeys?: boolean } = {}): PlanStep[] {
  return [...pairPlan(names, o), ...helperPlan(names.helper, names)];
}

/** The node access the providers get for a lab cluster (registered with registerLocalCluster under its name). */
const local = (c: LabCluster): NodeAccess => ({ kind: "local", cluster: c.name });

export async function runLabPlan(plan: PlanStep[], o: LabPlanOptions): Promise<StepRecords> {
  const records: StepRecords = { ...(o.records ?? {}) };
  const log = o.log ?? (() => undefined);
  const out = (name: string) => {
    const r = records[name];
    if (!r) throw new Error(`the plan's step ${name} has not run yet: the plan lists it too late`);
    return r.outs;
  };
  const init = (role: ClusterRole) => out(stepOf(plan, "init", { cluster: role }).name);
  // Every step after a cluster's init authenticates with its operator token: its root token is revoked.
  const admin = (role: ClusterRole): string => out(stepOf(plan, "operator-token", { cluster: role }).name).token;
  const nodes = (role: ClusterRole) => local(o.clusters[role]);
  const sealOf = (l: LinkStep): TransitSeal => {
    if (l.sealed === "helper") throw new Error(`the plan seals the helper (${l.name}): the helper is Shamir by design`);
    return { type: "transit", ...o.sealTo[l.sealed], mountPath: l.mountPath, keyName: l.keyName };
  };
  // The tokens a step's link replaced while alive, on the link's unsealer, when the plan has the step revoke them.
  const superseded = (s: RolloutStep | MigrationStep, l: LinkStep): SupersededTokens | undefined =>
    s.revokeSuperseded
      ? { unsealer: nodes(l.unsealer), adminToken: admin(l.unsealer), accessors: out(l.name).supersededAccessors ?? [] }
      : undefined;

  /** One provider step: check, then create, or diff and update against its record. */
  async function provider<I, O>(name: string, ops: ProviderOps<I, O>, inputs: I): Promise<void> {
    const old = records[name];
    const checked = await ops.check(old?.outs ?? {}, inputs);
    if (checked.failures?.length) throw new Error(`${name}: ${checked.failures.map((f) => `${f.property}: ${f.reason}`).join("; ")}`);
    const news = checked.inputs as I;
    if (!old) {
      log(`${name}: create`);
      const r = await ops.create(news);
      records[name] = { id: r.id, outs: r.outs };
    } else {
      const d = await ops.diff(old.id, old.outs, news);
      if (d.replaces?.length)
        throw new Error(`${name}: ${d.replaces.join(", ")} changed, which replaces it: the lab does not replace, start a new lab`);
      if (!d.changes) return;
      log(`${name}: update`);
      const r = await ops.update(old.id, old.outs, news);
      records[name] = { id: old.id, outs: r.outs };
    }
    await o.save?.(structuredClone(records));
  }

  for (const step of plan) {
    switch (step.kind) {
      case "cluster":
        log(`${step.name}: start`);
        await o.clusters[step.cluster].startAll();
        break;
      case "init":
        await provider(step.name, vaultInitOps, {
          nodes: nodes(step.cluster),
          kind: step.keys,
          shares: o.shares ?? 3,
          threshold: o.threshold ?? 2,
        });
        break;
      case "unseal":
        await provider(step.name, unsealOps, { nodes: nodes(step.cluster), keys: init(step.cluster).keys });
        break;
      case "operator-token":
        await provider(step.name, operatorTokenOps, {
          nodes: nodes(step.cluster),
          rootToken: init(step.cluster).rootToken,
          flavour: o.flavour,
          seals: sealGrantsOf(plan, step.cluster, o.tokenPeriod ?? DEFAULT_TOKEN_PERIOD),
        });
        break;
      case "audit":
        await provider(step.name, auditDeviceOps, { nodes: nodes(step.cluster), adminToken: admin(step.cluster) });
        break;
      case "link": {
        await provider(step.name, transitLinkOps, {
          nodes: nodes(step.unsealer),
          adminToken: admin(step.unsealer),
          mountPath: step.mountPath,
          keyName: step.keyName,
          policyName: step.policyName,
          displayName: step.displayName,
          allowBackup: step.allowBackup,
          createKey: step.createKey,
          keepAlive: step.keepAlive,
          tokenPeriod: o.tokenPeriod ?? DEFAULT_TOKEN_PERIOD,
        });
        // The sealed cluster starts on this seal: its settings exist before its nodes do.
        if (step.bornSealed) await o.clusters[step.sealed].applySeal({ stanzas: [sealOf(step)], transitToken: out(step.name).token });
        break;
      }
      case "rollout": {
        const l = stepOf(plan, "link", { name: step.link });
        const seal: SealSettings = { stanzas: [sealOf(l)], transitToken: out(l.name).token };
        await provider(step.name, sealRolloutOps, {
          nodes: nodes(step.cluster),
          sealDigest: sealSettingsDigest(seal),
          adminToken: admin(step.cluster),
          supersededTokens: superseded(step, l),
        });
        break;
      }
      case "migration": {
        const l = stepOf(plan, "link", { name: step.link });
        await provider(step.name, sealMigrationOps, {
          nodes: nodes(step.cluster),
          from: { type: "shamir" },
          to: sealOf(l),
          toToken: out(l.name).token,
          keys: init(step.cluster).keys,
          adminToken: admin(step.cluster),
          flavour: o.flavour,
          supersededTokens: superseded(step, l),
        });
        break;
      }
      case "backup": {
        const l = stepOf(plan, "link", { name: step.link });
        await provider(step.name, transitKeyBackupOps, {
          nodes: nodes(l.unsealer),
          token: admin(l.unsealer),
          mountPath: l.mountPath,
          keyName: l.keyName,
        });
        break;
      }
      case "recovery-rotation": {
        if (!o.recoveryPgpKeys) throw new Error(`${step.name}: the plan rotates recovery keys but no recoveryPgpKeys were given`);
        await provider(step.name, recoveryKeyRotationOps, {
          nodes: nodes(step.cluster),
          adminToken: admin(step.cluster),
          flavour: o.flavour,
          currentKeys: init(step.cluster).keys,
          shares: o.shares ?? 3,
          threshold: o.threshold ?? 2,
          pgpKeys: o.recoveryPgpKeys,
        });
        break;
      }
      case "restore": {
        const backup = out(plan.find((s) => s.kind === "backup")!.name);
        await provider(step.name, transitKeyRestoreOps, {
          nodes: nodes(step.cluster),
          token: admin(step.cluster),
          mountPath: step.mountPath,
          keyName: step.keyName,
          backup: backup.backup,
          latestVersion: backup.latestVersion,
          failOnDrift: step.failOnDrift,
        });
        break;
      }
    }
  }
  return records;
}
