/**
 * Shared set-up for real-server tests: the binary, a private CA and a scratch folder per
 * test file, and clusters that are always destroyed in afterAll, even when a test fails.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { binaryFlavour, findServerBinary } from "../../adapters/local/bao-binary";
import { LocalCluster, LocalClusterOptions } from "../../adapters/local/local-cluster";
import { LocalPki } from "../../adapters/local/pki";
import { ServiceProxy } from "../../adapters/local/service-proxy";

export interface Lab {
  dir: string;
  bin: string;
  flavour: "openbao" | "vault";
  pki: LocalPki;
  cluster(opts: Omit<LocalClusterOptions, "dir" | "bin" | "flavour" | "pki">): Promise<LocalCluster>;
  service(cluster: LocalCluster): Promise<ServiceProxy>;
  /** Stops every process and proxy this lab started and removes its folder. */
  destroy(): Promise<void>;
}

/** Binary, flavour and a fresh folder for a lab Topology in a test. */
export function labOptions(prefix: string): { dir: string; bin: string; flavour: "openbao" | "vault" } {
  if (process.env.BAO_UNAVAILABLE) throw new Error(process.env.BAO_UNAVAILABLE);
  const bin = findServerBinary();
  return { dir: fs.mkdtempSync(path.join(os.tmpdir(), `vmu-${prefix}-`)), bin, flavour: binaryFlavour(bin) };
}

export async function newLab(prefix: string): Promise<Lab> {
  if (process.env.BAO_UNAVAILABLE) throw new Error(process.env.BAO_UNAVAILABLE);
  const bin = findServerBinary();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `vmu-${prefix}-`));
  const pki = await LocalPki.create(path.join(dir, "pki"));
  const clusters: LocalCluster[] = [];
  const proxies: ServiceProxy[] = [];
  const flavour = binaryFlavour(bin);
  return {
    dir,
    bin,
    flavour,
    pki,
    async cluster(opts) {
      const c = await LocalCluster.create({ ...opts, dir, bin, flavour, pki });
      clusters.push(c);
      return c;
    },
    async service(cluster) {
      const p = await cluster.service();
      proxies.push(p);
      return p;
    },
    async destroy() {
      await Promise.all(proxies.map((p) => p.stop()));
      // VMU_KEEP_LOGS=1 keeps the folder (configs, logs) for a post-mortem; processes always stop.
      await Promise.all(clusters.map((c) => (process.env.VMU_KEEP_LOGS ? c.stopAll("SIGKILL") : c.destroy())));
      if (!process.env.VMU_KEEP_LOGS) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Pids of the processes whose command line names `dir` (servers a lab or a test left behind). */
export function processesNaming(dir: string): string[] {
  return fs
    .readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return fs.readFileSync(`/proc/${p}/cmdline`, "utf8").includes(dir);
      } catch {
        return false;
      }
    });
}
