/**
 * Test equipment: `npm run e2e [-- --quick] [--keep]` and `npm run e2e -- down`.
 *
 * Clusters up (e2e/kube) if needed, both stack programs deployed through the engine
 * stand-in (e2e/engine), the checks of e2e/checks.ts in order, a summary with the figures.
 * Without --keep everything is stopped at the end, also when a check fails; --keep leaves
 * the clusters and the deployment running (kubeconfig .e2e/kubeconfig). --quick runs the
 * checks .ci/run needs (bootstrap, second run, auto-unseal after pod deletion).
 * `--only 3b,4` runs those checks against a deployment kept by an earlier --keep run.
 */
import * as fs from "fs";
import { ensureServerBinary } from "../adapters/local/bao-binary";
import { down, up } from "./kube/cluster";
import { CLUSTERS, KUBE_DIR } from "./kube/layout";
import { alive, recorded } from "./kube/processes";
import { STATE_DIR } from "./deployment";
import { autoUnseal, badInput, bootstrap, containerKilledWhilePeerDown, deadlockRunbook, Figures, keyRotation, secondRun } from "./checks";
import { deploymentTargets, describe } from "./observe";

interface Check {
  name: string;
  run: () => Promise<Figures>;
  quick: boolean;
}

const CHECKS: Check[] = [
  { name: "1. bootstrap from empty clusters", run: bootstrap, quick: true },
  { name: "2. a second run changes nothing", run: secondRun, quick: true },
  { name: "3. auto-unseal after every pod of a cluster is deleted", run: autoUnseal, quick: true },
  {
    name: "3b. a server killed while its peer is down waits at the peer gate, no crash loop",
    run: containerKilledWhilePeerDown,
    quick: true,
  },
  { name: "4. the deadlock runbook, as the README writes it", run: () => deadlockRunbook(), quick: false },
  { name: "5. key rotation: new backup, helper restored, runbook after a leader change", run: keyRotation, quick: false },
  { name: "6. bad input: clear errors, nothing changed", run: badInput, quick: false },
];

const say = (line: string) => process.stdout.write(`${line}\n`);

async function podStates(): Promise<string> {
  try {
    const t = await deploymentTargets();
    return (await Promise.all([t.vault, t.vaultUnlock, t.helper].map(describe))).join("\n");
  } catch (e) {
    return `(pods not described: ${(e as Error).message})`;
  }
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === "down") {
    await down(true);
    fs.rmSync(STATE_DIR, { recursive: true, force: true });
    return 0;
  }
  const keep = argv.includes("--keep");
  const quick = argv.includes("--quick");
  const only = argv.includes("--only") ? (argv[argv.indexOf("--only") + 1]?.split(",") ?? []) : undefined;
  const t0 = Date.now();
  const results: { name: string; ok: boolean; ms: number; figures: Figures; error?: string }[] = [];
  try {
    // A deployment from an earlier --keep run would make "bootstrap from empty clusters" untrue.
    if (only) {
      const running = CLUSTERS.every((c) => recorded(`${KUBE_DIR}/${c.name}`).some((p) => alive(p)));
      if (!fs.existsSync(STATE_DIR) || !running)
        throw new Error("--only runs checks against a kept deployment: run npm run e2e -- --keep first");
    } else if (CLUSTERS.some((c) => recorded(`${KUBE_DIR}/${c.name}`).length) || fs.existsSync(STATE_DIR)) {
      say("removing the clusters and deployment of an earlier run: the bootstrap starts from empty clusters");
      await down(true);
      fs.rmSync(STATE_DIR, { recursive: true, force: true });
    }
    const tUp = Date.now();
    await up(ensureServerBinary());
    say(`clusters up in ${((Date.now() - tUp) / 1000).toFixed(1)} s`);
    const chosen = CHECKS.filter((c) => (only ? only.includes(c.name.split(".")[0]) : !quick || c.quick));
    for (const check of chosen) {
      say(`\n== ${check.name}`);
      const c0 = Date.now();
      try {
        const figures = await check.run();
        results.push({ name: check.name, ok: true, ms: Date.now() - c0, figures });
        for (const [k, v] of Object.entries(figures)) say(`   ${k}: ${v}`);
        say(`   passed in ${((Date.now() - c0) / 1000).toFixed(1)} s`);
      } catch (e) {
        results.push({ name: check.name, ok: false, ms: Date.now() - c0, figures: {}, error: (e as Error).message });
        say(`   FAILED: ${(e as Error).message}\n   every pod:\n${(await podStates()).replace(/^/gm, "     ")}`);
        break;
      }
    }
  } finally {
    if (!keep) {
      say("\nstopping the clusters (--keep leaves them running)");
      await down(true);
      fs.rmSync(STATE_DIR, { recursive: true, force: true });
    } else {
      say("\nkept: kubeconfig .e2e/kubeconfig (contexts primary, helper, *-admin); npm run e2e -- down stops everything");
    }
  }
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  fs.mkdirSync(".e2e", { recursive: true });
  fs.writeFileSync(".e2e/e2e-results.json", JSON.stringify({ passed, failed, totalSeconds: (Date.now() - t0) / 1000, results }, null, 2));
  say(`\ne2e: ${passed} passed, ${failed} failed in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return failed || !results.length ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: Error) => {
    process.stderr.write(`e2e: ${e.message}\n`);
    process.exit(1);
  },
);
