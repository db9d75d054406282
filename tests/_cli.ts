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

/** A CLI run as a child process, to send it signals. */
export function spawn(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "cli/mod.ts", ...args],
    cwd: ROOT,
    env: { PROXIMAL_DEBUG: "", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** A spawned run's exit status and output. */
export async function finish(
  child: Deno.ChildProcess,
): Promise<{ status: Deno.CommandStatus; stdout: string; stderr: string }> {
  const output = await child.output();
  const decoder = new TextDecoder();
  return {
    status: output,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** Waits until `check` holds, polling every 10 ms; fails after `ms`. */
export async function waitFor(
  check: () => Promise<boolean>,
  ms: number,
  what: string,
): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The non-empty lines of a file (0 if it does not exist yet). */
export async function lineCount(path: string): Promise<number> {
  try {
    return (await Deno.readTextFile(path)).split("\n").filter((l) => l !== "").length;
  } catch {
    return 0;
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** metrics.jsonl without what depends on the clock (time, SPS, perf/*). */
export async function numbers(dir: string): Promise<Record<string, unknown>[]> {
  const rows = (await Deno.readTextFile(`${dir}/metrics.jsonl`)).trim().split("\n");
  return rows.map((line) => {
    const row = JSON.parse(line) as Record<string, unknown>;
    return Object.fromEntries(
      Object.entries(row).filter(([k]) =>
        k !== "time" && k !== "charts/SPS" && !k.startsWith("perf/")
      ),
    );
  });
}

/** Runs `fn` in a new temporary directory, removed afterwards. */
export async function withTempDir(
  fn: (dir: string) => Promise<void>,
  prefix = "proximal_test_",
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
