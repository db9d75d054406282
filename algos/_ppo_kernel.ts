/**
 * The kernels of PPO's direct gradient engine (private, `_ppo_direct_engine.ts`) on float32
 * matrices in a `WebAssembly.Memory`: the matrix product `out = A·B`, where `A` is read through
 * strides (so `A` may be a stored matrix or its transpose: no transposing copies), and tanh and
 * its derivative over a range. Each in two implementations — JavaScript loops (the readable
 * reference, and the fallback where WebAssembly SIMD is missing) and WebAssembly SIMD, assembled
 * below (several times the loops' speed in V8: four lanes, four independent sums).
 * tests/ppo_math_test.ts pins the SIMD kernels to the loops.
 *
 * Shapes are padded by the caller: `rows`, `cols` and counts multiples of 4 (the padding is zeros).
 */

/** The operands of `out = A·B`: byte offsets into the memory, the shape and `A`'s strides. */
export interface MatMulArgs {
  /** Where `A` starts: its element (i, k) is at `a + 4·(i·aRow + k·aInner)`. */
  a: number;
  /** Where `B` (`inner × cols`, row-major) starts. */
  b: number;
  /** Rows of `A` and of `out` (`rows × cols`, row-major). */
  rows: number;
  inner: number;
  cols: number;
  /** `A`'s strides in floats: `inner, 1` for a row-major `A`, `1, rows` for a transposed one. */
  aRow: number;
  aInner: number;
}

/** `out = A·B`, `out` a byte offset into the memory. */
export type MatMul = (out: number, args: MatMulArgs) => void;

/** The direct engine's kernels on one memory; offsets in bytes, counts multiples of 4. */
export interface Kernels {
  /** `out = A·B`. */
  matMul: MatMul;
  /** `count` floats at `at` replaced by their tanh ({@linkcode fastTanh}). */
  tanh: (at: number, count: number) => void;
  /** `count` floats at `d` times 1 − h² of those at `h` (d/dz through h = tanh(z)). */
  tanhGrad: (d: number, of: { h: number; count: number }) => void;
}

/** Where float32's tanh rounds to ±1: the approximation's clamp (Eigen's). */
const TANH_CLAMP = 7.90531110763549805;
/** The numerator's coefficients in x² (highest first; times x), and the denominator's. */
const TANH_P = [
  -2.76076847742355e-16,
  2.00018790482477e-13,
  -8.60467152213735e-11,
  5.12229709037114e-08,
  1.48572235717979e-05,
  6.37261928875436e-04,
  4.89352455891786e-03,
];
const TANH_Q = [
  1.19825839466702e-06,
  1.18534705686654e-04,
  2.26843463243900e-03,
  4.89352518554385e-03,
];

/**
 * tanh as Eigen's `ptanh_float` (also XLA's and ONNX Runtime's MLAS kernel): an odd rational
 * approximation p(x)/q(x) of degrees 13/6 on the clamped argument, here in float64 (the SIMD
 * kernel evaluates it in float32). ~5× faster than `Math.tanh` in V8.
 *
 * @param x The argument.
 * @returns tanh(x) within 3e-7.
 */
export function fastTanh(x: number): number {
  const c = x > TANH_CLAMP ? TANH_CLAMP : x < -TANH_CLAMP ? -TANH_CLAMP : x;
  const x2 = c * c;
  let p = TANH_P[0]!, q = TANH_Q[0]!;
  for (let i = 1; i < TANH_P.length; i++) p = p * x2 + TANH_P[i]!;
  for (let i = 1; i < TANH_Q.length; i++) q = q * x2 + TANH_Q[i]!;
  return c * p / q;
}

/**
 * The kernels in JavaScript on a memory's float32 view. `matMul` sums, for each row of `out` and
 * block of 4 columns, along `inner` in float32 (the order and rounding of the SIMD kernel's
 * lanes, so the two agree to the bit).
 *
 * @param heap The memory's float32 view (its element offsets are the byte offsets ÷ 4).
 * @returns The kernels.
 */
export function jsKernels(heap: () => Float32Array): Kernels {
  const sums = new Float32Array(4);
  return {
    matMul: (outAt, { a: aAt, b: bAt, rows, inner, cols, aRow, aInner }) => {
      const m = heap(), a = aAt >> 2, b = bAt >> 2, out = outAt >> 2;
      for (let i = 0; i < rows; i++) {
        for (let c = 0; c < cols; c += 4) {
          sums.fill(0);
          for (let k = 0; k < inner; k++) {
            const x = m[a + i * aRow + k * aInner]!, row = b + k * cols + c;
            for (let j = 0; j < 4; j++) sums[j] = sums[j]! + Math.fround(x * m[row + j]!);
          }
          m.set(sums, out + i * cols + c);
        }
      }
    },
    tanh: (at, count) => {
      const m = heap(), from = at >> 2;
      for (let i = from; i < from + count; i++) m[i] = fastTanh(m[i]!);
    },
    tanhGrad: (dAt, { h: hAt, count }) => {
      const m = heap(), d = dAt >> 2, h = hAt >> 2;
      for (let i = 0; i < count; i++) m[d + i] = m[d + i]! * (1 - m[h + i]! * m[h + i]!);
    },
  };
}

/**
 * The kernels' modules, importing an unshared or a shared memory, each compiled once per process
 * (null where WebAssembly SIMD is missing).
 */
const compiled = new Map<boolean, WebAssembly.Module | null>();

/**
 * The kernels in WebAssembly SIMD on `memory` (unshared, or shared as the direct engine's pair
 * uses), or null where WebAssembly SIMD is missing.
 *
 * @param memory The memory the offsets point into.
 * @returns The kernels.
 */
export function wasmKernels(memory: WebAssembly.Memory): Kernels | null {
  const shared = typeof SharedArrayBuffer !== "undefined" &&
    memory.buffer instanceof SharedArrayBuffer;
  if (!compiled.has(shared)) {
    const bytes = kernelModule(shared);
    compiled.set(shared, WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null);
  }
  const module = compiled.get(shared);
  if (!module) return null;
  const { exports } = new WebAssembly.Instance(module, { env: { memory } });
  const matMul = exports.matMul as (...args: number[]) => void;
  const tanhGrad = exports.tanhGrad as (...args: number[]) => void;
  return {
    matMul: (out, { a, b, rows, inner, cols, aRow, aInner }) =>
      matMul(a, b, out, rows, inner, cols, aRow, aInner),
    tanh: exports.tanh as Kernels["tanh"],
    tanhGrad: (d, { h, count }) => tanhGrad(d, h, count),
  };
}

// ─────────────── The kernels, assembled (WebAssembly's binary format, with SIMD) ───────────────

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
  i32GtU: 0x4b,
  i32LtU: 0x49,
  if: 0x04,
  i32Add: 0x6a,
  i32Mul: 0x6c,
};
/** SIMD instructions: the 0xfd prefix, then the instruction's number as unsigned LEB128. */
const simd = {
  load: [0xfd, 0x00],
  store: [0xfd, 0x0b],
  const: [0xfd, 0x0c],
  load32Splat: [0xfd, 0x09],
  add: [0xfd, 0xe4, 0x01],
  sub: [0xfd, 0xe5, 0x01],
  mul: [0xfd, 0xe6, 0x01],
  div: [0xfd, 0xe7, 0x01],
  min: [0xfd, 0xe8, 0x01],
  max: [0xfd, 0xe9, 0x01],
};
/** A memory access's alignment (log2 bytes: 4-byte aligned) and offset. */
const memarg = [2, 0];

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

const get = (x: number) => [op.get, x], set = (x: number) => [op.set, x];
const int = (n: number) => [op.i32Const, ...uleb(n)];
const add = (...parts: number[][]) => [
  ...parts[0]!,
  ...parts.slice(1).flatMap((p) => [...p, op.i32Add]),
];
const times = (x: number[], y: number[]) => [...x, ...y, op.i32Mul];
/** A v128 of four float32 `x`. */
const splat4 = (x: number) => [
  ...simd.const,
  ...new Array(4).fill([...new Uint8Array(Float32Array.of(x).buffer)]).flat(),
];

/** for (x = 0; x < bound; x += step) body: block { loop { br_if (x >= bound) out; body; br } }. */
function loop(x: number, bound: number[], step: number[], body: number[]): number[] {
  return [
    ...int(0),
    ...set(x),
    op.block,
    0x40,
    op.loop,
    0x40,
    ...get(x),
    ...bound,
    op.i32GeU,
    op.brIf,
    1,
    ...body,
    ...add(get(x), step),
    ...set(x),
    op.br,
    0,
    op.end,
    op.end,
  ];
}

/**
 * `matMul`'s body. Locals: the eight i32 parameters (a, b, out, rows, inner, cols, aRow, aInner),
 * then i32 i, cb, k, pa, pb, po, colBytes, rowStep, innerStep, and v128 s0–s7, w0, w1, x. For each
 * block of 4 rows i … i + 3 and 8 columns (bytes cb … cb + 31; the last block 4 columns if `cols`
 * is not a multiple of 8) of `out`, it walks `inner`: w0, w1 = B[k, c … c + 7], x = A(i + r, k)
 * in every lane, and s_r += x·w0, s_(r+4) += x·w1 — four lanes, eight independent sums.
 */
function matMulBody(): number[] {
  const [a, b, out, rows, inner, cols, aRow, aInner] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [i, cb, k, pa, pb, po, colBytes, rowStep, innerStep] = [8, 9, 10, 11, 12, 13, 14, 15, 16];
  const sums = [17, 18, 19, 20, 21, 22, 23, 24], [w0, w1, x] = [25, 26, 27];
  const block = (wide: boolean) => {
    const used = wide ? sums : sums.slice(0, 4);
    // s += x·w
    const fma = (s: number, w: number) => [
      ...get(s),
      ...get(x),
      ...get(w),
      ...simd.mul,
      ...simd.add,
      ...set(s),
    ];
    return [
      ...used.flatMap((s) => [...splat4(0), ...set(s)]),
      ...add(get(a), times(get(i), get(rowStep))),
      ...set(pa),
      ...add(get(b), get(cb)),
      ...set(pb),
      ...loop(k, get(inner), int(1), [
        ...get(pb),
        ...simd.load,
        ...memarg,
        ...set(w0),
        ...(wide ? [...get(pb), ...simd.load, 2, 16, ...set(w1)] : []),
        ...[0, 1, 2, 3].flatMap((r) => [
          ...add(get(pa), times(int(r), get(rowStep))),
          ...simd.load32Splat,
          ...memarg,
          ...set(x),
          ...fma(sums[r]!, w0),
          ...(wide ? fma(sums[r + 4]!, w1) : []),
        ]),
        ...add(get(pa), get(innerStep)),
        ...set(pa),
        ...add(get(pb), get(colBytes)),
        ...set(pb),
      ]),
      ...add(get(out), times(get(i), get(colBytes)), get(cb)),
      ...set(po),
      ...[0, 1, 2, 3].flatMap((r) => [
        ...add(get(po), times(int(r), get(colBytes))),
        ...get(sums[r]!),
        ...simd.store,
        ...memarg,
        ...(wide
          ? [
            ...add(get(po), times(int(r), get(colBytes))),
            ...get(sums[r + 4]!),
            ...simd.store,
            2,
            16,
          ]
          : []),
      ]),
    ];
  };
  // The columns: blocks of 8 while 8 fit, then a block of 4 if 4 are left.
  const columns = [
    ...int(0),
    ...set(cb),
    op.block,
    0x40,
    op.loop,
    0x40,
    ...add(get(cb), int(32)),
    ...get(colBytes),
    op.i32GtU,
    op.brIf,
    1,
    ...block(true),
    ...add(get(cb), int(32)),
    ...set(cb),
    op.br,
    0,
    op.end,
    op.end,
    ...get(cb),
    ...get(colBytes),
    op.i32LtU,
    op.if,
    0x40,
    ...block(false),
    op.end,
  ];
  return [
    ...[2, 9, I32, 11, V128],
    ...times(get(cols), int(4)),
    ...set(colBytes),
    ...times(get(aRow), int(4)),
    ...set(rowStep),
    ...times(get(aInner), int(4)),
    ...set(innerStep),
    ...loop(i, get(rows), int(4), columns),
    op.end,
  ];
}

/**
 * `tanh`'s body: `count` floats at `at` (a multiple of 4) replaced by their tanh, four at a time,
 * as `tanhApprox` below in float32. Locals: at, count, then i32 i, p and v128 x, x2.
 */
function tanhBody(): number[] {
  const [at, count, i, p, x, x2] = [0, 1, 2, 3, 4, 5];
  // Horner's rule on x²: ((c0·x² + c1)·x² + …) + cn.
  const horner = (coefficients: number[]) => [
    ...splat4(coefficients[0]!),
    ...coefficients.slice(1).flatMap((c) => [...get(x2), ...simd.mul, ...splat4(c), ...simd.add]),
  ];
  return [
    2,
    2,
    I32,
    2,
    V128,
    ...loop(i, times(get(count), int(4)), int(16), [
      ...add(get(at), get(i)),
      ...set(p),
      ...get(p),
      ...get(p),
      ...simd.load,
      ...memarg,
      ...splat4(TANH_CLAMP),
      ...simd.min,
      ...splat4(-TANH_CLAMP),
      ...simd.max,
      ...set(x),
      ...get(x),
      ...get(x),
      ...simd.mul,
      ...set(x2),
      ...horner(TANH_P),
      ...get(x),
      ...simd.mul,
      ...horner(TANH_Q),
      ...simd.div,
      ...simd.store,
      ...memarg,
    ]),
    op.end,
  ];
}

/**
 * `tanhGrad`'s body: `count` floats at `d` (a multiple of 4) multiplied by 1 − h² of the floats
 * at `h`: a gradient through a tanh whose outputs are `h`. Locals: d, h, count, then i32 i, p and
 * v128 y.
 */
function tanhGradBody(): number[] {
  const [d, h, count, i, p, y] = [0, 1, 2, 3, 4, 5];
  return [
    2,
    2,
    I32,
    1,
    V128,
    ...loop(i, times(get(count), int(4)), int(16), [
      ...add(get(d), get(i)),
      ...set(p),
      ...add(get(h), get(i)),
      ...simd.load,
      ...memarg,
      ...set(y),
      ...get(p),
      ...get(p),
      ...simd.load,
      ...memarg,
      ...splat4(1),
      ...get(y),
      ...get(y),
      ...simd.mul,
      ...simd.sub,
      ...simd.mul,
      ...simd.store,
      ...memarg,
    ]),
    op.end,
  ];
}

/**
 * The module: imports `env.memory` (limits: at least 0 pages; shared ones need a maximum, the
 * largest a memory can have), exports `matMul`, `tanh` and `tanhGrad`.
 */
function kernelModule(shared: boolean): Uint8Array<ArrayBuffer> {
  const section = (id: number, body: number[]) => [id, ...sized(body)];
  const signature = (params: number) => [0x60, params, ...new Array(params).fill(I32), 0];
  const types = [3, ...signature(8), ...signature(2), ...signature(3)];
  const limits = shared ? [0x03, 0, ...uleb(65536)] : [0x00, 0];
  const imports = [1, ...name("env"), ...name("memory"), 0x02, ...limits];
  const names = ["matMul", "tanh", "tanhGrad"];
  const exports = [3, ...names.flatMap((n, f) => [...name(n), 0x00, f])];
  const bodies = [matMulBody(), tanhBody(), tanhGradBody()];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, types),
    ...section(2, imports),
    ...section(3, [3, 0, 1, 2]),
    ...section(7, exports),
    ...section(10, [3, ...bodies.flatMap(sized)]),
  ]);
}
