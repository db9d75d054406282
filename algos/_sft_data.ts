// SFT's sentences: checked once when a trainer is built, and fingerprinted so that a checkpoint
// can refuse to resume on other sentences.

/** Rejects an empty sentence, an id outside the vocabulary or a special id, naming where. */
export function checkSentences(
  sentences: readonly Int32Array[],
  options: { name: string; vocabSize: number; forbidden: ReadonlySet<number> },
): void {
  const { name, vocabSize, forbidden } = options;
  sentences.forEach((s, i) => {
    if (!(s instanceof Int32Array)) {
      throw new TypeError(`Invalid SFT sentence ${name}[${i}]: it must be an Int32Array of ids`);
    }
    if (s.length === 0) throw new RangeError(`Invalid SFT sentence ${name}[${i}]: it is empty`);
    s.forEach((id, t) => {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
        throw new RangeError(
          `Invalid SFT sentence ${name}[${i}]: token ${id} at position ${t} is outside the vocabulary [0, ${vocabSize})`,
        );
      }
      if (forbidden.has(id)) {
        throw new RangeError(
          `Invalid SFT sentence ${name}[${i}]: token ${id} at position ${t} is <bos>, <eos> or a token the model never predicts (pass sentences without <bos>/<eos>: the trainer adds them)`,
        );
      }
    });
  });
}

/** FNV-1a (32-bit) of the sentences' lengths and ids, as hex: a check that a resume sees the same data. */
export function fingerprintOf(
  train: readonly Int32Array[],
  holdout: readonly Int32Array[],
): string {
  let h = 0x811c9dc5;
  const mix = (x: number) => {
    h = Math.imul(h ^ (x & 0xffff), 0x01000193);
    h = Math.imul(h ^ (x >>> 16), 0x01000193);
  };
  for (const part of [train, holdout]) {
    mix(part.length);
    for (const s of part) {
      mix(s.length);
      for (const id of s) mix(id);
    }
  }
  return `${train.length}+${holdout.length}/${(h >>> 0).toString(16).padStart(8, "0")}`;
}
