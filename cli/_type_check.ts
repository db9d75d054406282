// `--check`: type-checks the user's plugin modules with `deno check` before anything runs, since
// loading a module at run time strips its types and a broken plugin would otherwise start.
import { isModuleReference } from "@proximal/core";
import { UsageError } from "./_flags.ts";

/**
 * Runs `deno check` on each module reference among `refs` (names of built-in plugins are skipped;
 * `#export` suffixes dropped) and throws a usage error carrying the type errors if one fails.
 */
export async function typeCheck(refs: readonly (string | undefined)[]): Promise<void> {
  const modules = refs.filter((r): r is string => r !== undefined && isModuleReference(r))
    .map((ref) => ref.replace(/#[^/]*$/, ""));
  if (modules.length === 0) return;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["check", ...modules],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  if (!out.success) {
    const errors = new TextDecoder().decode(out.stderr).split("\n")
      .filter((line) => /TS\d+|^\s+at |ERROR/.test(line)).join("\n");
    throw new UsageError(`Type check of ${modules.join(", ")} failed (deno check):\n${errors}`);
  }
}
