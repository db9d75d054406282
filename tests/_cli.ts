// Shared by the CLI tests: runs `deno task train`'s script as a user would, from the repo root.
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** What a CLI run printed and how it ended. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** A line of a JavaScript stack trace. */
export const STACK_LINE = /\n\s+at /;

/** Runs cli/mod.ts (`deno task train`) with `args`; kills it after `timeoutMs` (default none). */
export async function train(args: string[], timeoutMs?: number): Promise<Run> {
  const abort = new AbortController();
  const timer = timeoutMs === undefined ? undefined : setTimeout(() => abort.abort(), timeoutMs);
  try {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "cli/mod.ts", ...args],
      cwd: ROOT,
      env: { PROXIMAL_DEBUG: "", NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
      signal: abort.signal,
    }).output();
    const decoder = new TextDecoder();
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  } finally {
    clearTimeout(timer);
  }
}
