// A user's env plugin, importing the library by its JSR specifier as a project outside this
// repo would: `deno run -A jsr:@proximal/cli --env ./my_env.ts` trains on it.
import { Box, type BoxEnv, defineEnv, Rng } from "jsr:@proximal/core@^0.1";
export const nudge = defineEnv({
  kind: "env",
  name: "nudge",
  description: "Nudge a point to zero",
  defaults: { steps: 20 },
  create: (options): BoxEnv => {
    let rng = new Rng(0), x = 0, t = 0;
    return {
      observationSpace: new Box({ low: -2, high: 2, shape: [1] }),
      actionSpace: new Box({ low: -1, high: 1, shape: [1] }),
      reset: ({ seed } = {}) => {
        if (seed !== undefined) rng = new Rng(seed);
        [x, t] = [rng.range(-1, 1), 0];
        return { observation: Float32Array.of(x), info: {} };
      },
      step: (action) => {
        x = Math.min(Math.max(x + 0.2 * action[0]!, -2), 2);
        t++;
        return { observation: Float32Array.of(x), reward: -Math.abs(x), terminated: false, truncated: t >= options.steps, info: {} };
      },
    };
  },
});
