/**
 * `deno run -A jsr:@proximal/cli` (and `deno task train` in this repo): trains any algorithm
 * plugin on any env plugin from the command line, writes metrics and checkpoints, resumes, and
 * ends with an evaluation. Run as the main module it reads `Deno.args`, prints a failure as one
 * line and exits with code 2 for a usage error (see {@linkcode UsageError}), 1 for any other;
 * `PROXIMAL_DEBUG=1` prints the stack instead. A run stopped by Ctrl-C or SIGTERM saves a
 * checkpoint and exits with 130 or 143.
 *
 * @example Run the CLI from code
 * ```ts ignore
 * import { main } from "@proximal/cli";
 * await main(["--env", "cartpole", "--total-timesteps", "2048"]);
 * ```
 *
 * @module
 */
import { main, type MainOptions, type RunProgress, UsageError } from "./main.ts";

export * from "./builtins.ts";
export { main, type MainOptions, type RunProgress, UsageError };

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (e) {
    const error = e as Error;
    if (Deno.env.get("PROXIMAL_DEBUG")) console.error(error.stack);
    else console.error(`error: ${error.message}`);
    Deno.exit(error instanceof UsageError ? 2 : 1);
  }
}
