/**
 * The trainer kit: what every trainer shares, so that an algorithm's file holds only what is its
 * own. {@linkcode saveTrainerState} and {@linkcode readTrainerState} save and restore a trainer's
 * variables, Adam's state and the RNG with its own metadata, which a `MetaReader` reads back
 * typed, refusing a damaged or foreign checkpoint with a message that names what is wrong and
 * changing nothing. The options side of the kit (`TrainingOptions`, `checkOptions`) is in
 * training_options.ts.
 */
import * as tf from "@tensorflow/tfjs";
import type { Adam, AdamState } from "./adam.ts";
import { MetaReader, type MetaReaderOptions } from "./meta_reader.ts";
import type { Rng } from "./rng.ts";
import type { Variable } from "./tensors.ts";
import type { Checkpoint, SavedTensor } from "./trainer.ts";

/** What a trainer's checkpoint saves and restores; see {@linkcode saveTrainerState}. */
export interface TrainerParts {
  /** Named groups of variables, saved as tensors `${group}/0`, `${group}/1`, … in their order. */
  variables: Readonly<Record<string, readonly Variable[]>>;
  /** The optimizer: its moments as tensors `adam/m` and `adam/v`, its step count as meta `adamT`. */
  adam?: Adam;
  /** The random generator, as meta `rng`. */
  rng?: Rng;
}

/** Options of {@linkcode readTrainerState}. */
export interface ReadTrainerStateOptions {
  /** The algorithm's name the checkpoint must carry in `meta.algo`, e.g. `sft`. */
  algo: string;
  /** Who reads, named in errors: `Cannot resume <owner>: …`, e.g. `SFT`. */
  owner: string;
  /**
   * What a misshapen tensor suggests, shown after its shapes, e.g. `were hiddenSize or layers
   * changed?`; default `is it the same model architecture?`.
   */
  hint?: string;
  /** Where the checkpoint came from (a path), named in errors; default none. */
  source?: string;
  /** The verb of error messages; default `resume`. */
  action?: string;
  /**
   * The trainer's own checks that explain a mismatch better than a tensor's shape would (another
   * vocabulary, the other reference mode), run after the algo check and before the tensors'.
   */
  check?: (meta: MetaReader) => void;
}

/** What {@linkcode readTrainerState} returns: the checked checkpoint, ready to apply. */
export interface TrainerState {
  /** The trainer's own metadata, read typed. */
  readonly meta: MetaReader;
  /**
   * A tensor the trainer saved besides its parts, checked to exist.
   *
   * @param name Its name in the checkpoint.
   * @returns The tensor.
   */
  tensor(name: string): SavedTensor;
  /**
   * A tensor the trainer saved besides its parts, or `undefined` if there is none.
   *
   * @param name Its name in the checkpoint.
   * @returns The tensor or `undefined`.
   */
  optionalTensor(name: string): SavedTensor | undefined;
  /**
   * Assigns the variables, Adam's state and the RNG. Everything was checked before, so it cannot
   * fail half-way; call it once the trainer's own checks have passed too.
   */
  apply(): void;
}

/**
 * A trainer's checkpoint: its variables (tensors `${group}/${i}`), Adam's moments (`adam/m`,
 * `adam/v`) and step count (meta `adamT`), the RNG (meta `rng`), the algorithm's name (meta
 * `algo`) and the trainer's own metadata beside them. Add tensors of its own to the result.
 *
 * @param algo The algorithm's name, e.g. `sft`.
 * @param parts The variables, optimizer and generator to save.
 * @param meta The trainer's own JSON metadata (counters, fingerprints); it may not use the keys
 * the kit writes: `algo`, and `adamT` and `rng` when `parts` has Adam and an RNG (a trainer whose
 * generators live elsewhere, e.g. in worker shards, saves them itself).
 * @returns The checkpoint.
 * @throws If `meta` uses a reserved key.
 * @example Save and restore a variable, Adam and the RNG
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs";
 * import { Adam, readTrainerState, Rng, saveTrainerState, setupBackend } from "@proximal/core";
 * await setupBackend("wasm");
 * const w = tf.variable(tf.tensor1d([1, 2]));
 * const parts = { variables: { model: [w] }, adam: new Adam([w]), rng: new Rng(0) };
 * const checkpoint = saveTrainerState("toy", parts, { epoch: 1 });
 * w.assign(tf.tensor1d([0, 0]));
 * const state = readTrainerState(checkpoint, parts, { algo: "toy", owner: "Toy" });
 * assert.equal(state.meta.count("epoch"), 1);
 * state.apply();
 * assert.deepEqual(Array.from(w.dataSync()), [1, 2]);
 * w.dispose();
 * ```
 */
export function saveTrainerState(
  algo: string,
  parts: TrainerParts,
  meta: Record<string, unknown>,
): Checkpoint {
  // The keys the kit writes; `rng` is free for a trainer that saves its generators itself.
  const reserved = ["algo", ...(parts.adam ? ["adamT"] : []), ...(parts.rng ? ["rng"] : [])];
  const clash = reserved.find((key) => key in meta);
  if (clash !== undefined) {
    throw new Error(`Cannot save ${algo}'s state: its meta uses the reserved key "${clash}"`);
  }
  const tensors: Record<string, SavedTensor> = {};
  for (const [group, variables] of Object.entries(parts.variables)) {
    Object.assign(tensors, saveVariables(variables, group));
  }
  const state: Record<string, unknown> = { algo, ...meta };
  if (parts.adam) {
    const adam = parts.adam.getState();
    tensors["adam/m"] = adam.m;
    tensors["adam/v"] = adam.v;
    state.adamT = adam.t;
  }
  if (parts.rng) state.rng = parts.rng.getState();
  return { meta: state, tensors };
}

/**
 * Checks a checkpoint of {@linkcode saveTrainerState} against a trainer's parts — the algorithm's
 * name, every variable's tensor and shape (no more, no fewer), Adam's moments and step count, the
 * RNG — and returns its metadata, to be read typed, and an `apply()` that restores the parts.
 * Nothing changes until `apply()`, so a refused checkpoint leaves the trainer as it was.
 *
 * @param checkpoint The checkpoint.
 * @param parts The trainer's variables, optimizer and generator, as given to `saveTrainerState`.
 * @param options The algorithm's name, the owner and a hint for errors; see
 * {@linkcode ReadTrainerStateOptions}.
 * @returns The metadata reader and `apply`.
 * @throws `Cannot resume <owner>: <what is wrong>`.
 * @example Refuse a misshapen tensor, naming it
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs";
 * import { readTrainerState, saveTrainerState, setupBackend } from "@proximal/core";
 * await setupBackend("wasm");
 * const small = tf.variable(tf.zeros([2])), large = tf.variable(tf.zeros([3]));
 * const checkpoint = saveTrainerState("toy", { variables: { model: [small] } }, {});
 * assert.throws(
 *   () =>
 *     readTrainerState(checkpoint, { variables: { model: [large] } }, {
 *       algo: "toy",
 *       owner: "Toy",
 *       hint: "was hiddenSize changed?",
 *     }),
 *   /^Error: Cannot resume Toy: model tensor 0 has shape \[2\], the model needs \[3\] \(was hiddenSize changed\?\)$/,
 * );
 * tf.dispose([small, large]);
 * ```
 */
export function readTrainerState(
  checkpoint: Checkpoint,
  parts: TrainerParts,
  options: ReadTrainerStateOptions,
): TrainerState {
  const { meta, tensors } = checkpoint;
  const hint = options.hint ?? "is it the same model architecture?";
  const readerOptions: MetaReaderOptions = { owner: options.owner };
  if (options.source !== undefined) readerOptions.source = options.source;
  if (options.action !== undefined) readerOptions.action = options.action;
  const reader = new MetaReader(meta, readerOptions);
  const fail = (detail: string): never => reader.fail(detail);

  if (meta.algo !== options.algo) {
    fail(
      typeof meta.algo === "string"
        ? `the checkpoint is of algo "${meta.algo}"`
        : `the checkpoint names no algo (not a trainer's checkpoint?)`,
    );
  }
  options.check?.(reader);
  for (const [group, variables] of Object.entries(parts.variables)) {
    variables.forEach((v, i) => {
      const saved = tensors[`${group}/${i}`];
      if (!saved || saved.shape.join("x") !== v.shape.join("x")) {
        fail(
          `${group} tensor ${i} has shape [${
            saved?.shape ?? "missing"
          }], the model needs [${v.shape}] (${hint})`,
        );
      }
    });
    if (tensors[`${group}/${variables.length}`]) {
      fail(`the checkpoint's ${group} has more tensors than this trainer's (${hint})`);
    }
  }
  let adamState: AdamState | undefined;
  if (parts.adam) {
    const m = tensors["adam/m"], v = tensors["adam/v"];
    if (!m || !v) fail("the checkpoint has no optimizer state (adam/m, adam/v)");
    const size = parts.adam.getState().m.data.length;
    if (m!.data.length !== size || v!.data.length !== size) {
      fail(
        `the checkpoint's optimizer state holds ${m!.data.length} and ${
          v!.data.length
        } values, the optimizer ${size} (${hint})`,
      );
    }
    adamState = { t: reader.count("adamT"), m: m!, v: v! };
  }
  const rngState = parts.rng ? reader.rng("rng") : undefined;

  return {
    meta: reader,
    tensor(name: string): SavedTensor {
      const saved = tensors[name];
      return saved ?? fail(`the checkpoint has no tensor "${name}"`);
    },
    optionalTensor(name: string): SavedTensor | undefined {
      return tensors[name];
    },
    apply(): void {
      if (parts.adam && adamState) parts.adam.setState(adamState);
      if (parts.rng && rngState) parts.rng.setState(rngState);
      for (const [group, variables] of Object.entries(parts.variables)) {
        loadVariables(variables, tensors, group);
      }
    },
  };
}

/**
 * The values of a list of variables as checkpoint tensors named `${prefix}/0`, `${prefix}/1`, ….
 * {@linkcode saveTrainerState} saves a trainer's groups with it.
 *
 * @param variables The variables, in their fixed order.
 * @param prefix The name prefix, e.g. `policy`.
 * @returns Copies of their values.
 * @example Save a variable
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs";
 * import { saveVariables, setupBackend } from "@proximal/core";
 * await setupBackend("wasm");
 * const w = tf.variable(tf.tensor1d([1, 2]));
 * assert.deepEqual(Array.from(saveVariables([w], "model")["model/0"]!.data), [1, 2]);
 * w.dispose();
 * ```
 */
export function saveVariables(
  variables: readonly Variable[],
  prefix: string,
): Record<string, SavedTensor> {
  const tensors: Record<string, SavedTensor> = {};
  variables.forEach((v, i) => {
    tensors[`${prefix}/${i}`] = { shape: [...v.shape], data: Float32Array.from(v.dataSync()) };
  });
  return tensors;
}

/**
 * Assigns checkpoint tensors `${prefix}/i` to a list of variables. It checks only that each
 * tensor exists: {@linkcode readTrainerState} checks shapes first, with a message that says
 * which option would explain a mismatch.
 *
 * @param variables The variables, in their fixed order.
 * @param tensors The checkpoint's tensors.
 * @param prefix The name prefix used by {@linkcode saveVariables}.
 * @throws If a tensor is missing.
 * @example Restore a variable
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs";
 * import { loadVariables, setupBackend } from "@proximal/core";
 * await setupBackend("wasm");
 * const w = tf.variable(tf.tensor1d([0, 0]));
 * loadVariables([w], { "model/0": { shape: [2], data: Float32Array.of(3, 4) } }, "model");
 * assert.deepEqual(Array.from(w.dataSync()), [3, 4]);
 * w.dispose();
 * ```
 */
export function loadVariables(
  variables: readonly Variable[],
  tensors: Readonly<Record<string, SavedTensor>>,
  prefix: string,
): void {
  variables.forEach((variable, i) => {
    const saved = tensors[`${prefix}/${i}`];
    if (!saved) throw new Error(`Cannot restore: the checkpoint has no tensor "${prefix}/${i}"`);
    tf.tidy(() => variable.assign(tf.tensor(saved.data, saved.shape, "float32")));
  });
}
