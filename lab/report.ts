/**
 * The lab report: a table per scenario for the terminal, the same as JSON with stable field
 * names, and an SVG timeline (per cluster: ok / sealed / unreachable over time, scenario
 * boundaries marked) for people who would rather look than read.
 */
import * as os from "os";
import { Mark, Sample } from "./prober";
import { ScenarioResult } from "./scenarios";

export interface LabReport {
  /** Bump when a field changes meaning. */
  schemaVersion: 1;
  startedAt: string;
  machine: { cpus: number; cpuModel: string; memoryGiB: number; node: string; server: string };
  probeIntervalMs: number;
  bringUpMs: number;
  scenarios: ScenarioResult[];
  tokens: Record<string, string | number | boolean>;
  /** The availability targets the project set itself (README "Figures"), for comparison. */
  targets: Record<string, string>;
}

export const TARGETS: Record<string, string> = {
  "rolling-restart": "0 failed probes at 100 ms",
  "kill-active": "0 failed probes on the other cluster",
  "full-restart-vault-unlock": "0 failed probes on vault; vault-unlock unsealed < 5 s after its processes start",
  "full-restart-vault": "0 failed probes on vault-unlock; vault unsealed < 5 s after its processes start",
  partition: "< 5 s from the link's return to unsealed (peer gate; CrashLoopBackOff would be up to 300 s)",
  deadlock: "one command, < 30 s, no data lost",
  "key-rotation": "drift detected; recovery still works after the leader change",
};

export function machine(server: string): LabReport["machine"] {
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? "unknown",
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    server,
  };
}

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

export function renderTable(r: LabReport): string {
  const lines: string[] = [];
  lines.push(
    `Lab report — ${r.startedAt} — ${r.machine.cpus} × ${r.machine.cpuModel}, ${r.machine.memoryGiB} GiB, Node ${r.machine.node}, ${r.machine.server}`,
  );
  lines.push(
    `Probes every ${r.probeIntervalMs} ms on each cluster's Service (health + secret read). Bring-up (3 + 3 + 1 nodes, bootstrap, migration): ${s(r.bringUpMs)}`,
  );
  lines.push("");
  const head = [
    "scenario",
    "failed probes vault",
    "failed probes vault-unlock",
    "longest outage vault",
    "longest outage vault-unlock",
    "to all unsealed",
    "secret intact",
  ];
  const rows = r.scenarios.map((x) => [
    x.id,
    `${x.availability.vault.failed}/${x.availability.vault.probes}`,
    `${x.availability["vault-unlock"].failed}/${x.availability["vault-unlock"].probes}`,
    s(x.availability.vault.longestOutageMs),
    s(x.availability["vault-unlock"].longestOutageMs),
    s(x.timeToAllUnsealedMs),
    x.secretIntact ? "yes" : "NO",
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const fmt = (row: string[]) => "| " + row.map((c, i) => c.padEnd(widths[i])).join(" | ") + " |";
  lines.push(fmt(head), "|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|", ...rows.map(fmt));
  lines.push("");
  for (const x of r.scenarios) {
    lines.push(`${x.id}: ${x.title}`);
    lines.push(`  target: ${r.targets[x.id] ?? "-"}`);
    for (const [c, a] of Object.entries(x.availability)) {
      if (a.failed > 0)
        lines.push(
          `  failed probes on ${c}: ${Object.entries(a.failedBy)
            .map(([k, n]) => `${n} ${k}`)
            .join(", ")}`,
        );
    }
    for (const [k, v] of Object.entries(x.details)) lines.push(`  ${k}: ${v}`);
  }
  lines.push("", "Transit tokens at the end of the run:");
  for (const [k, v] of Object.entries(r.tokens)) lines.push(`  ${k}: ${v}`);
  return lines.join("\n");
}

const COLORS: Record<string, string> = { ok: "#2e9d52", sealed: "#f0a030", unreachable: "#d23c3c", error: "#8a3cd2" };

/** An SVG timeline: one lane per cluster, coloured by probe state, scenarios marked. */
export function renderSvg(samples: Sample[], marks: Mark[], clusters: string[], intervalMs: number): string {
  const end = Math.max(1, ...samples.map((x) => x.t), ...marks.map((m) => m.t));
  const width = 1200;
  const left = 110;
  const laneH = 28;
  const top = 40;
  const x = (t: number) => left + ((width - left - 10) * t) / end;
  const parts: string[] = [];
  clusters.forEach((c, lane) => {
    const y = top + lane * (laneH + 12);
    parts.push(`<text x="8" y="${y + 19}" font-size="13">${c}</text>`);
    const mine = samples.filter((p) => p.cluster === c);
    // Merge runs of the same state into one rectangle each.
    let i = 0;
    while (i < mine.length) {
      let j = i;
      while (j + 1 < mine.length && mine[j + 1].state === mine[i].state) j++;
      const t1 = j + 1 < mine.length ? mine[j + 1].t : mine[j].t + intervalMs;
      parts.push(
        `<rect x="${x(mine[i].t).toFixed(1)}" y="${y}" width="${Math.max(0.5, x(t1) - x(mine[i].t)).toFixed(1)}" height="${laneH}" fill="${COLORS[mine[i].state]}"><title>${c}: ${mine[i].state} ${(mine[i].t / 1000).toFixed(1)}–${(t1 / 1000).toFixed(1)} s</title></rect>`,
      );
      i = j + 1;
    }
  });
  const bottom = top + clusters.length * (laneH + 12);
  for (const m of marks.filter((k) => k.edge === "start")) {
    parts.push(
      `<line x1="${x(m.t).toFixed(1)}" x2="${x(m.t).toFixed(1)}" y1="${top - 14}" y2="${bottom}" stroke="#333" stroke-dasharray="3,3"/>`,
    );
    parts.push(`<text x="${(x(m.t) + 3).toFixed(1)}" y="${top - 18}" font-size="11">${m.scenario}</text>`);
  }
  const legend = Object.entries(COLORS).map(
    ([k, v], i) =>
      `<rect x="${left + i * 120}" y="${bottom + 10}" width="12" height="12" fill="${v}"/><text x="${left + i * 120 + 16}" y="${bottom + 21}" font-size="12">${k}</text>`,
  );
  parts.push(...legend, `<text x="${width - 200}" y="${bottom + 21}" font-size="12">${(end / 1000).toFixed(0)} s in all</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${bottom + 34}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${parts.join("\n")}\n</svg>\n`;
}
