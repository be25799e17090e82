/**
 * The rules the GitHub workflows must keep (README "CI and previews"): code nobody reviewed
 * never runs with the stacks' credentials. actionlint (.ci/run) checks that the files are
 * valid workflows; this checks what actionlint cannot know is ours to require.
 */
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";

interface Step {
  uses?: string;
}
interface Job {
  permissions?: Record<string, string> | string;
  environment?: string | { name: string };
  if?: string;
  steps?: Step[];
}
interface Workflow {
  on: Record<string, unknown> | string | string[];
  permissions?: Record<string, string> | string;
  jobs: Record<string, Job>;
}

const DIR = path.join(__dirname, "../../.github/workflows");
const workflows = fs
  .readdirSync(DIR)
  .filter((f) => /\.ya?ml$/.test(f))
  .map((f) => ({
    file: f,
    text: fs.readFileSync(path.join(DIR, f), "utf8"),
    wf: yaml.load(fs.readFileSync(path.join(DIR, f), "utf8")) as Workflow,
  }));

const triggers = (wf: Workflow) => (typeof wf.on === "string" ? [wf.on] : Array.isArray(wf.on) ? wf.on : Object.keys(wf.on));
/** The secrets a job names, other than the GITHUB_TOKEN every job has. */
const secretsOf = (job: Job) =>
  [...new Set([...JSON.stringify(job).matchAll(/secrets\.([A-Za-z0-9_]+)/g)].map((m) => m[1]))].filter((s) => s !== "GITHUB_TOKEN");
const jobs = workflows.flatMap(({ file, wf }) => Object.entries(wf.jobs).map(([name, job]) => ({ file, wf, name, job })));

describe("GitHub workflows", () => {
  it("has at least one workflow to check", () => {
    expect(workflows.length).toBeGreaterThan(0);
  });

  it("pins every action by a full commit SHA, not a tag or branch", () => {
    const unpinned = jobs.flatMap(({ file, name, job }) =>
      (job.steps ?? [])
        .filter((s) => s.uses && !s.uses.startsWith("./") && !/@[0-9a-f]{40}$/.test(s.uses))
        .map((s) => `${file} ${name}: ${s.uses}`),
    );
    expect(unpinned).toEqual([]);
  });

  it("grants no permissions at the top of a workflow; each job names its own", () => {
    const top = workflows.filter(
      ({ wf }) => wf.permissions === undefined || (typeof wf.permissions === "object" && Object.keys(wf.permissions).length > 0),
    );
    expect(top.map((w) => `${w.file}: ${JSON.stringify(w.wf.permissions)}`)).toEqual([]);
    expect(jobs.filter(({ job }) => job.permissions === undefined).map(({ file, name }) => `${file} ${name}`)).toEqual([]);
  });

  it("never uses pull_request_target (it runs with the base repository's secrets)", () => {
    expect(workflows.filter(({ wf }) => triggers(wf).includes("pull_request_target")).map((w) => w.file)).toEqual([]);
  });

  it("gives a pull request's code secrets only in a job held for a reviewer (a protected environment), never for forks", () => {
    const unsafe = jobs
      .filter(({ wf, job }) => triggers(wf).includes("pull_request") && secretsOf(job).length > 0)
      .filter(({ job }) => !job.environment || !/head\.repo\.full_name == github\.repository/.test(job.if ?? ""))
      .map(({ file, name, job }) => `${file} ${name}: ${secretsOf(job).join(", ")}`);
    expect(unsafe).toEqual([]);
  });

  it("runs the tests (.ci/run) in a job that names no secret and may only read the repository", () => {
    const testJobs = jobs.filter(({ job }) => JSON.stringify(job.steps ?? []).includes(".ci/run"));
    expect(testJobs.length).toBeGreaterThan(0);
    for (const { job } of testJobs) {
      expect(secretsOf(job)).toEqual([]);
      expect(job.permissions).toEqual({ contents: "read" });
    }
  });
});
