// File I/O shared by checkpoints and pairs files: reads that fail with a message naming the file,
// and atomic writes.
import { dirname } from "node:path";

/**
 * Writes `bytes` to `path` so that readers see either the old content or the new, never a
 * partial file: a temp file in the same directory (same filesystem, so the rename is atomic),
 * synced, then renamed over the target, and the directory synced. Creates the parent
 * directory. On failure the temp file is removed and the error is rethrown as
 * `${label}: <reason>`.
 */
export async function writeFileAtomic(
  path: string,
  bytes: Uint8Array,
  label: string,
): Promise<void> {
  const random = crypto.getRandomValues(new Uint8Array(6));
  const temp = `${path}.tmp-${Array.from(random, (b) => b.toString(16).padStart(2, "0")).join("")}`;
  let created = false;
  try {
    await Deno.mkdir(dirname(path), { recursive: true });
    const file = await Deno.open(temp, { write: true, createNew: true });
    created = true;
    try {
      for (let written = 0; written < bytes.length;) {
        written += await file.write(bytes.subarray(written));
      }
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(temp, path);
    created = false;
    await syncDirectory(dirname(path));
  } catch (error) {
    if (created) await Deno.remove(temp).catch(() => {});
    throw new Error(`${label}: ${error instanceof Error ? error.message : error}`, {
      cause: error,
    });
  }
}

/**
 * Syncs a directory so that a rename in it survives a power loss; a system that cannot open a
 * directory for syncing (Windows) skips it, as the rename itself has happened.
 */
async function syncDirectory(dir: string): Promise<void> {
  let handle: Deno.FsFile | undefined;
  try {
    handle = await Deno.open(dir, { read: true });
    await handle.sync();
  } catch {
    // Best effort: the file is in place either way.
  } finally {
    handle?.close();
  }
}

/** Reads a whole file; a failure becomes `${label}: file not found` or `${label}: <reason>`. */
export async function readFileChecked(path: string, label: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (error) {
    const detail = error instanceof Deno.errors.NotFound
      ? "file not found"
      : error instanceof Error
      ? error.message
      : String(error);
    throw new Error(`${label}: ${detail}`, { cause: error });
  }
}
