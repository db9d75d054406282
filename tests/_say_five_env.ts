// A tiny text env for PPO with a language-model policy (tests only): the context starts at <bos>
// (1), each action appends a token, token 5 pays 1, and the episode ends at <eos> (2) or a full
// context. Observations are the context padded with <pad> (0) to `contextLength`.
import { Box, Discrete, type Env } from "@proximal/core";

/** The env over a vocabulary of `vocabSize` tokens and contexts of `contextLength`. */
export function sayFiveEnv(vocabSize: number, contextLength: number): Env {
  let context: number[] = [];
  const observation = () => {
    const row = new Float32Array(contextLength);
    row.set(context);
    return row;
  };
  return {
    observationSpace: new Box({ low: 0, high: vocabSize - 1, shape: [contextLength] }),
    actionSpace: new Discrete(vocabSize),
    reset: () => {
      context = [1];
      return { observation: observation(), info: {} };
    },
    step: (action) => {
      context.push(action as number);
      return {
        observation: observation(),
        reward: action === 5 ? 1 : 0,
        terminated: action === 2 || context.length >= contextLength,
        truncated: false,
        info: {},
      };
    },
  };
}
