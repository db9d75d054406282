// Writes a file so that readers see either the old content or the new, never a partial file:
// a temp file in the same directory (same filesystem, so the rename is atomic), synced, then
// renamed over the target. Shared by checkpoints and pairs files.
import { dirname } from "node:path";

/**
 * Writes `bytes` to `path` atomically, creating the parent directory. On failure the temp file is
 * removed and the error is rethrown as `${label}: <reason>`.
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
  } catch (error) {
    if (created) await Deno.remove(temp).catch(() => {});
    throw new Error(`${label}: ${error instanceof Error ? error.message : error}`, {
      cause: error,
    });
  }
}
