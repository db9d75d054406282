// The run's checkpoints: the trainer's state with the run's configuration beside it, so --resume
// rebuilds the same env and algorithm.
import {
  type Checkpoint,
  MetaReader,
  type PluginOptions,
  readCheckpoint,
  type Trainer,
  writeCheckpoint,
} from "@proximal/core";
import { UsageError } from "./_flags.ts";

/** What a run was asked for: `config.json`, and `meta.run` of its checkpoints. */
export interface RunConfig {
  /** The env plugin: its name, or the module reference it was loaded from. */
  env: string;
  /** The algorithm plugin: its name, or the module reference it was loaded from. */
  algo: string;
  envOptions: PluginOptions;
  algoOptions: PluginOptions;
  seed: number;
  numEnvs: number;
  totalTimesteps: number;
  /** The tfjs backend (its kernels decide the numbers too). */
  backend: string;
  /** Settings a resumed run keeps unless a flag changes them (a change is applied and said). */
  evalEpisodes: number;
  checkpointEvery: number;
  stopAtReturn: number | null;
  /** The env wrappers, comma-separated, innermost first (`--wrappers`); "" for none. */
  wrappers: string;
}

/** The settings a checkpoint written before they were saved may lack. */
type LaterSettings = "backend" | "evalEpisodes" | "checkpointEvery" | "stopAtReturn";

/** A saved {@linkcode RunConfig}; its plugins' options are checked again when resolved. */
export type SavedRunConfig = Omit<RunConfig, "envOptions" | "algoOptions" | LaterSettings> & {
  envOptions: Record<string, unknown>;
  algoOptions: Record<string, unknown>;
  backend?: string | undefined;
  evalEpisodes?: number | undefined;
  checkpointEvery?: number | undefined;
  stopAtReturn?: number | null | undefined;
};

/** A run to resume: the trainer's part of its latest checkpoint, its configuration, the file read. */
export interface Resumed {
  trainer: Checkpoint;
  config: SavedRunConfig;
  path: string;
}

/** Reads `<dir>/latest.ckpt` for `--resume dir`, refusing one `deno task train` did not write. */
export async function readResumed(dir: string): Promise<Resumed> {
  const path = `${dir.replace(/\/$/, "")}/latest.ckpt`;
  const checkpoint = await readCheckpoint(path).catch((e: Error) => {
    throw new UsageError(e.message);
  });
  const meta = new MetaReader(checkpoint.meta, { owner: "the run", source: path });
  if (!meta.has("run")) {
    throw new UsageError(`Cannot resume from ${path}: it was not written by deno task train`);
  }
  try {
    const run = meta.reader("run");
    const config: SavedRunConfig = {
      env: run.string("env"),
      algo: run.string("algo"),
      envOptions: run.object("envOptions"),
      algoOptions: run.object("algoOptions"),
      seed: run.number("seed"),
      numEnvs: run.count("numEnvs"),
      totalTimesteps: run.count("totalTimesteps"),
      backend: run.optionalString("backend"),
      evalEpisodes: run.optionalCount("evalEpisodes"),
      checkpointEvery: run.optionalCount("checkpointEvery"),
      stopAtReturn: run.json("stopAtReturn") === null ? null : run.optionalNumber("stopAtReturn"),
      // Runs from before wrappers existed had none.
      wrappers: run.optionalString("wrappers") ?? "",
    };
    return { trainer: { meta: meta.object("trainer"), tensors: checkpoint.tensors }, config, path };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/**
 * Saves the trainer with the run's configuration to `<outDir>/latest.ckpt` (what `--resume`
 * reads); with `keep`, also to `checkpoints/step-<step>.ckpt`, as SB3's CheckpointCallback does, so
 * an earlier policy can be picked up later. Returns the path of latest.ckpt.
 */
export async function saveRun(
  trainer: Trainer,
  options: { config: RunConfig; outDir: string; keep: boolean },
): Promise<string> {
  const { config, outDir } = options;
  const { meta, tensors } = await trainer.save();
  const checkpoint = { meta: { run: config, trainer: meta }, tensors };
  if (options.keep) {
    const name = `step-${String(trainer.step).padStart(9, "0")}.ckpt`;
    await writeCheckpoint(`${outDir}/checkpoints/${name}`, checkpoint);
  }
  await writeCheckpoint(`${outDir}/latest.ckpt`, checkpoint);
  return `${outDir}/latest.ckpt`;
}
