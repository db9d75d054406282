/**
 * Preference pairs in TRL's format: a JSONL file with one `{ "prompt", "chosen", "rejected" }`
 * object per line, where a judge (a person, or a stand-in for one) preferred `chosen` to
 * `rejected` as a continuation of `prompt`. Reward models and DPO train on these files.
 *
 * Reading is strict and every problem names the file and its 1-based line:
 * `Invalid pairs file data/p.jsonl line 3: "chosen" must be a string, got number`. Blank lines
 * are skipped, keys other than the three are ignored, and a file without a single pair is an
 * error. Writing is atomic: a temporary file in the same directory, then one rename.
 */
import { readFileChecked, writeFileAtomic } from "./_io.ts";

/** One judgement: `chosen` was preferred to `rejected` as a continuation of `prompt`. */
export interface PreferencePair {
  /** The text both completions continue; never empty. */
  prompt: string;
  /** The preferred completion. */
  chosen: string;
  /** The completion judged worse. */
  rejected: string;
}

/** Options of {@linkcode parsePreferencePairs}. */
export interface ParsePreferencePairsOptions {
  /** Where the text came from (a path), named in error messages; default `"<text>"`. */
  source?: string;
}

const FIELDS = ["prompt", "chosen", "rejected"] as const;

/**
 * Reads a JSONL file of preference pairs.
 *
 * @param path The file, e.g. `data/pairs.jsonl`.
 * @returns The pairs in file order, each with exactly the three fields.
 * @throws `Cannot read pairs file <path>: file not found` (or the system's reason), or
 * `Invalid pairs file <path> line <n>: <what is wrong>` for a line that is not valid JSON, not an
 * object, lacks a field, has a non-string field or an empty prompt, or `Invalid pairs file
 * <path>: …` for a file that is not UTF-8 or holds no pairs.
 * @example Write and read back
 * ```ts
 * import assert from "node:assert/strict";
 * import { readPreferencePairs, writePreferencePairs } from "@proximal/core";
 * const dir = await Deno.makeTempDir();
 * const pair = { prompt: "The film was", chosen: " a delight.", rejected: " a mess." };
 * await writePreferencePairs(`${dir}/pairs.jsonl`, [pair]);
 * assert.deepEqual(await readPreferencePairs(`${dir}/pairs.jsonl`), [pair]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readPreferencePairs(path: string): Promise<PreferencePair[]> {
  const bytes = await readFileChecked(path, `Cannot read pairs file ${path}`);
  return parsePreferencePairs(decodeUtf8(bytes, path), { source: path });
}

/**
 * Parses the text of a JSONL file of preference pairs, with the checks of
 * {@linkcode readPreferencePairs}. Lines may end in `\n` or `\r\n`; a leading byte-order mark is
 * ignored.
 *
 * @param text The file's text.
 * @param options `source`: where the text came from, for error messages (default `"<text>"`).
 * @returns The pairs in order, each with exactly the three fields.
 * @throws `Invalid pairs file <source> line <n>: <what is wrong>`, or `Invalid pairs file
 * <source>: no pairs …` when there is no pair at all.
 * @example A line with a missing field
 * ```ts
 * import assert from "node:assert/strict";
 * import { parsePreferencePairs } from "@proximal/core";
 * const text = '{"prompt": "Hi", "chosen": " there", "rejected": " go"}\n\n{"prompt": "Hi"}\n';
 * assert.throws(
 *   () => parsePreferencePairs(text, { source: "data/p.jsonl" }),
 *   { message: 'Invalid pairs file data/p.jsonl line 3: "chosen" is missing' },
 * );
 * ```
 */
export function parsePreferencePairs(
  text: string,
  options: ParsePreferencePairsOptions = {},
): PreferencePair[] {
  const source = options.source ?? "<text>";
  const pairs: PreferencePair[] = [];
  const lines = text.replace(/^\uFEFF/, "").split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === "") continue;
    const fail = (detail: string): never => {
      throw new SyntaxError(`Invalid pairs file ${source} line ${i + 1}: ${detail}`);
    };
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (error) {
      fail(`not valid JSON (${error instanceof Error ? error.message : String(error)})`);
    }
    pairs.push(checkPair(row, fail));
  }
  if (pairs.length === 0) {
    throw new SyntaxError(
      `Invalid pairs file ${source}: no pairs (the file is empty or has only blank lines)`,
    );
  }
  return pairs;
}

/**
 * Writes preference pairs as JSONL, one `{ "prompt", "chosen", "rejected" }` object per line (other
 * keys are not written), atomically: the lines go to a temporary file in the same directory, which
 * then replaces `path` in one rename, so a reader never sees a half-written file. Creates the
 * parent directory if it is missing. The pairs are checked first, so the file always reads back.
 *
 * @param path Where to write, e.g. `data/pairs.jsonl`.
 * @param pairs At least one pair; prompts must not be empty.
 * @returns A promise that resolves once the file is in place.
 * @throws `Cannot write pairs file <path>: <reason>`; the temporary file is removed.
 * @example Save judged pairs
 * ```ts
 * import assert from "node:assert/strict";
 * import { writePreferencePairs } from "@proximal/core";
 * const dir = await Deno.makeTempDir();
 * await writePreferencePairs(`${dir}/data/pairs.jsonl`, [
 *   { prompt: "The soup", chosen: " was lovely.", rejected: " was cold." },
 * ]);
 * const text = await Deno.readTextFile(`${dir}/data/pairs.jsonl`);
 * assert.equal(text, '{"prompt":"The soup","chosen":" was lovely.","rejected":" was cold."}\n');
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writePreferencePairs(
  path: string,
  pairs: readonly PreferencePair[],
): Promise<void> {
  const label = `Cannot write pairs file ${path}`;
  if (!Array.isArray(pairs) || pairs.length === 0) {
    throw new TypeError(`${label}: expected a non-empty array of pairs`);
  }
  const lines = pairs.map((pair, i) => {
    const checked = checkPair(pair, (detail: string): never => {
      throw new TypeError(`${label}: pair ${i}: ${detail}`);
    });
    return JSON.stringify(checked) + "\n";
  });
  const bytes = new TextEncoder().encode(lines.join(""));
  await writeFileAtomic(path, bytes, label);
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

function checkPair(row: unknown, fail: (detail: string) => never): PreferencePair {
  if (typeof row !== "object" || row === null || Array.isArray(row)) {
    fail(
      `expected a JSON object with "prompt", "chosen" and "rejected", got ${
        row === null ? "null" : Array.isArray(row) ? "an array" : `a ${typeof row}`
      }`,
    );
  }
  const record = row as Record<string, unknown>;
  for (const field of FIELDS) {
    const value = record[field];
    if (value === undefined) fail(`"${field}" is missing`);
    if (typeof value !== "string") {
      fail(`"${field}" must be a string, got ${value === null ? "null" : typeof value}`);
    }
  }
  const pair = {
    prompt: record.prompt as string,
    chosen: record.chosen as string,
    rejected: record.rejected as string,
  };
  if (pair.prompt.trim() === "") fail(`"prompt" is empty`);
  return pair;
}

function decodeUtf8(bytes: Uint8Array, path: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    // Name the first line that is not UTF-8.
    let line = 1;
    let start = 0;
    for (let i = 0; i <= bytes.length; i++) {
      if (i < bytes.length && bytes[i] !== 0x0a) continue;
      try {
        new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(start, i));
      } catch {
        break;
      }
      line++;
      start = i + 1;
    }
    throw new SyntaxError(`Invalid pairs file ${path} line ${line}: not valid UTF-8`);
  }
}
