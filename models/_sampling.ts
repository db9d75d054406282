// Next-token sampling in JavaScript from a row of read-back probabilities, softmax(logits / T)
// computed by the backend's vectorised softmax kernel: top-k truncation, greedy decoding, and the
// log-probability of the chosen token under the distribution it was drawn from. Working on
// probabilities needs no `exp` per vocabulary entry here, which dominated the cost of a generation
// step when done on logits in JavaScript. `LmPolicy.evaluate` rebuilds the same distribution with
// tensor ops: top-k keeps every token whose probability is ≥ the k-th largest (ties included).
import type { Rng } from "@proximal/core";

/** Logit given to masked tokens (and to tokens outside the top-k): probability 0 in float32. */
export const MASKED_LOGIT = -1e9;

/** The k-th largest of `values` (1 ≤ k ≤ length), with a size-k min-heap: O(n log k). */
export function kthLargest(values: ArrayLike<number>, k: number): number {
  const heap = new Float64Array(k);
  let size = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (size < k) {
      // Sift up.
      let j = size++;
      while (j > 0) {
        const parent = (j - 1) >> 1;
        if (heap[parent]! <= v) break;
        heap[j] = heap[parent]!;
        j = parent;
      }
      heap[j] = v;
    } else if (v > heap[0]!) {
      // Replace the minimum and sift down.
      let j = 0;
      for (;;) {
        const left = 2 * j + 1;
        if (left >= k) break;
        const right = left + 1;
        const child = right < k && heap[right]! < heap[left]! ? right : left;
        if (heap[child]! >= v) break;
        heap[j] = heap[child]!;
        j = child;
      }
      heap[j] = v;
    }
  }
  return heap[0]!;
}

/** The smallest value that top-k keeps (−∞ when `topK` is 0 or ≥ the row's length). */
export function topKThreshold(values: ArrayLike<number>, topK: number): number {
  return topK > 0 && topK < values.length ? kthLargest(values, topK) : -Infinity;
}

/**
 * Picks a token from one row of probabilities: a draw restricted to the top-k when `rng` is given,
 * the most likely token otherwise.
 *
 * @returns The token and its log-probability under the (top-k renormalised) distribution.
 */
export function sampleToken(
  probs: Float32Array,
  options: { topK: number; rng: Rng | undefined },
): { token: number; logProb: number } {
  const n = probs.length;
  const threshold = topKThreshold(probs, options.topK);
  let best = 0, bestP = -1, kept = 0;
  for (let j = 0; j < n; j++) {
    const p = probs[j]!;
    if (p < threshold) continue;
    kept += p;
    if (p > bestP) {
      best = j;
      bestP = p;
    }
  }
  let token = best;
  if (options.rng) {
    let u = options.rng.uniform() * kept;
    for (let j = 0; j < n; j++) {
      const p = probs[j]!;
      // Zero-probability tokens (masked ones) are never picked, even through rounding.
      if (p < threshold || p === 0) continue;
      token = j;
      u -= p;
      if (u < 0) break;
    }
  }
  return { token, logProb: Math.log(probs[token]! / kept) };
}
