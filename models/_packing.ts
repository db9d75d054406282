// How GruLanguageModel lays a batch of rows of different lengths out for its GRU: PyTorch's
// PackedSequence. Rows are sorted by length, longest first (ties keep their order), and step t
// holds only the rows still running, so a row's padding costs no GRU or output-layer work. With
// every row running to the end the layout is the plain time-major one: row t·B + b is row b
// after t + 1 tokens.

/** A batch's packed layout. */
export interface Packing {
  /** Rows running at each step, non-increasing; as many steps as the longest row. */
  batchSizes: number[];
  /** Where each step's rows start: Σ of the earlier steps' batch sizes. */
  offsets: number[];
  /** The batch's rows, longest first. */
  order: Int32Array;
  /** rank[b]: row b's place in `order`, which is its row within each step it runs in. */
  rank: Int32Array;
  /** Packed rows in all, Σ batchSizes. */
  size: number;
}

/**
 * The packed layout of rows that run `lengths[b]` steps each (0 ≤ lengths[b] ≤ T).
 *
 * @param lengths The steps each row runs.
 * @returns The layout; {@linkcode packedRow} finds a (row, step) in it.
 */
export function packing(lengths: ArrayLike<number>): Packing {
  const B = lengths.length;
  const order = Int32Array.from({ length: B }, (_, b) => b)
    .sort((a, b) => lengths[b]! - lengths[a]! || a - b);
  const rank = new Int32Array(B);
  order.forEach((b, j) => rank[b] = j);
  const steps = B === 0 ? 0 : lengths[order[0]!]!;
  const batchSizes: number[] = [], offsets: number[] = [];
  let size = 0, running = B;
  for (let t = 0; t < steps; t++) {
    while (running > 0 && lengths[order[running - 1]!]! <= t) running--;
    batchSizes.push(running);
    offsets.push(size);
    size += running;
  }
  return { batchSizes, offsets, order, rank, size };
}

/** The packed row of batch row `b` after `t + 1` steps (the row must run that long). */
export function packedRow(p: Packing, b: number, t: number): number {
  return p.offsets[t]! + p.rank[b]!;
}

/** Time-major ids [T·B] (row t·B + b is row b's token t) → packed ids [size]. */
export function packIds(timeMajor: Int32Array, p: Packing): Int32Array {
  const B = p.order.length, out = new Int32Array(p.size);
  p.batchSizes.forEach((k, t) => {
    for (let j = 0; j < k; j++) out[p.offsets[t]! + j] = timeMajor[t * B + p.order[j]!]!;
  });
  return out;
}

/** True when the layout is the plain time-major one (every row runs every step, in order). */
export function isTimeMajor(p: Packing): boolean {
  const B = p.order.length;
  return p.batchSizes.every((k) => k === B) && p.order.every((b, j) => b === j);
}

/** Steps each row of a row-major `[B, T]` mask runs: to its last position of nonzero weight. */
export function maskLengths(mask: ArrayLike<number>, shape: [number, number]): Int32Array {
  const [B, T] = shape;
  return Int32Array.from({ length: B }, (_, b) => {
    let n = T;
    while (n > 0 && mask[b * T + n - 1] === 0) n--;
    return n;
  });
}

/**
 * Steps each of B rows runs when the states after `lengths[j]` tokens of row `rows[j]` (default
 * row j) are wanted: its longest wanted length, 0 for a row nobody reads.
 */
export function runLengths(B: number, lengths: Int32Array, rows?: Int32Array): Int32Array {
  const runs = new Int32Array(B);
  lengths.forEach((n, j) => {
    const b = rows ? rows[j]! : j;
    runs[b] = Math.max(runs[b]!, n);
  });
  return runs;
}
