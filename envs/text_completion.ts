/**
 * The text-completion env: a language model writes a completion one token at a time. The
 * observation is the context — prompt plus the tokens generated so far — as token ids,
 * left-aligned and padded with `<pad>` (0) to `contextLength`; an action is the next token. The
 * episode ends at `<eos>` (terminated) or after `maxNewTokens` tokens (truncated).
 *
 * Every step pays 0: the judgement comes at the end, from a `RewardSource` that scores the whole
 * (prompt, completion), which the episode's final `info` carries as text. A rollout processor
 * (see `scoreEpisodes` in `@proximal/reward-models`) adds that score at the last token, in batch
 * over all the episodes of a rollout, so a reward model runs once per rollout rather than once per
 * episode. Stepping many copies in a `VectorEnv` runs a batch of prompts.
 */
import {
  Box,
  Discrete,
  type Env,
  type ResetOptions,
  type ResetResult,
  Rng,
  type StepResult,
} from "@proximal/core";

/** Options of {@linkcode TextCompletionEnv}. */
export interface TextCompletionEnvOptions {
  /** Prompts as token ids (usually starting with `<bos>`); each episode draws one uniformly. */
  prompts: readonly Int32Array[];
  /** The vocabulary size: actions are `0 … vocabSize − 1`. */
  vocabSize: number;
  /** Tokens the policy may write per episode; default 16. */
  maxNewTokens?: number;
  /** Observation length; default the longest prompt plus `maxNewTokens`. */
  contextLength?: number;
  /** The end-of-sequence token; default 2 (`EOS_ID` of `WordTokenizer`). */
  eosId?: number;
  /** Turns ids into text for the final info (e.g. `tokenizer.decode`); default ids joined by spaces. */
  decode?: (ids: Int32Array) => string;
}

/** What the last step of an episode puts in its `info`. */
export interface TextEpisodeInfo {
  /** The prompt as text. */
  prompt: string;
  /** The completion as text (without `<eos>`). */
  completion: string;
  /** The prompt's ids. */
  promptIds: number[];
  /** The completion's ids (without `<eos>`). */
  completionIds: number[];
}

/** The saved state of a {@linkcode TextCompletionEnv} (plain JSON). */
export interface TextCompletionEnvState {
  /** Index of the current prompt, or -1 before the first reset. */
  prompt: number;
  /** Tokens generated so far. */
  generated: number[];
  /** The env's generator, which draws prompts. */
  rng: ReturnType<Rng["getState"]>;
}

/**
 * Token-level generation as an env.
 *
 * @example Write "3 2" after a two-token prompt
 * ```ts
 * import assert from "node:assert/strict";
 * import { TextCompletionEnv } from "@proximal/envs";
 * const env = new TextCompletionEnv({ prompts: [Int32Array.of(1, 5)], vocabSize: 8, maxNewTokens: 4 });
 * assert.deepEqual(Array.from(env.reset({ seed: 0 }).observation), [1, 5, 0, 0, 0, 0]);
 * env.step(3);
 * const last = env.step(2);
 * assert.equal(last.terminated, true);
 * assert.deepEqual(last.info.completionIds, [3]);
 * ```
 */
export class TextCompletionEnv implements Env<Float32Array, number> {
  /** Token ids of the context, padded with 0. */
  readonly observationSpace: Box;
  /** The next token. */
  readonly actionSpace: Discrete;
  /** Observation length. */
  readonly contextLength: number;
  /** Tokens per episode at most. */
  readonly maxNewTokens: number;
  readonly #prompts: readonly Int32Array[];
  readonly #eosId: number;
  readonly #decode: (ids: Int32Array) => string;
  #rng = new Rng(0);
  #prompt = -1;
  #generated: number[] = [];

  /**
   * Checks the prompts against the vocabulary and the context length.
   *
   * @param options See {@linkcode TextCompletionEnvOptions}.
   */
  constructor(options: TextCompletionEnvOptions) {
    const { prompts, vocabSize } = options;
    if (!Array.isArray(prompts) || prompts.length === 0) {
      throw new RangeError(
        "The text-completion env needs at least one prompt: the prompt set is empty",
      );
    }
    if (!Number.isInteger(vocabSize) || vocabSize < 3) {
      throw new RangeError(
        `The text-completion env needs a vocabulary of >= 3 tokens, got ${vocabSize}`,
      );
    }
    this.maxNewTokens = options.maxNewTokens ?? 16;
    if (!Number.isInteger(this.maxNewTokens) || this.maxNewTokens < 1) {
      throw new RangeError(`maxNewTokens must be a whole number >= 1, got ${this.maxNewTokens}`);
    }
    const longest = Math.max(...prompts.map((p) => p.length));
    this.contextLength = options.contextLength ?? longest + this.maxNewTokens;
    this.#eosId = options.eosId ?? 2;
    prompts.forEach((prompt, i) => {
      if (prompt.length === 0) {
        throw new RangeError(`Prompt ${i} of the text-completion env is empty`);
      }
      if (prompt.length + this.maxNewTokens > this.contextLength) {
        throw new RangeError(
          `Prompt ${i} has ${prompt.length} tokens: with maxNewTokens ${this.maxNewTokens} it does not fit the context length ${this.contextLength}`,
        );
      }
      const bad = prompt.findIndex((id: number) => id < 0 || id >= vocabSize);
      if (bad >= 0) {
        throw new RangeError(
          `Prompt ${i} has token id ${
            prompt[bad]
          } at position ${bad}, outside the vocabulary of ${vocabSize}`,
        );
      }
    });
    this.#prompts = prompts;
    this.#decode = options.decode ?? ((ids) => Array.from(ids).join(" "));
    this.observationSpace = new Box({ low: 0, high: vocabSize - 1, shape: [this.contextLength] });
    this.actionSpace = new Discrete(vocabSize);
  }

  /**
   * Draws a prompt and returns it as the first observation.
   *
   * @param options `seed` reseeds the prompt draw.
   * @returns The padded prompt.
   * @example See {@linkcode TextCompletionEnv}
   * ```ts ignore
   * const { observation } = env.reset({ seed: 1 });
   * ```
   */
  reset(options: ResetOptions = {}): ResetResult<Float32Array> {
    if (options.seed !== undefined) this.#rng = new Rng(options.seed);
    this.#prompt = this.#rng.int(this.#prompts.length);
    this.#generated = [];
    return { observation: this.#observe(), info: {} };
  }

  /**
   * Appends a token; the episode ends at `<eos>` or after `maxNewTokens` tokens.
   *
   * @param action A token id.
   * @returns Reward 0; at the end, `info` is a {@linkcode TextEpisodeInfo}.
   * @example See {@linkcode TextCompletionEnv}
   * ```ts ignore
   * const { terminated, info } = env.step(token);
   * ```
   */
  step(action: number): StepResult<Float32Array> {
    if (!this.actionSpace.contains(action)) {
      throw new RangeError(
        `Text-completion action must be a token id in [0, ${this.actionSpace.n}), got ${action}`,
      );
    }
    if (this.#prompt < 0) {
      throw new Error("Cannot step the text-completion env: call reset() first");
    }
    this.#generated.push(action);
    const terminated = action === this.#eosId;
    const truncated = !terminated && this.#generated.length >= this.maxNewTokens;
    const info = terminated || truncated ? this.#episodeInfo(terminated) : {};
    return { observation: this.#observe(), reward: 0, terminated, truncated, info };
  }

  /**
   * The prompt index, the tokens so far and the generator, for checkpoints.
   *
   * @returns A JSON-serialisable {@linkcode TextCompletionEnvState}.
   * @example Save
   * ```ts ignore
   * const state = env.getState();
   * ```
   */
  getState(): TextCompletionEnvState {
    return { prompt: this.#prompt, generated: [...this.#generated], rng: this.#rng.getState() };
  }

  /**
   * Restores a state from {@linkcode TextCompletionEnv.getState}.
   *
   * @param state The saved state.
   * @example Restore
   * ```ts ignore
   * env.setState(saved);
   * ```
   */
  setState(state: unknown): void {
    const s = state as Partial<TextCompletionEnvState> | null;
    if (
      !s || !Number.isInteger(s.prompt) || s.prompt! < -1 || s.prompt! >= this.#prompts.length ||
      !Array.isArray(s.generated) || s.generated.length >= this.maxNewTokens ||
      !s.generated.every((id) => this.actionSpace.contains(id))
    ) {
      throw new TypeError(
        `Cannot restore the text-completion env: the saved state does not fit its ${this.#prompts.length} prompts and ${this.actionSpace.n} tokens`,
      );
    }
    const rng = new Rng(0);
    rng.setState(s.rng!);
    this.#rng = rng;
    this.#prompt = s.prompt!;
    this.#generated = [...s.generated];
  }

  #observe(): Float32Array {
    const obs = new Float32Array(this.contextLength);
    if (this.#prompt >= 0) {
      const prompt = this.#prompts[this.#prompt]!;
      obs.set(prompt);
      obs.set(this.#generated, prompt.length);
    }
    return obs;
  }

  #episodeInfo(endedWithEos: boolean): TextEpisodeInfo {
    const prompt = this.#prompts[this.#prompt]!;
    const completion = Int32Array.from(
      endedWithEos ? this.#generated.slice(0, -1) : this.#generated,
    );
    return {
      prompt: this.#decode(prompt),
      completion: this.#decode(completion),
      promptIds: Array.from(prompt),
      completionIds: Array.from(completion),
    };
  }
}
