/**
 * Entry point of every stack: its role (config `role`, else the stack's name) picks the
 * program (stacks/primary.ts, stacks/helper.ts). Each program parses its config first and
 * fails before any resource is registered when a value is wrong.
 */
import * as pulumi from "@pulumi/pulumi";
import { StackRole, stackRole } from "./components/config";
import { CONFIG_NAMESPACE } from "./stacks/read-config";
import { helperProgram } from "./stacks/helper";
import { primaryProgram } from "./stacks/primary";

const programs: Record<StackRole, () => Record<string, unknown>> = { primary: primaryProgram, helper: helperProgram };

export = programs[stackRole(pulumi.getStack(), pulumi.runtime.getConfig(`${CONFIG_NAMESPACE}:role`))]();
