/**
 * Calling the provider objects the way the engine does, from tests: local clusters as inputs
 * (registered under their names, unregistered in afterAll), and typed shortcuts for the
 * results whose fields Pulumi's types leave optional.
 */
import * as pulumi from "@pulumi/pulumi";
import { NodeControl } from "../../core/nodes";
import { NodeAccess, registerLocalCluster } from "../../providers/node-access";

export class LocalAccess {
  private readonly undo: (() => void)[] = [];

  /** Registers `cluster` and returns the `{ kind: "local" }` input that names it. */
  of(cluster: NodeControl): NodeAccess {
    this.undo.push(registerLocalCluster(cluster.name, cluster));
    return { kind: "local", cluster: cluster.name };
  }

  clear(): void {
    for (const u of this.undo.splice(0)) u();
  }
}

type Provider<I, O> = pulumi.dynamic.ResourceProvider<I, O>;

/** check for a resource not created yet (no old inputs); fails the test on any failure. */
export async function checkNew<I, O>(p: Provider<I, O>, news: I): Promise<I> {
  const r = await p.check!({} as I, news);
  expect(r.failures ?? []).toEqual([]);
  return r.inputs!;
}

export interface State<O> {
  id: string;
  outs: O;
}

export async function create<I, O>(p: Provider<I, O>, inputs: I): Promise<State<O>> {
  const r = await p.create(inputs);
  expect(r.outs).toBeDefined();
  return { id: r.id, outs: r.outs! };
}

export async function update<I, O>(p: Provider<I, O>, state: State<O>, news: I): Promise<State<O>> {
  const r = await p.update!(state.id, state.outs, news);
  expect(r.outs).toBeDefined();
  return { id: state.id, outs: r.outs! };
}

export async function read<I, O>(p: Provider<I, O>, state: State<O>): Promise<State<O>> {
  const r = await p.read!(state.id, state.outs);
  expect(r.props).toBeDefined();
  return { id: r.id ?? state.id, outs: r.props! };
}
