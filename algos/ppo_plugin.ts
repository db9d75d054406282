/**
 * PPO as a plugin (`deno task train --algo ppo`): its options' help lines and its presets.
 */
import { type AlgoPlugin, defineAlgo } from "@proximal/core";
import { Ppo, ppoDefaults, type PpoOptions } from "./ppo.ts";

/**
 * The PPO algorithm plugin: `deno task train --algo ppo`.
 *
 * @example Create a trainer through the plugin
 * ```ts
 * import { ppo } from "@proximal/algos";
 * import { setupBackend } from "@proximal/core";
 * import { CartPole } from "@proximal/envs";
 * await setupBackend("wasm");
 * const trainer = await ppo.create(ppo.defaults, {
 *   makeEnv: () => new CartPole(),
 *   numEnvs: 4,
 *   seed: 1,
 *   totalTimesteps: 512,
 * });
 * await trainer.iterate();
 * trainer.dispose();
 * ```
 */
export const ppo: AlgoPlugin<PpoOptions> = defineAlgo<PpoOptions>({
  kind: "algo",
  name: "ppo",
  description: "Proximal Policy Optimization (clipped surrogate, GAE), CleanRL's defaults",
  defaults: ppoDefaults,
  help: {
    learningRate: "Adam step size at the start",
    numSteps: "steps per env copy per rollout",
    annealLr: "anneal the learning rate linearly to 0",
    gamma: "discount factor",
    gaeLambda: "GAE lambda",
    numMinibatches: "minibatches per epoch",
    updateEpochs: "epochs per rollout",
    minibatchUnit: "minibatches of env steps (step) or of whole env copies' rollouts (env)",
    normAdv: "normalise advantages per minibatch",
    clipCoef: "surrogate clipping range",
    clipVloss: "clip the value loss",
    entCoef: "entropy bonus coefficient",
    vfCoef: "value loss coefficient",
    maxGradNorm: "global gradient-norm clip",
    targetKl: "early-stop epochs above this approx KL (0 = off)",
    klPenaltyCoef: "initial KL penalty coefficient (0 = off)",
    klPenaltyTarget: "KL the adaptive penalty steers to (0 = fixed coefficient)",
    bootstrapTruncated: "bootstrap truncated episodes' final values",
    hiddenSize: "hidden layer width",
    hiddenLayers: "number of hidden layers",
    adamEpsilon: "Adam epsilon",
    gradient:
      'how the update takes the gradient: "auto" (closed form), "packed" (closed form from the flat weights in fewer tensor ops, acting in JS; MLP only, no workers), "direct" (the same without tfjs: a WebAssembly SIMD kernel and JS; MLP only; with --num-workers 1 a worker computes each step\'s critic half, same numbers) or "autodiff" (the reference)',
    numWorkers: "Deno Workers for data-parallel rollouts and gradients (0 = this thread)",
    numShards:
      "env shards dealt to the workers; results depend on it, not on numWorkers (1 = the numbers of no workers; 0 = one per worker)",
    workersIfFaster:
      "with one shard: workers only with 2+ cores, and only if a timed trial finds them faster than this thread (same numbers)",
    gradientParts:
      'a language-model policy\'s minibatch gradient in parts of whole env copies (minibatchUnit "env"), parts 2… in the numWorkers workers; the numbers of 1 up to float rounding',
  },
  presets: {
    cleanrl: {
      description: "CleanRL's ppo.py defaults for classic control (the plain defaults)",
      options: {},
      numEnvs: 4,
    },
    fast: {
      description:
        "tuned for wall time to solve CartPole-v1 on 2 cores (bench/sweep.ts; README: Fast preset)",
      // SB3 rl-zoo's CartPole-v1 settings (γ 0.98, no entropy bonus) with larger, fewer gradient
      // steps, which tfjs-wasm runs at a lower cost per sample: the sweep's fastest to a 20-episode
      // training mean of 475 whose 100-episode evaluations all reached 475 (seeds 1-3).
      options: {
        numSteps: 32,
        numMinibatches: 4,
        updateEpochs: 2,
        learningRate: 4e-3,
        gamma: 0.98,
        gaeLambda: 0.95,
        entCoef: 0,
      },
      numEnvs: 32,
    },
    "sample-efficient": {
      description:
        "reaches 475 on CartPole-v1 in SB3-tuned's env steps; not faster in wall time here: 5 epochs of small minibatches cost more per env step on tfjs-wasm (README: Fast preset)",
      // SB3 rl-zoo's CartPole-v1 settings (8 × 32 rollouts, γ 0.98, λ 0.8, no entropy bonus, no
      // value clipping) with 2 × 5 gradient steps at a larger learning rate instead of 1 × 20:
      // the sweep's fewest env steps to a 20-episode training mean of 475 among candidates whose
      // 100-episode evaluations all reached 475.
      options: {
        numSteps: 32,
        numMinibatches: 2,
        updateEpochs: 5,
        learningRate: 3e-3,
        gamma: 0.98,
        gaeLambda: 0.8,
        entCoef: 0,
        clipVloss: false,
      },
      numEnvs: 8,
    },
    quick: {
      description:
        "fewest seconds to solve CartPole-v1 here, in fewer env steps than SB3-tuned: 8 × 32 rollouts, 16 minibatches × 2 epochs, lr 5e-3, 31 × 31 networks, the direct gradient engine (README: Fast preset)",
      // SB3 rl-zoo's 8 × 32 rollouts, γ 0.98, λ 0.8, no entropy bonus and no value clipping, with
      // 32 gradient steps of 16 rows per rollout at lr 5e-3 on 31 × 31 networks, through the
      // direct engine: no tfjs in training, whose fixed cost per op would outweigh these steps'
      // arithmetic. The sweep (seeds 1–10) found many small minibatches the most sample-efficient
      // once a step costs about its arithmetic (issue 16's third round). 31 units and the bias's
      // column of ones fill 32 columns, a multiple of the engine's padding.
      options: {
        numSteps: 32,
        numMinibatches: 16,
        updateEpochs: 2,
        learningRate: 5e-3,
        gamma: 0.98,
        gaeLambda: 0.8,
        entCoef: 0,
        clipVloss: false,
        hiddenSize: 31,
        gradient: "direct",
      },
      numEnvs: 8,
    },
    continuous: {
      description:
        "CleanRL's ppo_continuous_action.py for Box actions: 1 env × 2048 steps, 32 minibatches, 10 epochs, lr 3e-4, no entropy bonus, normalised observations and rewards",
      // Its wrappers, in its order: clip actions, normalise and clip observations and rewards.
      options: {
        learningRate: 3e-4,
        numSteps: 2048,
        numMinibatches: 32,
        updateEpochs: 10,
        gamma: 0.99,
        gaeLambda: 0.95,
        clipCoef: 0.2,
        clipVloss: true,
        entCoef: 0,
        vfCoef: 0.5,
        maxGradNorm: 0.5,
        numWorkers: 0, // the wrappers' statistics live with the envs on this thread
      },
      numEnvs: 1,
      wrappers: ["clip-action", "normalize-obs", "normalize-reward"],
    },
  },
  create: (options, context) => new Ppo(context, options),
});
