// An earlier stage's checkpoint, as `--model` and `--reward` name it: a `.ckpt` file, or a run
// directory whose `latest.ckpt` the CLI wrote (the trainer's state under `trainer`, beside the
// run's config). Read in one place so both name the file alike and read its meta typed.
import { type Checkpoint, MetaReader, readCheckpoint } from "@proximal/core";

/** The file `ref` names: a `.ckpt` file as it is, else the run directory's `latest.ckpt`. */
export function checkpointFile(ref: string): string {
  return ref.endsWith(".ckpt") ? ref : `${ref.replace(/\/$/, "")}/latest.ckpt`;
}

/**
 * Reads the checkpoint `ref` names; its meta reader's errors say `Cannot load <owner> from <file>`.
 */
export async function readStageCheckpoint(
  ref: string,
  owner: string,
): Promise<{ source: string; checkpoint: Checkpoint; meta: MetaReader }> {
  const source = checkpointFile(ref);
  const checkpoint = await readCheckpoint(source);
  const meta = new MetaReader(checkpoint.meta, { owner, action: "load", source });
  return { source, checkpoint, meta };
}
