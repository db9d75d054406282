/**
 * Checkpoint files: one binary file per {@linkcode Checkpoint}, written atomically.
 *
 * Layout, all integers little-endian:
 *
 * | bytes | content                                                                  |
 * | ----- | ------------------------------------------------------------------------ |
 * | 8     | magic `PRXCKPT1`                                                         |
 * | 4     | header length in bytes (uint32)                                          |
 * | n     | UTF-8 JSON `{ format: 1, meta, tensors: [{ name, shape, offset, length }] }` |
 * | 0–3   | zero padding to a multiple of 4 bytes                                    |
 * | …     | float32 data; a tensor's `offset` is in bytes from here, `length` in values |
 * | 32    | SHA-256 of every byte before it                                           |
 *
 * The checksum makes any changed byte (a bad disk, a partial copy, an edit) a refusal at load
 * rather than a run that silently diverges. Format 1 files (written before the checksum) cannot be
 * verified and are refused with a message that says so.
 */
import { createHash } from "node:crypto";
import { isPlainObject } from "./_checks.ts";
import { readFileChecked, writeFileAtomic } from "./_io.ts";
import type { Checkpoint, SavedTensor } from "./trainer.ts";
import { isCount } from "./training_options.ts";

/** Options of {@linkcode decodeCheckpoint}. */
export interface DecodeCheckpointOptions {
  /** Where the bytes came from (a path), named in error messages. */
  source?: string;
  /**
   * Accept tensors holding NaN or ±Infinity; default false: a weight that is not finite means a
   * run that had diverged when it saved, so loading it is refused, naming the tensor.
   */
  allowNonFinite?: boolean;
}

const MAGIC = new TextEncoder().encode("PRXCKPT1");
const FORMAT = 2;
/** Bytes of the SHA-256 trailer. */
const CHECKSUM_BYTES = 32;
/** Bytes before the JSON header: the magic and the header length. */
const PREAMBLE = MAGIC.length + 4;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

interface TensorEntry {
  name: string;
  shape: number[];
  offset: number;
  length: number;
}

/**
 * Encodes a checkpoint into the bytes of a checkpoint file.
 *
 * @param checkpoint The checkpoint; `meta` must be JSON-serialisable.
 * @returns The file's bytes.
 * @throws If `meta` holds something JSON cannot store faithfully (a cycle, a function, a `Map`, a
 * non-finite number, …) or a tensor's data does not match its shape.
 *
 * @example Encode and decode
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeCheckpoint, encodeCheckpoint } from "@proximal/core";
 * const bytes = encodeCheckpoint({
 *   meta: { step: 128 },
 *   tensors: { "actor/w0": { shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) } },
 * });
 * const checkpoint = decodeCheckpoint(bytes);
 * assert.ok(checkpoint.meta.step === 128);
 * assert.ok(checkpoint.tensors["actor/w0"]?.data[3] === 4);
 * ```
 */
export function encodeCheckpoint(checkpoint: Checkpoint): Uint8Array {
  return encode(checkpoint, "Cannot encode checkpoint");
}

/**
 * Decodes the bytes of a checkpoint file, checking everything: the magic bytes, the header, every
 * tensor's shape and that its data lies within the file, the file's length, its SHA-256 checksum
 * (any changed byte is refused) and, unless `allowNonFinite`, that every value is finite.
 *
 * @param bytes The file's bytes.
 * @param options `source`: the file's path, named in error messages; `allowNonFinite`.
 * @returns The checkpoint; every tensor's data is a fresh `Float32Array`.
 * @throws `Invalid checkpoint <source>: <what is wrong>` if the bytes are not a valid checkpoint.
 *
 * @example Reject a file that is not a checkpoint
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeCheckpoint } from "@proximal/core";
 * try {
 *   decodeCheckpoint(new TextEncoder().encode("hello, world"), { source: "notes.txt" });
 * } catch (error) {
 *   assert.ok((error as Error).message.startsWith("Invalid checkpoint notes.txt: "));
 * }
 * ```
 */
export function decodeCheckpoint(
  bytes: Uint8Array,
  options: DecodeCheckpointOptions = {},
): Checkpoint {
  const source = options.source === undefined ? "" : ` ${options.source}`;
  function fail(detail: string): never {
    throw new Error(`Invalid checkpoint${source}: ${detail}`);
  }
  if (bytes.length < PREAMBLE) {
    fail(`file is too short to be a checkpoint (${bytes.length} bytes)`);
  }
  if (!MAGIC.every((byte, i) => bytes[i] === byte)) {
    fail("not a proximal checkpoint (bad magic bytes)");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(MAGIC.length, true);
  if (PREAMBLE + headerLength > bytes.length) {
    fail(
      `header length ${headerLength} runs past the end of the file (needs ${
        PREAMBLE + headerLength
      } bytes, file has ${bytes.length})`,
    );
  }
  let header: unknown;
  try {
    const text = new TextDecoder("utf-8", { fatal: true })
      .decode(bytes.subarray(PREAMBLE, PREAMBLE + headerLength));
    header = JSON.parse(text);
  } catch (error) {
    fail(`header is not valid UTF-8 JSON: ${error instanceof Error ? error.message : error}`);
  }
  if (!isPlainObject(header)) fail("header is not a JSON object");
  if (header.format === 1) {
    fail(
      "format 1 has no checksum (written by an older proximal), so it cannot be verified: train again, or load it with that version",
    );
  }
  if (header.format !== FORMAT) {
    fail(
      `unsupported format ${JSON.stringify(header.format)} (this version reads format ${FORMAT})`,
    );
  }
  if (!isPlainObject(header.meta)) fail(`"meta" is not a JSON object`);
  if (!Array.isArray(header.tensors)) fail(`"tensors" is not an array`);

  const dataStart = align4(PREAMBLE + headerLength);
  const tensors: [string, SavedTensor][] = [];
  const seen = new Set<string>();
  let end = dataStart;
  header.tensors.forEach((entry: unknown, index: number) => {
    const { name, shape, offset, length } = checkTensorEntry(entry, index, fail);
    if (seen.has(name)) fail(`duplicate tensor "${name}"`);
    seen.add(name);
    const start = dataStart + offset;
    const byteLength = length * 4;
    if (start + byteLength > bytes.length) {
      fail(
        `truncated data for tensor "${name}" (needs ${byteLength} bytes at ${start}, file has ${bytes.length})`,
      );
    }
    tensors.push([name, { shape, data: readFloats(bytes, start, length) }]);
    end = Math.max(end, start + byteLength);
  });
  if (bytes.length !== end + CHECKSUM_BYTES) {
    fail(
      `the file has ${bytes.length} bytes, its header describes ${
        end + CHECKSUM_BYTES
      } (truncated, or bytes appended)`,
    );
  }
  const expected = bytes.subarray(end);
  if (!sha256(bytes.subarray(0, end)).every((byte, i) => byte === expected[i])) {
    fail("checksum mismatch: the file was changed or damaged after it was written");
  }
  if (options.allowNonFinite !== true) {
    for (const [name, { data }] of tensors) {
      const at = data.findIndex((x) => !Number.isFinite(x));
      if (at >= 0) fail(`tensor "${name}" holds ${data[at]} at index ${at}`);
    }
  }
  return { meta: header.meta, tensors: Object.fromEntries(tensors) };
}

/**
 * Writes a checkpoint file atomically: the bytes go to a temporary file in the same directory,
 * which then replaces the target in one rename, so a crash or error never leaves a partial file
 * and an existing checkpoint is replaced only by a complete one. Creates the parent directory if
 * it is missing.
 *
 * @param path Where to write, e.g. `runs/ppo-1/final.ckpt`.
 * @param checkpoint The checkpoint.
 * @returns A promise that resolves once the file is in place.
 * @throws `Cannot write checkpoint <path>: <reason>`; the temporary file is removed.
 *
 * @example Save and load
 * ```ts
 * import assert from "node:assert/strict";
 * import { readCheckpoint, writeCheckpoint } from "@proximal/core";
 * const dir = await Deno.makeTempDir();
 * await writeCheckpoint(`${dir}/run/final.ckpt`, {
 *   meta: { step: 2048 },
 *   tensors: { bias: { shape: [3], data: new Float32Array([0.5, -1, 2]) } },
 * });
 * const checkpoint = await readCheckpoint(`${dir}/run/final.ckpt`);
 * assert.ok(checkpoint.meta.step === 2048);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeCheckpoint(path: string, checkpoint: Checkpoint): Promise<void> {
  const label = `Cannot write checkpoint ${path}`;
  const bytes = encode(checkpoint, label);
  await writeFileAtomic(path, bytes, label);
}

/**
 * Reads and decodes a checkpoint file written by {@linkcode writeCheckpoint}.
 *
 * @param path The file's path.
 * @returns The checkpoint.
 * @throws `Cannot read checkpoint <path>: file not found`, or the errors of
 * {@linkcode decodeCheckpoint}.
 *
 * @example A missing file
 * ```ts
 * import assert from "node:assert/strict";
 * import { readCheckpoint } from "@proximal/core";
 * try {
 *   await readCheckpoint("no/such/final.ckpt");
 * } catch (error) {
 *   assert.ok((error as Error).message === "Cannot read checkpoint no/such/final.ckpt: file not found");
 * }
 * ```
 */
export async function readCheckpoint(path: string): Promise<Checkpoint> {
  const bytes = await readFileChecked(path, `Cannot read checkpoint ${path}`);
  return decodeCheckpoint(bytes, { source: path });
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

function encode(checkpoint: Checkpoint, label: string): Uint8Array {
  function fail(detail: string): never {
    throw new Error(`${label}: ${detail}`);
  }
  if (!isPlainObject(checkpoint.meta)) fail("meta must be a plain object");
  const problem = findJsonProblem(checkpoint.meta, "meta", []);
  if (problem !== undefined) fail(problem);

  const entries: TensorEntry[] = [];
  const datas: Float32Array[] = [];
  let offset = 0;
  for (const [name, tensor] of Object.entries(checkpoint.tensors)) {
    if (!(tensor.data instanceof Float32Array)) fail(`tensor "${name}" data is not a Float32Array`);
    const { shape, data } = tensor;
    if (!Array.isArray(shape) || !shape.every((n) => Number.isSafeInteger(n) && n >= 0)) {
      fail(`tensor "${name}" shape ${JSON.stringify(shape)} is not a list of whole numbers`);
    }
    const size = shape.reduce((a, b) => a * b, 1);
    if (size !== data.length) {
      fail(
        `tensor "${name}" has shape ${
          JSON.stringify(shape)
        } (${size} values) but ${data.length} values`,
      );
    }
    entries.push({ name, shape: [...shape], offset, length: data.length });
    datas.push(data);
    offset += data.byteLength;
  }

  let header: Uint8Array;
  try {
    header = new TextEncoder().encode(
      JSON.stringify({ format: FORMAT, meta: checkpoint.meta, tensors: entries }),
    );
  } catch (error) {
    fail(`meta is not JSON-serialisable: ${error instanceof Error ? error.message : error}`);
  }
  const dataStart = align4(PREAMBLE + header.length);
  const end = dataStart + offset;
  const bytes = new Uint8Array(end + CHECKSUM_BYTES);
  bytes.set(MAGIC, 0);
  new DataView(bytes.buffer).setUint32(MAGIC.length, header.length, true);
  bytes.set(header, PREAMBLE);
  entries.forEach((entry, i) => writeFloats(bytes, dataStart + entry.offset, datas[i]!));
  bytes.set(sha256(bytes.subarray(0, end)), end);
  return bytes;
}

/**
 * Finds the first value in `value` that JSON would drop, change or choke on, and says where it is.
 * Undefined object properties are allowed: they read back as undefined either way.
 */
function findJsonProblem(value: unknown, path: string, ancestors: object[]): string | undefined {
  switch (typeof value) {
    case "string":
    case "boolean":
      return undefined;
    case "number":
      return Number.isFinite(value) ? undefined : `${path} is ${value}, which JSON cannot store`;
    case "undefined":
      return `${path} is undefined, which JSON cannot store`;
    case "bigint":
    case "function":
    case "symbol":
      return `${path} is a ${typeof value}, which JSON cannot store`;
  }
  if (value === null) return undefined;
  const object = value as object;
  if (ancestors.includes(object)) return `${path} is a circular reference`;
  const inner = [...ancestors, object];
  if (Array.isArray(object)) {
    for (let i = 0; i < object.length; i++) {
      const problem = findJsonProblem(object[i], `${path}[${i}]`, inner);
      if (problem !== undefined) return problem;
    }
    return undefined;
  }
  if (typeof (object as { toJSON?: unknown }).toJSON === "function") return undefined;
  if (!isPlainObject(object)) {
    const type = object.constructor?.name ?? "object";
    return `${path} is a ${type}, which JSON cannot store faithfully`;
  }
  for (const [key, child] of Object.entries(object)) {
    if (child === undefined) continue;
    const problem = findJsonProblem(child, `${path}.${key}`, inner);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

function writeFloats(bytes: Uint8Array, start: number, data: Float32Array): void {
  if (LITTLE_ENDIAN) {
    bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), start);
    return;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset + start, data.byteLength);
  for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i]!, true);
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

function checkTensorEntry(
  entry: unknown,
  index: number,
  fail: (detail: string) => never,
): TensorEntry {
  if (!isPlainObject(entry)) fail(`tensor entry ${index} is not a JSON object`);
  const { name, shape, offset, length } = entry;
  if (typeof name !== "string") fail(`tensor entry ${index} has no string "name"`);
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    fail(`tensor "${name}" shape ${JSON.stringify(shape)} is not a list of whole numbers`);
  }
  if (!isCount(offset) || offset % 4 !== 0) {
    fail(`tensor "${name}" offset ${JSON.stringify(offset)} is not a multiple of 4`);
  }
  if (!isCount(length)) {
    fail(`tensor "${name}" length ${JSON.stringify(length)} is not a whole number`);
  }
  const size = shape.reduce((a: number, b: number) => a * b, 1);
  if (size !== length) {
    fail(
      `tensor "${name}" has shape ${JSON.stringify(shape)} (${size} values) but length ${length}`,
    );
  }
  return { name, shape, offset, length };
}

/** Copies `length` little-endian floats starting at byte `start` into a fresh array. */
function readFloats(bytes: Uint8Array, start: number, length: number): Float32Array {
  const data = new Float32Array(length);
  if (LITTLE_ENDIAN) {
    new Uint8Array(data.buffer).set(bytes.subarray(start, start + length * 4));
    return data;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset + start, length * 4);
  for (let i = 0; i < length; i++) data[i] = view.getFloat32(i * 4, true);
  return data;
}

function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(bytes).digest());
}

function align4(n: number): number {
  return Math.ceil(n / 4) * 4;
}
