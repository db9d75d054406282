// What the Bradley–Terry reward model and its trainer share: their checkpoints' algo name and
// the model a checkpoint describes, texts encoded as `<bos> prompt completion <eos>` sequences,
// the reward (the value head at the last token) of a batch of them, and the Bradley–Terry loss,
// accuracy and margin of pairs, computed without a gradient.
import * as tf from "@tensorflow/tfjs";
import {
  type Checkpoint,
  type MetaReader,
  type PreferencePair,
  readTrainerState,
  type Tensor1D,
} from "@proximal/core";
import { BOS_ID, EOS_ID, GruLanguageModel, PAD_ID, WordTokenizer } from "@proximal/models";

/** The `algo` of a reward model trainer's checkpoints. */
export const REWARD_MODEL_ALGO = "bradley-terry";

/** What a checkpoint's reader says in errors: `Cannot <action> <owner>[ from <source>]: …`. */
export interface CheckpointReading {
  owner: string;
  action: string;
  source?: string;
}

/**
 * The tokenizer and a new model of the shape a reward model trainer's checkpoint describes (its
 * weights not yet loaded), and the checkpoint's metadata, after checking that it is one.
 */
export function modelOfCheckpoint(
  checkpoint: Checkpoint,
  reading: CheckpointReading,
): { tokenizer: WordTokenizer; model: GruLanguageModel; meta: MetaReader } {
  const { owner, action, source } = reading;
  // No parts yet: only the algo is checked, before anything is built from the meta.
  const { meta } = readTrainerState(checkpoint, { variables: {} }, {
    algo: REWARD_MODEL_ALGO,
    owner,
    action,
    ...(source === undefined ? {} : { source }),
  });
  const where = source === undefined ? "the checkpoint" : `checkpoint ${source}`;
  const tokenizer = WordTokenizer.fromJSON(meta.json("tokenizer"), { source: `in ${where}` });
  const shape = meta.reader("options");
  const model = new GruLanguageModel(tokenizer.vocabSize, {
    embeddingSize: shape.count("embeddingSize"),
    hiddenSize: shape.count("hiddenSize"),
    layers: shape.count("layers"),
    maskedTokens: meta.numbers("maskedTokens"),
    valueHead: true,
  });
  return { tokenizer, model, meta };
}

/** How texts become sequences: the tokenizer and the most tokens of prompt + completion kept. */
export interface SequenceEncoder {
  tokenizer: WordTokenizer;
  maxLength: number;
}

/** Pairs as sequences: row i of `chosen` and of `rejected` is pair i's. */
export interface EncodedPairs {
  chosen: Int32Array[];
  rejected: Int32Array[];
}

/** Loss, accuracy and mean margin of a set of pairs. */
export interface PairEvaluation {
  loss: number;
  accuracy: number;
  margin: number;
}

/**
 * `<bos> prompt completion <eos>`, prompt + completion cut to maxLength tokens. The prompt and the
 * completion are encoded separately and their ids joined, so a completion with or without its
 * leading space scores the same.
 */
export function encodeSequence(
  encoder: SequenceEncoder,
  text: { prompt: string; completion: string },
): Int32Array {
  const { tokenizer, maxLength } = encoder;
  const body = [...tokenizer.encode(text.prompt), ...tokenizer.encode(text.completion)];
  return Int32Array.from([BOS_ID, ...body.slice(0, maxLength), EOS_ID]);
}

/** Encodes pairs, naming `where` and the pair in the error for a malformed one. */
export function encodePairs(
  encoder: SequenceEncoder,
  pairs: readonly PreferencePair[],
  options: { where: string },
): EncodedPairs {
  const { where } = options;
  if (!Array.isArray(pairs) || pairs.length === 0) {
    throw new TypeError(`${where}: expected a non-empty array of preference pairs`);
  }
  const chosen: Int32Array[] = [], rejected: Int32Array[] = [];
  pairs.forEach((pair, i) => {
    const { prompt, chosen: c, rejected: r } = pair ?? {};
    if (typeof prompt !== "string" || typeof c !== "string" || typeof r !== "string") {
      throw new TypeError(`${where}: pair ${i} needs "prompt", "chosen" and "rejected" strings`);
    }
    chosen.push(encodeSequence(encoder, { prompt, completion: c }));
    rejected.push(encodeSequence(encoder, { prompt, completion: r }));
  });
  return { chosen, rejected };
}

/** The `[rows]` rewards of sequences, padded into one batch: differentiable. */
export function rewardTensor(
  model: GruLanguageModel,
  sequences: readonly Int32Array[],
): Tensor1D {
  const T = Math.max(...sequences.map((s) => s.length));
  const tokens = new Int32Array(sequences.length * T).fill(PAD_ID);
  sequences.forEach((s, b) => tokens.set(s, b * T));
  const lengths = Int32Array.from(sequences, (s) => s.length);
  const { value } = model.nextTokenLogits(
    tf.tensor2d(tokens, [sequences.length, T], "int32"),
    { lengths },
  );
  return value!;
}

/**
 * Rewards of sequences in input order, computed in length-sorted batches of `batchSize` without a
 * gradient (sorted, short sequences are not padded to long ones), read back once per batch.
 */
export function sequenceRewards(
  model: GruLanguageModel,
  sequences: readonly Int32Array[],
  options: { batchSize: number },
): Float32Array {
  const out = new Float32Array(sequences.length);
  const order = Array.from(sequences, (_, i) => i)
    .sort((a, b) => sequences[a]!.length - sequences[b]!.length || a - b);
  for (let first = 0; first < order.length; first += options.batchSize) {
    const batch = order.slice(first, first + options.batchSize);
    const rewards = tf.tidy(() => rewardTensor(model, batch.map((i) => sequences[i]!)));
    const data = rewards.dataSync();
    rewards.dispose();
    batch.forEach((i, j) => out[i] = data[j]!);
  }
  return out;
}

/** The loss, accuracy and mean margin of encoded pairs, in float64 from the rewards. */
export function evaluatePairs(
  model: GruLanguageModel,
  pairs: EncodedPairs,
  options: { batchSize: number },
): PairEvaluation {
  const rewards = sequenceRewards(model, [...pairs.chosen, ...pairs.rejected], options);
  const n = pairs.chosen.length;
  let loss = 0, correct = 0, margin = 0;
  for (let i = 0; i < n; i++) {
    const h = rewards[i]! - rewards[n + i]!;
    loss += softplus(-h);
    if (h > 0) correct++;
    margin += h;
  }
  return { loss: loss / n, accuracy: correct / n, margin: margin / n };
}

/** log(1 + eˣ) without overflow. */
function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

/**
 * Every variable but the language-model head (the output projection `w`, `b`, which the reward
 * does not read): in `GruLanguageModel`'s documented order they are at 1 + 4·layers and
 * 2 + 4·layers.
 */
export function trainableVariables(model: GruLanguageModel): tf.Variable[] {
  const head = 1 + 4 * model.layers;
  return model.variables.filter((_, i) => i !== head && i !== head + 1) as tf.Variable[];
}
