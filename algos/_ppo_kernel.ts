/**
 * The one matrix product of PPO's direct gradient engine (private, `_ppo_direct_engine.ts`):
 * `out = a·bᵀ` on float32 matrices in a `WebAssembly.Memory`, in two implementations that compute
 * the same sums — a JavaScript loop (the readable reference, and the fallback where WebAssembly
 * SIMD is missing) and a WebAssembly SIMD kernel assembled below (~4× the loop's speed in V8:
 * four lanes, four independent sums). tests/ppo_math_test.ts pins the kernel to the loop.
 *
 * The shapes are padded by the caller: `rows` and `cols` even, `inner` a multiple of 4 (padding
 * is zeros, which add nothing to a dot product).
 */

/** `out = a·bᵀ`: arguments are byte offsets into the memory, then `rows`, `inner`, `cols`. */
export type MatMulT = (
  a: number,
  b: number,
  out: number,
  rows: number,
  inner: number,
  cols: number,
) => void;

/**
 * The JavaScript `out = a·bᵀ` on a memory's float32 view: `a` is `rows × inner`, `b` `cols ×
 * inner`, `out` `rows × cols`, all row-major. Two rows of each at a time share their loads.
 *
 * @param heap The memory's float32 view (its element offsets are the byte offsets ÷ 4).
 * @returns The product.
 */
export function jsMatMulT(heap: () => Float32Array): MatMulT {
  return (aAt, bAt, outAt, rows, inner, cols) => {
    const m = heap(), a = aAt >> 2, b = bAt >> 2, out = outAt >> 2;
    for (let t = 0; t < rows; t += 2) {
      const a0 = a + t * inner, a1 = a0 + inner, o0 = out + t * cols, o1 = o0 + cols;
      for (let c = 0; c < cols; c += 2) {
        const b0 = b + c * inner, b1 = b0 + inner;
        let s00 = 0, s01 = 0, s10 = 0, s11 = 0;
        for (let k = 0; k < inner; k++) {
          const x0 = m[a0 + k]!, x1 = m[a1 + k]!, y0 = m[b0 + k]!, y1 = m[b1 + k]!;
          s00 += x0 * y0;
          s01 += x0 * y1;
          s10 += x1 * y0;
          s11 += x1 * y1;
        }
        m[o0 + c] = s00;
        m[o0 + c + 1] = s01;
        m[o1 + c] = s10;
        m[o1 + c + 1] = s11;
      }
    }
  };
}

/**
 * The WebAssembly SIMD `out = a·bᵀ` on `memory`, or null where WebAssembly SIMD is missing.
 *
 * @param memory The memory the offsets point into.
 * @returns The product.
 */
export function wasmMatMulT(memory: WebAssembly.Memory): MatMulT | null {
  const bytes = kernelModule();
  if (!WebAssembly.validate(bytes)) return null;
  const module = new WebAssembly.Module(bytes);
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  return instance.exports.matMulT as MatMulT;
}

// ─────────────── The kernel, assembled (WebAssembly's binary format, SIMD proposal) ───────────────

const I32 = 0x7f, V128 = 0x7b;
const op = {
  block: 0x02,
  loop: 0x03,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  get: 0x20,
  set: 0x21,
  i32Const: 0x41,
  i32GeU: 0x4f,
  i32Add: 0x6a,
  i32Mul: 0x6c,
  i32Shl: 0x74,
  f32Add: 0x92,
  f32Store: 0x38,
};
/** SIMD instructions: the 0xfd prefix, then the instruction's number as unsigned LEB128. */
const simd = {
  load: [0xfd, 0x00],
  const: [0xfd, 0x0c],
  extractLane: [0xfd, 0x1f],
  add: [0xfd, 0xe4, 0x01],
  mul: [0xfd, 0xe6, 0x01],
};

/** Unsigned LEB128. */
function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** A length-prefixed vector or section body. */
function sized(body: number[]): number[] {
  return [...uleb(body.length), ...body];
}

function name(text: string): number[] {
  return sized([...new TextEncoder().encode(text)]);
}

/**
 * The kernel's body. Locals: the six i32 parameters (a, b, out, rows, inner, cols), then i32 t,
 * c, k, rowBytes, pa0, pa1, pb0, pb1, po, and v128 s00, s01, s10, s11, x0, x1, y0, y1. For each pair of rows t,
 * t + 1 of `a` and pair c, c + 1 of `b`, four lanes of four dot products run along `inner`;
 * each sum's lanes are added at the end.
 */
function kernelBody(): number[] {
  const [a, b, out, rows, , cols] = [0, 1, 2, 3, 4, 5];
  const [t, c, k, rowBytes, pa0, pa1, pb0, pb1, po] = [6, 7, 8, 9, 10, 11, 12, 13, 14];
  const [s00, s01, s10, s11, x0, x1, y0, y1] = [15, 16, 17, 18, 19, 20, 21, 22];
  const get = (i: number) => [op.get, i], set = (i: number) => [op.set, i];
  const int = (n: number) => [op.i32Const, ...uleb(n)];
  const zero = [...simd.const, ...new Array(16).fill(0)];
  // `i += step`
  const bump = (i: number, step: number[]) => [...get(i), ...step, op.i32Add, ...set(i)];
  // while (i < bound) { body; i += step }: block { loop { br_if (i >= bound) out; body; br loop } }
  const loop = (i: number, bound: number[], step: number[], body: number[]) => [
    ...int(0),
    ...set(i),
    op.block,
    0x40,
    op.loop,
    0x40,
    ...get(i),
    ...bound,
    op.i32GeU,
    op.brIf,
    1,
    ...body,
    ...bump(i, step),
    op.br,
    0,
    op.end,
    op.end,
  ];
  const load = (p: number) => [...get(p), ...get(k), op.i32Add, ...simd.load, 2, 0];
  // s += x·y
  const fma = (s: number, x: number, y: number) => [
    ...get(s),
    ...get(x),
    ...get(y),
    ...simd.mul,
    ...simd.add,
    ...set(s),
  ];
  const lanes = (s: number) => [
    ...get(s),
    ...simd.extractLane,
    0,
    ...[1, 2, 3].flatMap((lane) => [...get(s), ...simd.extractLane, lane, op.f32Add]),
  ];
  const store = (at: number[], s: number) => [...at, ...lanes(s), op.f32Store, 2, 0];
  const row = (base: number, index: number) => [
    ...get(base),
    ...get(index),
    ...get(rowBytes),
    op.i32Mul,
    op.i32Add,
  ];
  const inner = [
    ...row(a, t),
    ...set(pa0),
    ...get(pa0),
    ...get(rowBytes),
    op.i32Add,
    ...set(pa1),
    ...row(b, c),
    ...set(pb0),
    ...get(pb0),
    ...get(rowBytes),
    op.i32Add,
    ...set(pb1),
    ...[s00, s01, s10, s11].flatMap((s) => [...zero, ...set(s)]),
    ...loop(k, get(rowBytes), int(16), [
      ...load(pa0),
      ...set(x0),
      ...load(pa1),
      ...set(x1),
      ...load(pb0),
      ...set(y0),
      ...load(pb1),
      ...set(y1),
      ...fma(s00, x0, y0),
      ...fma(s01, x0, y1),
      ...fma(s10, x1, y0),
      ...fma(s11, x1, y1),
    ]),
    // po = out + 4·(t·cols + c)
    ...get(out),
    ...get(t),
    ...get(cols),
    op.i32Mul,
    ...get(c),
    op.i32Add,
    ...int(2),
    op.i32Shl,
    op.i32Add,
    ...set(po),
    ...store(get(po), s00),
    ...store([...get(po), ...int(4), op.i32Add], s01),
    ...store([...get(po), ...get(cols), ...int(2), op.i32Shl, op.i32Add], s10),
    ...store(
      [...get(po), ...get(cols), ...int(2), op.i32Shl, op.i32Add, ...int(4), op.i32Add],
      s11,
    ),
  ];
  return [
    ...get(4),
    ...int(2),
    op.i32Shl,
    ...set(rowBytes),
    ...loop(t, get(rows), int(2), loop(c, get(cols), int(2), inner)),
    op.end,
  ];
}

/** The module: imports `env.memory`, exports `matMulT`. */
function kernelModule(): Uint8Array<ArrayBuffer> {
  const section = (id: number, body: number[]) => [id, ...sized(body)];
  const type = [1, 0x60, 6, I32, I32, I32, I32, I32, I32, 0];
  const imports = [1, ...name("env"), ...name("memory"), 0x02, 0x00, 0];
  const locals = [2, 9, I32, 8, V128];
  const code = [1, ...sized([...locals, ...kernelBody()])];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, type),
    ...section(2, imports),
    ...section(3, [1, 0]),
    ...section(7, [1, ...name("matMulT"), 0x00, 0]),
    ...section(10, code),
  ]);
}
