/**
 * Entry point of both stacks: the stack's name picks its program (stacks/primary.ts,
 * stacks/helper.ts). Each program parses its config first and fails before any resource is
 * registered when a value is wrong.
 */
import * as pulumi from "@pulumi/pulumi";
import { helperProgram } from "./stacks/helper";
import { primaryProgram } from "./stacks/primary";

const programs: Record<string, () => Record<string, unknown>> = { primary: primaryProgram, helper: helperProgram };

function run(): Record<string, unknown> {
  const stack = pulumi.getStack();
  const program = programs[stack];
  if (!program) {
    throw new Error(
      `stack "${stack}" has no program: this project has the stacks ${Object.keys(programs)
        .map((s) => `"${s}"`)
        .join(" and ")} (pulumi stack select primary | helper)`,
    );
  }
  return program();
}

export = run();
