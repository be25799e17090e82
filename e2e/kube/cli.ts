/**
 * Test equipment: `npm run kube -- up | down [--purge] | status`, the two Kubernetes
 * clusters the end-to-end run deploys onto (e2e/kube/layout.ts). Root only.
 */
import { ensureServerBinary } from "../../adapters/local/bao-binary";
import { builtBinaries, clustersHealth, down, up } from "./cluster";

async function main(argv: string[]): Promise<number> {
  const [command, ...flags] = argv;
  switch (command) {
    case "up":
      await up(ensureServerBinary());
      return 0;
    case "down":
      await down(flags.includes("--purge"));
      return 0;
    case "status": {
      // Never a build just to report: without binaries nothing of ours can run.
      const states = clustersHealth(builtBinaries() ?? "");
      for (const h of states) {
        const verdict =
          h.processes === 0
            ? "not running"
            : h.dead.length
              ? `degraded: stopped ${h.dead.join(", ")}`
              : `${h.apiReady ? "API ready" : "API not ready"}, ${h.readyNodes}/${h.nodes} nodes Ready`;
        process.stdout.write(`${h.name}: ${verdict}\n`);
      }
      return states.every((h) => h.processes > 0 && !h.dead.length && h.apiReady && h.readyNodes === h.nodes) ? 0 : 1;
    }
    default:
      process.stderr.write("usage: npm run kube -- up | down [--purge] | status\n");
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: Error) => {
    process.stderr.write(`kube: ${e.message}\n`);
    process.exit(1);
  },
);
