/**
 * Entry point of both stacks. The orchestration core (core/), proven on real servers, is
 * what the stacks will drive; the components, dynamic providers and stack programs arrive
 * with the issue "Pulumi components, dynamic providers and the primary/helper stacks".
 * Until then this program refuses to run rather than pretend to deploy anything.
 */
import * as pulumi from "@pulumi/pulumi";

const stack = pulumi.getStack();
throw new Error(
  `stack "${stack}": the Pulumi program (components, dynamic providers, primary/helper stacks) is not built yet. ` +
    `Today this repository provides the orchestration core and its real-server tests (npm test).`,
);
