import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import {
  decodeCheckpoint,
  encodeCheckpoint,
  readCheckpoint,
  writeCheckpoint,
} from "../core/checkpoint.ts";
import type { Checkpoint } from "../core/trainer.ts";

const SMALLEST_SUBNORMAL = 2 ** -149;

function sample(): Checkpoint {
  return {
    meta: {
      algo: "ppo",
      step: 4096,
      options: { learningRate: 2.5e-4, anneal: true, tag: "" },
      rng: [123456789, 362436069],
      env: null,
      note: "ünïcödé ✓",
    },
    tensors: {
      "actor/w0": {
        shape: [2, 3],
        data: new Float32Array([-0, 0, SMALLEST_SUBNORMAL, -SMALLEST_SUBNORMAL, 1e-40, 3.4e38]),
      },
      "actor/b0": { shape: [3], data: new Float32Array([-3.4e38, 1e-7, 0.1]) },
      "scalar": { shape: [], data: new Float32Array([7]) },
      "empty": { shape: [0, 4], data: new Float32Array(0) },
      "critic/w0": { shape: [1, 5], data: Float32Array.from({ length: 5 }, (_, i) => i / 3) },
    },
  };
}

function bits(data: Float32Array): number[] {
  return Array.from(new Uint32Array(data.buffer, data.byteOffset, data.length));
}

/**
 * Builds a file from a raw header, for corruption cases the encoder never produces, with a valid
 * SHA-256 trailer (worked out here with node:crypto) so that the header's own checks are reached.
 */
function withHeader(header: unknown, dataBytes = 0): Uint8Array {
  const json = new TextEncoder().encode(
    typeof header === "string" ? header : JSON.stringify(header),
  );
  const start = Math.ceil((12 + json.length) / 4) * 4;
  const bytes = new Uint8Array(start + dataBytes + 32);
  bytes.set(new TextEncoder().encode("PRXCKPT1"));
  new DataView(bytes.buffer).setUint32(8, json.length, true);
  bytes.set(json, 12);
  const end = start + dataBytes;
  bytes.set(createHash("sha256").update(bytes.subarray(0, end)).digest(), end);
  return bytes;
}

async function tempFiles(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.name.includes(".tmp-")) names.push(entry.name);
  }
  return names;
}

// ---------------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------------

Deno.test("a checkpoint round-trips with exact float bits, shapes and order", () => {
  const original = sample();
  const decoded = decodeCheckpoint(encodeCheckpoint(original));
  assert.deepEqual(Object.keys(decoded.tensors), Object.keys(original.tensors));
  for (const [name, tensor] of Object.entries(original.tensors)) {
    const copy = decoded.tensors[name];
    assert.ok(copy, name);
    assert.deepEqual(copy.shape, tensor.shape, name);
    assert.ok(copy.data instanceof Float32Array, name);
    assert.deepEqual(bits(copy.data), bits(tensor.data), name);
  }
  const w0 = decoded.tensors["actor/w0"]!.data;
  assert.ok(Object.is(w0[0], -0));
  assert.ok(Object.is(w0[1], 0));
  assert.equal(w0[2], SMALLEST_SUBNORMAL);
});

Deno.test("meta round-trips through JSON", () => {
  const original = sample();
  assert.deepEqual(decodeCheckpoint(encodeCheckpoint(original)).meta, original.meta);
  assert.deepEqual(decodeCheckpoint(encodeCheckpoint({ meta: {}, tensors: {} })), {
    meta: {},
    tensors: {},
  });
});

Deno.test("the file starts with the magic bytes and its data is 4-byte aligned", () => {
  for (const note of ["", "a", "ab", "abc"]) {
    const bytes = encodeCheckpoint({
      meta: { note },
      tensors: { x: { shape: [2], data: new Float32Array([1.5, -2]) } },
    });
    assert.equal(new TextDecoder().decode(bytes.subarray(0, 8)), "PRXCKPT1");
    const headerLength = new DataView(bytes.buffer).getUint32(8, true);
    const dataStart = Math.ceil((12 + headerLength) / 4) * 4;
    assert.equal(bytes.length, dataStart + 8 + 32);
    const digest = createHash("sha256").update(bytes.subarray(0, dataStart + 8)).digest();
    assert.deepEqual(bytes.subarray(dataStart + 8), new Uint8Array(digest));
    const view = new DataView(bytes.buffer);
    assert.equal(view.getFloat32(dataStart, true), 1.5);
    assert.equal(view.getFloat32(dataStart + 4, true), -2);
  }
});

Deno.test("decoded tensors are fresh aligned arrays even from an unaligned view", () => {
  const encoded = encodeCheckpoint(sample());
  // Place the file at an odd offset of a larger buffer.
  const buffer = new Uint8Array(encoded.length + 3);
  buffer.set(encoded, 1);
  const view = buffer.subarray(1, 1 + encoded.length);
  const decoded = decodeCheckpoint(view);
  const data = decoded.tensors["critic/w0"]!.data;
  assert.notEqual(data.buffer, buffer.buffer);
  assert.equal(data.byteOffset, 0);
  assert.deepEqual(bits(data), bits(sample().tensors["critic/w0"]!.data));
  buffer.fill(0);
  assert.equal(data[3], Math.fround(1));
});

Deno.test("encoding reads tensors that are views into larger buffers", () => {
  const backing = new Float32Array([9, 1, 2, 3, 9]);
  const decoded = decodeCheckpoint(encodeCheckpoint({
    meta: {},
    tensors: { v: { shape: [3], data: backing.subarray(1, 4) } },
  }));
  assert.deepEqual(Array.from(decoded.tensors.v!.data), [1, 2, 3]);
});

// ---------------------------------------------------------------------------------------------
// Encoding errors
// ---------------------------------------------------------------------------------------------

Deno.test("encoding rejects meta that JSON cannot store faithfully", () => {
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ state: cyclic }, /^Cannot encode checkpoint: meta\.state\.self is a circular reference$/],
    [{ f: () => 1 }, /^Cannot encode checkpoint: meta\.f is a function/],
    [{ n: 10n }, /^Cannot encode checkpoint: meta\.n is a bigint/],
    [{ loss: NaN }, /^Cannot encode checkpoint: meta\.loss is NaN/],
    [{ list: [1, undefined] }, /^Cannot encode checkpoint: meta\.list\[1\] is undefined/],
    [{ seen: new Map([[1, 2]]) }, /^Cannot encode checkpoint: meta\.seen is a Map/],
    [{ obs: new Float32Array(2) }, /^Cannot encode checkpoint: meta\.obs is a Float32Array/],
  ];
  for (const [meta, pattern] of cases) {
    assert.throws(() => encodeCheckpoint({ meta, tensors: {} }), (error: Error) => {
      assert.match(error.message, pattern);
      return true;
    });
  }
  // Undefined properties are dropped by JSON and read back as undefined: allowed.
  const decoded = decodeCheckpoint(encodeCheckpoint({ meta: { a: undefined, b: 1 }, tensors: {} }));
  assert.deepEqual(decoded.meta, { b: 1 });
  // A shared (not circular) object is fine.
  const shared = { x: 1 };
  assert.deepEqual(
    decodeCheckpoint(encodeCheckpoint({ meta: { p: shared, q: shared }, tensors: {} })).meta,
    { p: { x: 1 }, q: { x: 1 } },
  );
});

Deno.test("encoding rejects a tensor whose data does not match its shape", () => {
  assert.throws(
    () =>
      encodeCheckpoint({ meta: {}, tensors: { w: { shape: [2, 3], data: new Float32Array(5) } } }),
    { message: 'Cannot encode checkpoint: tensor "w" has shape [2,3] (6 values) but 5 values' },
  );
  assert.throws(
    () =>
      encodeCheckpoint({ meta: {}, tensors: { w: { shape: [1.5], data: new Float32Array(1) } } }),
    /^Error: Cannot encode checkpoint: tensor "w" shape \[1\.5\] is not a list of whole numbers$/,
  );
});

// ---------------------------------------------------------------------------------------------
// Decoding errors
// ---------------------------------------------------------------------------------------------

Deno.test("decoding a truncated file names the tensor and the byte counts", () => {
  const bytes = encodeCheckpoint({
    meta: {},
    tensors: {
      "actor/b0": { shape: [2], data: new Float32Array(2) },
      "actor/w0": { shape: [16, 16], data: new Float32Array(256) },
    },
  });
  const start = bytes.length - 32 - 1024;
  const cut = bytes.subarray(0, bytes.length - 100);
  assert.throws(
    () => decodeCheckpoint(cut, { source: "/x/final.ckpt" }),
    {
      message:
        `Invalid checkpoint /x/final.ckpt: truncated data for tensor "actor/w0" (needs 1024 bytes at ${start}, file has ${cut.length})`,
    },
  );
  // Cut inside the header: the header length runs past the end.
  assert.throws(
    () => decodeCheckpoint(bytes.subarray(0, 20), { source: "a.ckpt" }),
    /^Error: Invalid checkpoint a\.ckpt: header length \d+ runs past the end of the file \(needs \d+ bytes, file has 20\)$/,
  );
  assert.throws(
    () => decodeCheckpoint(bytes.subarray(0, 5), { source: "a.ckpt" }),
    { message: "Invalid checkpoint a.ckpt: file is too short to be a checkpoint (5 bytes)" },
  );
});

Deno.test("decoding rejects bad magic bytes", () => {
  const bytes = encodeCheckpoint(sample());
  bytes[7] = "2".charCodeAt(0);
  assert.throws(
    () => decodeCheckpoint(bytes, { source: "b.ckpt" }),
    { message: "Invalid checkpoint b.ckpt: not a proximal checkpoint (bad magic bytes)" },
  );
  assert.throws(
    () => decodeCheckpoint(new TextEncoder().encode('{"format":1}')),
    { message: "Invalid checkpoint: not a proximal checkpoint (bad magic bytes)" },
  );
});

Deno.test("decoding rejects a header length past the end of the file", () => {
  const bytes = encodeCheckpoint(sample());
  new DataView(bytes.buffer).setUint32(8, 0xffffffff, true);
  assert.throws(
    () => decodeCheckpoint(bytes, { source: "c.ckpt" }),
    {
      message:
        `Invalid checkpoint c.ckpt: header length 4294967295 runs past the end of the file (needs ${
          12 + 0xffffffff
        } bytes, file has ${bytes.length})`,
    },
  );
});

Deno.test("decoding rejects a header that is not valid JSON", () => {
  assert.throws(
    () => decodeCheckpoint(withHeader('{"format": 2, "meta": {'), { source: "d.ckpt" }),
    /^Error: Invalid checkpoint d\.ckpt: header is not valid UTF-8 JSON: /,
  );
  const bytes = withHeader('{"format":2,"meta":{},"tensors":[]}');
  bytes[14] = 0xff;
  assert.throws(
    () => decodeCheckpoint(bytes, { source: "d.ckpt" }),
    /^Error: Invalid checkpoint d\.ckpt: header is not valid UTF-8 JSON: /,
  );
});

Deno.test("decoding checks the header's fields", () => {
  const cases: [unknown, string][] = [
    [[1, 2], "header is not a JSON object"],
    [{ format: 3, meta: {}, tensors: [] }, "unsupported format 3 (this version reads format 2)"],
    [{ meta: {}, tensors: [] }, "unsupported format undefined (this version reads format 2)"],
    [
      { format: 1, meta: {}, tensors: [] },
      "format 1 has no checksum (written by an older proximal), so it cannot be verified: train again, or load it with that version",
    ],
    [{ format: 2, meta: [], tensors: [] }, '"meta" is not a JSON object'],
    [{ format: 2, meta: "x", tensors: [] }, '"meta" is not a JSON object'],
    [{ format: 2, meta: {}, tensors: {} }, '"tensors" is not an array'],
    [{ format: 2, meta: {}, tensors: [7] }, "tensor entry 0 is not a JSON object"],
    [
      { format: 2, meta: {}, tensors: [{ shape: [1], offset: 0, length: 1 }] },
      'tensor entry 0 has no string "name"',
    ],
    [
      { format: 2, meta: {}, tensors: [{ name: "w", shape: [2, 1.5], offset: 0, length: 3 }] },
      'tensor "w" shape [2,1.5] is not a list of whole numbers',
    ],
    [
      { format: 2, meta: {}, tensors: [{ name: "w", shape: [-1], offset: 0, length: 1 }] },
      'tensor "w" shape [-1] is not a list of whole numbers',
    ],
    [
      { format: 2, meta: {}, tensors: [{ name: "w", shape: [2, 3], offset: 0, length: 5 }] },
      'tensor "w" has shape [2,3] (6 values) but length 5',
    ],
    [
      { format: 2, meta: {}, tensors: [{ name: "w", shape: [1], offset: 2, length: 1 }] },
      'tensor "w" offset 2 is not a multiple of 4',
    ],
    [
      { format: 2, meta: {}, tensors: [{ name: "w", shape: [1], offset: 0, length: "1" }] },
      'tensor "w" length "1" is not a whole number',
    ],
    [
      {
        format: 2,
        meta: {},
        tensors: [
          { name: "w", shape: [1], offset: 0, length: 1 },
          { name: "w", shape: [1], offset: 4, length: 1 },
        ],
      },
      'duplicate tensor "w"',
    ],
  ];
  for (const [header, detail] of cases) {
    assert.throws(
      () => decodeCheckpoint(withHeader(header, 8), { source: "e.ckpt" }),
      { message: `Invalid checkpoint e.ckpt: ${detail}` },
    );
  }
  // The same file builder makes a valid checkpoint when the header is right.
  const ok = decodeCheckpoint(
    withHeader(
      { format: 2, meta: {}, tensors: [{ name: "w", shape: [2], offset: 0, length: 2 }] },
      8,
    ),
  );
  assert.deepEqual(Array.from(ok.tensors.w!.data), [0, 0]);
});

Deno.test("a changed byte anywhere in the file is refused, naming the file", () => {
  const bytes = encodeCheckpoint(sample());
  assert.ok(decodeCheckpoint(bytes));
  // Every offset, each with one flipped bit: the header, the tensors and the checksum itself.
  for (let offset = 0; offset < bytes.length; offset++) {
    const damaged = bytes.slice();
    damaged[offset]! ^= 1 << (offset % 8);
    assert.throws(
      () => decodeCheckpoint(damaged, { source: "g.ckpt" }),
      /^Error: Invalid checkpoint g\.ckpt: /,
      `offset ${offset}`,
    );
  }
  // A flip in the float data itself is caught by the checksum.
  const damaged = bytes.slice();
  damaged[bytes.length - 40]! ^= 0x10;
  assert.throws(
    () => decodeCheckpoint(damaged, { source: "g.ckpt" }),
    {
      message:
        "Invalid checkpoint g.ckpt: checksum mismatch: the file was changed or damaged after it was written",
    },
  );
  assert.throws(
    () => decodeCheckpoint(new Uint8Array([...bytes, 0]), { source: "g.ckpt" }),
    {
      message: `Invalid checkpoint g.ckpt: the file has ${
        bytes.length + 1
      } bytes, its header describes ${bytes.length} (truncated, or bytes appended)`,
    },
  );
});

Deno.test("a non-finite weight is refused at load, naming the tensor, unless allowed", () => {
  const bytes = encodeCheckpoint({
    meta: {},
    tensors: {
      "actor/w0": { shape: [2], data: new Float32Array([1, 2]) },
      "actor/b0": { shape: [3], data: new Float32Array([0, Infinity, NaN]) },
    },
  });
  assert.throws(
    () => decodeCheckpoint(bytes, { source: "h.ckpt" }),
    { message: 'Invalid checkpoint h.ckpt: tensor "actor/b0" holds Infinity at index 1' },
  );
  const decoded = decodeCheckpoint(bytes, { allowNonFinite: true });
  assert.deepEqual(
    bits(decoded.tensors["actor/b0"]!.data),
    bits(new Float32Array([0, Infinity, NaN])),
  );
});

Deno.test("decoding a real file whose header shape was edited reports the mismatch", () => {
  const bytes = encodeCheckpoint(sample());
  const needle = new TextEncoder().encode('"shape":[2,3]');
  const at = bytes.findIndex((_, i) => needle.every((b, j) => bytes[i + j] === b));
  assert.ok(at > 0);
  bytes.set(new TextEncoder().encode('"shape":[2,4]'), at);
  assert.throws(
    () => decodeCheckpoint(bytes, { source: "f.ckpt" }),
    {
      message:
        'Invalid checkpoint f.ckpt: tensor "actor/w0" has shape [2,4] (8 values) but length 6',
    },
  );
});

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

Deno.test("writeCheckpoint creates the directory and readCheckpoint reads the file back", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "runs", "ppo-1", "final.ckpt");
    await writeCheckpoint(path, sample());
    const read = await readCheckpoint(path);
    assert.deepEqual(read.meta, sample().meta);
    assert.deepEqual(
      bits(read.tensors["actor/w0"]!.data),
      bits(sample().tensors["actor/w0"]!.data),
    );
    assert.deepEqual(await tempFiles(join(dir, "runs", "ppo-1")), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeCheckpoint replaces an existing file and leaves no temporary file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "latest.ckpt");
    await writeCheckpoint(path, { meta: { step: 1 }, tensors: {} });
    await writeCheckpoint(path, { meta: { step: 2 }, tensors: {} });
    assert.equal((await readCheckpoint(path)).meta.step, 2);
    assert.deepEqual(await tempFiles(dir), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a failed writeCheckpoint keeps the old file intact", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "latest.ckpt");
    await writeCheckpoint(path, sample());
    const before = await Deno.readFile(path);
    const cyclic: Record<string, unknown> = {};
    cyclic.loop = cyclic;
    await assert.rejects(
      writeCheckpoint(path, { meta: { cyclic }, tensors: {} }),
      { message: `Cannot write checkpoint ${path}: meta.cyclic.loop is a circular reference` },
    );
    assert.deepEqual(await Deno.readFile(path), before);
    assert.deepEqual(await tempFiles(dir), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a writeCheckpoint that fails after writing removes its temporary file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // The target is a non-empty directory, so the final rename fails.
    const path = join(dir, "occupied");
    await Deno.mkdir(path);
    await Deno.writeTextFile(join(path, "keep.txt"), "kept");
    await assert.rejects(
      writeCheckpoint(path, sample()),
      (error: Error) => {
        assert.ok(error.message.startsWith(`Cannot write checkpoint ${path}: `), error.message);
        return true;
      },
    );
    assert.deepEqual(await tempFiles(dir), []);
    assert.equal(await Deno.readTextFile(join(path, "keep.txt")), "kept");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readCheckpoint reports a missing file and names the path in decode errors", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const missing = join(dir, "nope.ckpt");
    await assert.rejects(
      readCheckpoint(missing),
      { message: `Cannot read checkpoint ${missing}: file not found` },
    );
    const garbage = join(dir, "garbage.ckpt");
    await Deno.writeTextFile(garbage, "not a checkpoint at all");
    await assert.rejects(
      readCheckpoint(garbage),
      { message: `Invalid checkpoint ${garbage}: not a proximal checkpoint (bad magic bytes)` },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
