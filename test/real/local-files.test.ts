/**
 * The files of servers started on this machine are their owner's only: a server's folder and
 * its Raft data (0700), its config, its log (the audit device writes to stdout, which goes
 * there) and every private key and token file (0600). Real servers started through the code
 * the lab and the real-server tests use, under a common umask (022) that would leave files
 * other users can read when the modes are left to it.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Topology } from "../../lab/topology";
import { labOptions, Lab, newLab } from "../support/servers";

jest.setTimeout(120_000);

const mode = (p: string) => (fs.statSync(p).mode & 0o777).toString(8);
const owned = (entries: Record<string, string>) => Object.fromEntries(Object.keys(entries).map((p) => [p, mode(p)]));

let umask: number;
beforeAll(() => {
  umask = process.umask(0o022);
});
afterAll(() => {
  process.umask(umask);
});

describe("the lab", () => {
  let root: string;
  let t: Topology | undefined;
  afterAll(async () => {
    await t?.destroy();
    fs.rmSync(root, { recursive: true, force: true });
  });

  test("a started server's folder, data, config and log, and the CA's keys, are readable by their owner only", async () => {
    const o = labOptions("files");
    root = o.dir;
    const dir = path.join(root, "run");
    t = await Topology.create({ ...o, dir });
    const id = t.helper.nodeIds()[0];
    await t.helper.start(id);
    const node = path.join(dir, id);
    const pki = path.join(dir, "pki");
    const keys = fs.readdirSync(pki).filter((f) => f.endsWith("key.pem") || f.endsWith(".key"));
    expect(keys.length).toBeGreaterThan(0);
    const expected: Record<string, string> = {
      [dir]: "700",
      [pki]: "700",
      [node]: "700",
      [path.join(node, "data")]: "700",
      [path.join(node, "config.hcl")]: "600",
      [path.join(node, "server.log")]: "600",
      ...Object.fromEntries(keys.map((k) => [path.join(pki, k), "600"])),
    };
    expect(owned(expected)).toEqual(expected);
  });

  test("the lab's own folder and its state file (the control endpoint's token) are readable by their owner only", () => {
    const labDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "vmu-files-state-")), "lab");
    const previous = process.env.VMU_LAB_DIR;
    process.env.VMU_LAB_DIR = labDir;
    try {
      jest.isolateModules(() => {
        // LAB_DIR is read from the environment when the module loads.
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const control = require("../../lab/control") as typeof import("../../lab/control");
        control.writeState({ pid: process.pid, startedAt: new Date().toISOString(), control: { port: 1, token: "not-a-secret" } });
        expect(owned({ [labDir]: "", [control.STATE_FILE]: "" })).toEqual({ [labDir]: "700", [control.STATE_FILE]: "600" });
      });
    } finally {
      if (previous === undefined) delete process.env.VMU_LAB_DIR;
      else process.env.VMU_LAB_DIR = previous;
      fs.rmSync(path.dirname(labDir), { recursive: true, force: true });
    }
  });
});

describe("the real-server test support", () => {
  let lab: Lab;
  afterAll(() => lab?.destroy());

  test("a started server's folder, data, config and log are readable by their owner only", async () => {
    lab = await newLab("files");
    const c = await lab.cluster({ name: "solo", size: 1, seal: { stanzas: [] } });
    const id = c.nodeIds()[0];
    await c.start(id);
    const node = path.join(lab.dir, id);
    const expected: Record<string, string> = {
      [lab.dir]: "700",
      [path.join(lab.dir, "pki")]: "700",
      [node]: "700",
      [path.join(node, "data")]: "700",
      [path.join(node, "config.hcl")]: "600",
      [path.join(node, "server.log")]: "600",
    };
    expect(owned(expected)).toEqual(expected);
  });
});
