/**
 * `deno run -A jsr:@proximal/cli` (and `deno task train` in this repo): trains any algorithm
 * plugin on any env plugin from the command line, writes metrics and checkpoints, resumes, and
 * ends with an evaluation.
 *
 * @example Run the CLI from code
 * ```ts ignore
 * import { main } from "@proximal/cli";
 * await main(["--env", "cartpole", "--total-timesteps", "2048"]);
 * ```
 *
 * @module
 */
export * from "./builtins.ts";
export * from "./main.ts";
