// A run directory belongs to one run: `--out` is checked before anything is built, and a resumed
// run's logs are cut back to its checkpoint before it appends to them.
import { dirname, resolve } from "node:path";
import { UsageError } from "./_flags.ts";

/** The files that mark a directory as holding a run. */
const RUN_FILES = ["latest.ckpt", "metrics.jsonl", "metrics.csv", "config.json"];

/**
 * Refuses an `--out` that cannot hold this run: a file, a place that cannot be written, or (unless
 * it is the run being resumed) the directory of another run. Creates nothing.
 */
export async function checkOutDir(outDir: string, options: { resumeDir?: string }): Promise<void> {
  const fail = (detail: string): never => {
    throw new UsageError(`Invalid --out ${outDir}: ${detail}`);
  };
  const stat = await statOrUndefined(outDir);
  if (stat && !stat.isDirectory) fail("it is a file, not a directory");
  const resuming = options.resumeDir !== undefined;
  if (resuming && resolve(outDir) !== resolve(options.resumeDir!)) {
    fail(
      `a resumed run continues in its own directory (${options.resumeDir}); leave --out out, or copy the directory first`,
    );
  }
  if (stat && !resuming) {
    for (const name of RUN_FILES) {
      if (await statOrUndefined(`${outDir}/${name}`)) {
        fail(
          `it already holds a run (${name}); continue it with --resume ${outDir}, or choose another --out`,
        );
      }
    }
  }
  // The nearest directory that exists must take a new file (mkdir -p starts there).
  let existing = outDir;
  while (!(await statOrUndefined(existing))) {
    const parent = dirname(existing);
    if (parent === existing) break;
    existing = parent;
  }
  const base = await statOrUndefined(existing);
  if (base && !base.isDirectory) fail(`${existing} is a file, not a directory`);
  try {
    const probe = await Deno.makeTempFile({ dir: existing, prefix: ".proximal-probe-" });
    await Deno.remove(probe);
  } catch (e) {
    fail(`cannot write in ${existing}: ${(e as Error).message}`);
  }
}

/**
 * Cuts `metrics.jsonl` and `metrics.csv` back to the rows up to `step` (the checkpoint's), so a
 * resumed run appends after exactly the rows an uninterrupted run would have; each file is
 * replaced atomically. A torn last line (a crash mid-write) goes too. Returns the `time` of the
 * last row kept, from which the resumed run's `time` column continues (0 without rows), and how
 * many rows were dropped.
 */
export async function cutLogs(
  outDir: string,
  step: number,
): Promise<{ time: number; dropped: number }> {
  let time = 0, dropped = 0;
  const jsonl = await readOrUndefined(`${outDir}/metrics.jsonl`);
  if (jsonl !== undefined) {
    const kept: string[] = [];
    for (const line of jsonl.split("\n")) {
      if (line === "") continue;
      const row = parseRow(line);
      if (row && row.step <= step) {
        kept.push(line);
        time = row.time;
      } else {
        dropped++;
      }
    }
    await replaceText(`${outDir}/metrics.jsonl`, kept.map((line) => `${line}\n`).join(""));
  }
  const csv = await readOrUndefined(`${outDir}/metrics.csv`);
  if (csv !== undefined) {
    const lines = csv.split("\n").filter((line) => line !== "");
    const kept = lines.filter((line, i) => {
      if (i === 0) return line.startsWith("step,");
      const rowStep = Number(line.split(",")[0]);
      return Number.isFinite(rowStep) && rowStep <= step;
    });
    await replaceText(`${outDir}/metrics.csv`, kept.map((line) => `${line}\n`).join(""));
  }
  return { time, dropped };
}

/**
 * Removes the temporary files an interrupted atomic write leaves (a kill -9 or power loss between
 * creating and renaming them: `latest.ckpt.tmp-…`, `metrics.jsonl.tmp-cut`) from a run directory
 * and its `checkpoints/`. Returns how many there were.
 */
export async function removeStaleTemps(outDir: string): Promise<number> {
  let removed = 0;
  for (const dir of [outDir, `${outDir}/checkpoints`]) {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(dir));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) continue;
      throw e;
    }
    for (const entry of entries) {
      if (entry.isFile && /\.(ckpt\.tmp-[0-9a-f]{12}|(jsonl|csv)\.tmp-cut)$/.test(entry.name)) {
        await Deno.remove(`${dir}/${entry.name}`);
        removed++;
      }
    }
  }
  return removed;
}

function parseRow(line: string): { step: number; time: number } | undefined {
  try {
    const row = JSON.parse(line);
    if (typeof row?.step === "number") {
      return { step: row.step, time: typeof row.time === "number" ? row.time : 0 };
    }
  } catch {
    // A torn line from a crash mid-write: dropped with the rows after the checkpoint.
  }
  return undefined;
}

/** Replaces a file's content atomically: a synced temp file renamed over it. */
async function replaceText(path: string, text: string): Promise<void> {
  const temp = `${path}.tmp-cut`;
  try {
    const file = await Deno.open(temp, { write: true, create: true, truncate: true });
    try {
      const bytes = new TextEncoder().encode(text);
      for (let written = 0; written < bytes.length;) {
        written += await file.write(bytes.subarray(written));
      }
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(temp, path);
  } catch (e) {
    await Deno.remove(temp).catch(() => {});
    throw new Error(`Cannot cut ${path} back to the checkpoint: ${(e as Error).message}`, {
      cause: e,
    });
  }
}

async function statOrUndefined(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
      return undefined;
    }
    throw e;
  }
}

async function readOrUndefined(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}
