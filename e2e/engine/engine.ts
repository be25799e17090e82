/**
 * TEST EQUIPMENT (engine stand-in for the e2e runs, not part of the product): what happens to
 * one registered resource, by type: Kubernetes objects applied and awaited, tls/random made
 * for real (or kept when their inputs did not change), dynamic resources through their
 * serialized provider, StackReferences from the other stack's recorded outputs, anything else
 * recorded as given. Each finished step is written to the state at once, so a failed run
 * keeps what succeeded and a re-run continues.
 */
import { randomUUID } from "crypto";
import { checkInputs, createResource, deleteResource, diffResource, isDynamicType, loadProvider, updateResource } from "./dynamic";
import { timeoutSeconds } from "./kube-await";
import { applyObject, awaitObject, deleteObject, describe, desiredObject, KubeTarget, kubeTarget } from "./kubernetes";
import type { Registration } from "./monitor";
import { createRandom, RANDOM_SECRET_OUTPUTS } from "./random";
import { loadState, Op, ResourceRecord, saveState, StackState, statePath, StepRecord, stepLine } from "./state";
import { createTls, TLS_SECRET_OUTPUTS } from "./tls";
import { jsonClean, Props, sameJson, topKey, unwrapSecrets, wrapSecrets } from "./values";

const isKubernetesType = (type: string) =>
  /^kubernetes:[^:]+:[^:]+$/.test(type) && !type.startsWith("kubernetes:yaml") && !type.startsWith("kubernetes:helm");

export class ProtectedError extends Error {}

export class Engine {
  readonly registered = new Set<string>();
  readonly steps: StepRecord[] = [];
  readonly errors: string[] = [];
  /** The bare messages of failed steps (the SDK re-raises them wrapped, as unhandled rejections). */
  readonly failures: string[] = [];
  inFlight = 0;
  private stopped = false;
  private targets = new Map<string, KubeTarget>();

  constructor(
    readonly state: StackState,
    readonly stateDir: string,
    readonly log: (line: string) => void,
  ) {}

  save(): void {
    saveState(this.stateDir, this.state);
  }

  private step(r: { urn: string; type: string; name: string }, op: Op, started: number, error?: string): void {
    const s: StepRecord = { urn: r.urn, type: r.type, name: r.name, op, ms: Date.now() - started };
    this.steps.push(s);
    this.log(error === undefined ? stepLine(s) : `${stepLine(s)}: ${error}`);
  }

  /**
   * No registration is done from now on (the run settled after a failure, as the real engine
   * stops at one): a late one is never answered, so it does no work while the state and the
   * summary are written, and raises no rejection once the run's handler is gone.
   */
  stop(): void {
    this.stopped = true;
  }

  /** The monitor's handler: never throws anything but the step's own error. */
  async handle(reg: Registration): Promise<{ id: string; state: Props }> {
    if (this.stopped) return new Promise(() => {});
    const started = Date.now();
    this.inFlight++;
    try {
      if (this.registered.has(reg.urn)) throw new Error(`duplicate resource URN ${reg.urn}: two resources of this type have the same name`);
      this.registered.add(reg.urn);
      const { value, secrets } = unwrapSecrets(reg.inputs);
      const inputs = jsonClean(value as Props);
      const old = this.state.resources[reg.urn];
      const { op, record } = await this.apply(reg, inputs, secrets, old);
      this.state.resources[reg.urn] = record;
      this.save();
      this.step(reg, op, started);
      return { id: record.id, state: wrapSecrets(record.outputs, record.secretOutputs) };
    } catch (e) {
      const message = (e as Error).message ?? String(e);
      this.errors.push(`${reg.type} ${reg.name}: ${message}`);
      this.failures.push(message);
      this.step(reg, "failed", started, message);
      throw e;
    } finally {
      this.inFlight--;
    }
  }

  private record(
    reg: Registration,
    inputs: Props,
    secretInputs: string[],
    id: string,
    outputs: Props,
    extraSecrets: string[] = [],
  ): ResourceRecord {
    const secretOutputs = [...new Set([...secretInputs.map(topKey), ...reg.additionalSecretOutputs, ...extraSecrets])].filter(
      (k) => k in outputs,
    );
    const providerUrn = reg.provider ? reg.provider.split("::").slice(0, -1).join("::") : "";
    const dependencies = [...new Set([...reg.dependencies, ...(reg.parent ? [reg.parent] : []), ...(providerUrn ? [providerUrn] : [])])];
    return {
      urn: reg.urn,
      type: reg.type,
      name: reg.name,
      custom: reg.custom,
      id,
      inputs,
      outputs: jsonClean(outputs),
      secretInputs,
      secretOutputs,
      provider: reg.provider || undefined,
      parent: reg.parent || undefined,
      dependencies,
      protect: reg.protect,
      deleteBeforeReplace: reg.deleteBeforeReplace,
    };
  }

  private async apply(
    reg: Registration,
    inputs: Props,
    secretInputs: string[],
    old?: ResourceRecord,
  ): Promise<{ op: Op; record: ResourceRecord }> {
    const rec = (id: string, outputs: Props, extra?: string[]) => this.record(reg, inputs, secretInputs, id, outputs, extra);
    const unchanged = old !== undefined && sameJson(old.inputs, inputs);
    if (reg.type === "pulumi:pulumi:StackReference") return { op: "read", record: this.stackReference(reg, inputs, secretInputs) };
    if (!reg.custom || reg.type.startsWith("pulumi:providers:")) {
      return {
        op: old === undefined ? "create" : unchanged ? "same" : "update",
        record: rec(old?.id ?? (reg.custom ? randomUUID() : ""), inputs),
      };
    }
    if (reg.type.startsWith("tls:") || reg.type.startsWith("random:")) {
      const extra = reg.type.startsWith("tls:") ? TLS_SECRET_OUTPUTS : RANDOM_SECRET_OUTPUTS;
      if (old && unchanged) return { op: "same", record: rec(old.id, old.outputs, extra) };
      const made = reg.type.startsWith("tls:") ? await createTls(reg.type, inputs) : createRandom(reg.type, inputs);
      // The tls and random providers replace on any input change; the old value just goes away.
      return { op: old ? "replace" : "create", record: rec(made.id, made.outputs, extra) };
    }
    if (isKubernetesType(reg.type)) return this.kubernetes(reg, inputs, old, rec);
    if (isDynamicType(reg.type)) return this.dynamic(reg, inputs, old, rec);
    throw new Error(`resource type ${reg.type} is not implemented by the engine stand-in`);
  }

  private target(providerRef: string): KubeTarget {
    const urn = providerRef ? providerRef.split("::").slice(0, -1).join("::") : "";
    let t = this.targets.get(urn);
    if (!t) {
      const p = urn ? this.state.resources[urn] : undefined;
      if (urn && !p) throw new Error(`Kubernetes provider ${urn} was not registered before the object that uses it`);
      t = kubeTarget(p?.inputs ?? {});
      this.targets.set(urn, t);
    }
    return t;
  }

  private async kubernetes(
    reg: Registration,
    inputs: Props,
    old: ResourceRecord | undefined,
    rec: (id: string, o: Props, extra?: string[]) => ResourceRecord,
  ) {
    const t = this.target(reg.provider);
    const obj = await desiredObject(t, reg.name, inputs, old?.outputs);
    const timeout = timeoutSeconds(obj, old ? reg.customTimeouts.update : reg.customTimeouts.create);
    const oldObj = old?.outputs as Props | undefined;
    const { live, replaced } = await applyObject(t, obj, timeout, !(old?.protect ?? false));
    // An unchanged object that the API server left at the same generation is what the real
    // engine would not touch at all: no await (its pods may legitimately be unready now).
    const same =
      old !== undefined &&
      sameJson(old.inputs, inputs) &&
      !replaced &&
      (live.metadata as Props)?.generation === (oldObj?.metadata as Props | undefined)?.generation;
    let awaited: Props;
    try {
      awaited = same ? live : await awaitObject(t, live, timeout);
    } catch (e) {
      // As the engine's "created but failed to initialize": the object exists, so it is
      // recorded (a re-run awaits it again, a later run without it deletes it).
      this.state.resources[reg.urn] = rec(`${obj.metadata.namespace ? `${obj.metadata.namespace}/` : ""}${obj.metadata.name}`, {
        ...live,
        metadata: { ...(live.metadata as Props), managedFields: undefined },
      });
      this.save();
      throw e;
    }
    const moved = oldObj && describe(oldObj) !== describe(awaited) ? oldObj : undefined;
    if (moved) {
      if (old!.protect)
        throw new ProtectedError(
          `${reg.urn} is protected: it would move from ${describe(moved)} to ${describe(awaited)} (a replacement); set protect: false first`,
        );
      this.state.pendingDeletes.push({ ...old!, outputs: moved });
    }
    const outputs = { ...awaited, metadata: { ...(awaited.metadata as Props), managedFields: undefined } };
    const secretKinds = awaited.kind === "Secret" ? ["data", "stringData"] : [];
    const op: Op = old === undefined ? "create" : replaced || moved ? "replace" : same ? "same" : "update";
    return {
      op,
      record: rec(
        `${(awaited.metadata as Props).namespace ? `${(awaited.metadata as Props).namespace}/` : ""}${(awaited.metadata as Props).name}`,
        outputs,
        secretKinds,
      ),
    };
  }

  private async dynamic(reg: Registration, inputs: Props, old: ResourceRecord | undefined, rec: (id: string, o: Props) => ResourceRecord) {
    const provider = loadProvider(inputs.__provider);
    const checked = await checkInputs(provider, old?.inputs ?? {}, inputs);
    if (!old) {
      const made = await createResource(provider, checked);
      return { op: "create" as Op, record: { ...rec(made.id, made.outputs), inputs: checked } };
    }
    const diff = await diffResource(provider, old.id, old.outputs, old.inputs, checked);
    if (!diff.changes) return { op: "same" as Op, record: { ...rec(old.id, old.outputs), inputs: checked } };
    if (diff.replaces.length === 0) {
      const outputs = await updateResource(provider, old.id, old.outputs, checked);
      return { op: "update" as Op, record: { ...rec(old.id, outputs), inputs: checked } };
    }
    if (old.protect)
      throw new ProtectedError(
        `${reg.urn} is protected and its diff asks for a replacement (${diff.replaces.join(", ")}): set protect: false first, or keep those inputs`,
      );
    if (diff.deleteBeforeReplace || reg.deleteBeforeReplace) {
      await this.deleteRecord(old);
      delete this.state.resources[old.urn];
      this.save();
    } else {
      this.state.pendingDeletes.push(old);
    }
    const made = await createResource(provider, checked);
    return { op: "replace" as Op, record: { ...rec(made.id, made.outputs), inputs: checked } };
  }

  private stackReference(reg: Registration, inputs: Props, secretInputs: string[]): ResourceRecord {
    const name = String(inputs.name ?? reg.id ?? reg.name);
    const stack = name.split("/").pop()!;
    const other = loadState(this.stateDir, stack);
    if (Object.keys(other.resources).length === 0 && Object.keys(other.outputs).length === 0) {
      throw new Error(
        `StackReference "${name}": no recorded run of stack "${stack}" in ${statePath(this.stateDir, stack)} (run the engine stand-in "up --stack ${stack}" first)`,
      );
    }
    const outputs = Object.fromEntries(Object.entries(other.outputs).map(([k, o]) => [k, o.value]));
    const secretOutputNames = Object.entries(other.outputs)
      .filter(([, o]) => o.secret)
      .map(([k]) => k);
    // As the real engine: the outputs map is secret as a whole when it holds a secret; the
    // SDK's getOutput then un-taints the names not listed in secretOutputNames.
    return this.record(
      reg,
      inputs,
      secretInputs,
      name,
      { name, outputs, secretOutputNames },
      secretOutputNames.length > 0 ? ["outputs"] : [],
    );
  }

  /** Deletes what a record stands for (protect checked by the caller's plan). */
  async deleteRecord(r: ResourceRecord): Promise<void> {
    if (r.protect)
      throw new ProtectedError(
        `${r.urn} is protected: it is no longer in the program, but a protected resource is never deleted (set protect: false first, or remove it from the state)`,
      );
    if (isKubernetesType(r.type)) {
      const obj = r.outputs as Props;
      await deleteObject(this.target(r.provider ?? ""), obj as never, timeoutSeconds(obj, undefined));
    } else if (isDynamicType(r.type)) {
      await deleteResource(loadProvider(r.outputs.__provider ?? r.inputs.__provider), r.id, r.outputs);
    }
  }

  /** Deletes records, dependents first; stops at the first failure (the rest stay recorded). */
  async deleteAll(records: ResourceRecord[], onDeleted: (r: ResourceRecord) => void): Promise<void> {
    const left = new Map(records.map((r) => [r, true]));
    while (left.size > 0) {
      // A record can go when nothing still left depends on it.
      const next = [...left.keys()].find((r) => ![...left.keys()].some((o) => o !== r && o.dependencies.includes(r.urn)));
      const r = next ?? [...left.keys()][0];
      const started = Date.now();
      try {
        await this.deleteRecord(r);
      } catch (e) {
        const message = (e as Error).message ?? String(e);
        this.errors.push(`${r.type} ${r.name}: ${message}`);
        this.step(r, "failed", started, message);
        return;
      }
      left.delete(r);
      onDeleted(r);
      this.save();
      this.step(r, "delete", started);
    }
  }
}
