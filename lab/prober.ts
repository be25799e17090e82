/**
 * The prober: what the article did with a 1 s loop from outside, ten times finer. Every
 * 100 ms it asks each cluster's Service for health and reads the secret written at the
 * start; a probe that does not return the secret within a second is a failure.
 */
import { VaultClient } from "../core/vault-client";
import { VaultApiError } from "../core/errors";
import { sleep } from "../core/wait";

export type ProbeState = "ok" | "sealed" | "unreachable" | "error";

export interface Sample {
  /** ms since the prober started. */
  t: number;
  cluster: string;
  state: ProbeState;
}

export interface ProbeTarget {
  cluster: string;
  /** A client for the cluster's Service, with a token that may read `secretPath`. */
  client: VaultClient;
  secretPath: string;
  secretValue: string;
}

export interface Mark {
  t: number;
  scenario: string;
  edge: "start" | "end";
}

export class Prober {
  readonly samples: Sample[] = [];
  readonly marks: Mark[] = [];
  private running = false;
  private loop?: Promise<void>;
  readonly t0 = Date.now();

  constructor(
    private readonly targets: ProbeTarget[],
    readonly intervalMs = 100,
  ) {}

  now(): number {
    return Date.now() - this.t0;
  }

  private async probe(target: ProbeTarget): Promise<ProbeState> {
    const c = target.client;
    try {
      const h = await c.request<{ sealed: boolean }>("GET", "sys/health?standbyok=true", { okStatuses: [429, 503, 501], timeoutMs: 1000 });
      if (h.body.sealed || h.status === 503) return "sealed";
      if (h.status !== 200 && h.status !== 429) return "error";
      const r = await c.request<{ data: { value: string } }>("GET", target.secretPath, { timeoutMs: 1000 });
      return r.body.data.value === target.secretValue ? "ok" : "error";
    } catch (e) {
      if (e instanceof VaultApiError) return e.status === 503 ? "sealed" : "error";
      return "unreachable";
    }
  }

  start(): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        const began = Date.now();
        const t = this.now();
        const states = await Promise.all(this.targets.map((x) => this.probe(x)));
        states.forEach((state, i) => this.samples.push({ t, cluster: this.targets[i].cluster, state }));
        await sleep(Math.max(0, this.intervalMs - (Date.now() - began)));
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  mark(scenario: string, edge: "start" | "end"): void {
    this.marks.push({ t: this.now(), scenario, edge });
  }
}

export interface Availability {
  probes: number;
  failed: number;
  /** Longest run of failed probes, from the first failure to the next success (ms). */
  longestOutageMs: number;
  /** Failed probes by what they saw: sealed, unreachable, error (an HTTP error or a wrong answer). */
  failedBy: Partial<Record<ProbeState, number>>;
}

/** Availability of one cluster between two prober times. */
export function availability(samples: Sample[], cluster: string, from: number, to: number): Availability {
  const mine = samples.filter((s) => s.cluster === cluster && s.t >= from && s.t <= to);
  let longest = 0;
  let outageStart: number | undefined;
  for (const s of mine) {
    if (s.state !== "ok") outageStart ??= s.t;
    else if (outageStart !== undefined) {
      longest = Math.max(longest, s.t - outageStart);
      outageStart = undefined;
    }
  }
  if (outageStart !== undefined && mine.length > 0) longest = Math.max(longest, mine[mine.length - 1].t - outageStart);
  const failedBy: Partial<Record<ProbeState, number>> = {};
  for (const s of mine) if (s.state !== "ok") failedBy[s.state] = (failedBy[s.state] ?? 0) + 1;
  return { probes: mine.length, failed: mine.filter((s) => s.state !== "ok").length, longestOutageMs: longest, failedBy };
}
