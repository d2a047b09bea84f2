// The training loop every trainer in Tessella shares (the teacher and fine-tuning through
// trainClassifier, the linear probe, VQ-KD and BEiT v2 pretraining). A trainer says what one
// step does to its carry (params, optimizer state and whatever else it threads through);
// this loop owns the rest: epochs and resume, the tidy() around each step, freeing what a
// step replaced and what a batch held, reading back the step's metrics, the progress bar,
// and the end-of-epoch hook where checkpoints are written.
//
// Which tensors to free is the subtle part, so it lives here once:
// - after a step, every tensor of the old carry that the new carry does not hold is freed,
//   except the ones the caller lent (`borrowed`: a fine-tune's pretrained backbone stays
//   the caller's);
// - the tensors a batch brought (`release`) are freed once its step is done, skipped or not;
// - the step's metrics are one small tensor, read back and freed at once: no other
//   device-to-host copy happens per step.

import { dispose, disposeReplaced, type Tensor, tidy, toArray, treeLeaves } from "../tensor/mod.ts";
import { type Schedule, warmupCosine } from "./optim/schedule.ts";
import { progressBar } from "./progress.ts";

/** How long a trainer runs and its learning rate over the run (VQ-KD, BEiT v2 pretraining). */
export interface TrainingSchedule {
  /** Passes over the training set. */
  epochs: number;
  /** Images per optimizer step. */
  batchSize: number;
  /** Peak learning rate. */
  learningRate: number;
  /** Final learning rate of the cosine decay (default 1e-5). */
  minLearningRate?: number;
  /** Linear warm-up, in epochs (default 0). */
  warmupEpochs?: number;
}

/** A schedule's learning rate per step: linear warm-up, then cosine decay to the final rate. */
export function learningRateOf(schedule: TrainingSchedule, batchesPerEpoch: number): Schedule {
  return warmupCosine({
    baseValue: schedule.learningRate,
    finalValue: schedule.minLearningRate ?? 1e-5,
    totalSteps: schedule.epochs * batchesPerEpoch,
    warmupSteps: Math.round((schedule.warmupEpochs ?? 0) * batchesPerEpoch),
  });
}

/** Where a step is: its epoch, its batch in the epoch, and a number stable across resumes. */
export interface StepPosition {
  /** The epoch, 0-based. */
  epoch: number;
  /** The batch within the epoch, 0-based. */
  index: number;
  /** `epoch · batchesPerEpoch + index`: the step's number for keys, unchanged by a resume. */
  step: number;
}

/** What the end-of-epoch hook is told. */
export interface EpochSummary {
  /** The epoch, 0-based. */
  epoch: number;
  /** Steps taken this epoch (skipped batches excluded). */
  steps: number;
  /** Wall-clock seconds of the epoch. */
  seconds: number;
  /** Mean of every metric over this epoch's steps. */
  mean: Record<string, number>;
}

/** Options of trainLoop. C: the carry; B: a batch. */
export interface TrainLoopOptions<C, B> {
  /** What the progress bar calls this loop ("beit", "vqkd", "teacher"). */
  label: string;
  /** The initial carry. The loop owns its tensors except those in `borrowed`. */
  carry: C;
  /** Tensors of the initial carry that remain the caller's: never freed by the loop. */
  borrowed?: unknown;
  /** Epochs in all. */
  epochs: number;
  /** The first epoch to run (default 0; a resumed run starts after its checkpoint's). */
  startEpoch?: number;
  /** Batches in every epoch. */
  batchesPerEpoch: number;
  /** The batches of an epoch, in order. */
  batches: (epoch: number) => AsyncIterable<B>;
  /** The tensors a batch holds, freed once its step is done. */
  release?: (batch: B) => unknown;
  /**
   * One step, run inside tidy(): the next carry and, optionally, the step's metrics as one
   * tensor whose entries are named by `metrics` (in that order). Everything else it creates
   * is freed when it returns.
   */
  step: (carry: C, batch: B, at: StepPosition) => { carry: C; metrics?: Tensor };
  /** The names of the metrics tensor's entries. */
  metrics?: readonly string[];
  /**
   * Runs before a step, outside tidy(). It may replace the carry (the loop frees what the
   * new carry no longer holds) or skip the batch (VQ-KD gathers its first batches for k-means
   * this way).
   */
  beforeStep?: (carry: C, batch: B, at: StepPosition) => { carry: C; skip?: boolean };
  /** Called after every step with its metrics read back. */
  onStep?: (metrics: Record<string, number>, at: StepPosition) => void;
  /** Which metrics the progress bar shows after a step (default all of them). */
  show?: (metrics: Record<string, number>) => Record<string, number | string>;
  /** Runs at the start of an epoch, outside tidy(), and returns the epoch's first carry. */
  beforeEpoch?: (epoch: number, carry: C) => C;
  /**
   * Runs after every epoch (checkpoints, evaluation). It may return a new carry (the loop
   * frees what it no longer holds) and what the progress bar prints at the end of the epoch.
   */
  afterEpoch?: (
    carry: C,
    summary: EpochSummary,
  ) => Promise<{ carry?: C; show?: Record<string, number | string> } | void>;
  /**
   * "steps" (default): a bar per epoch, advanced by steps; "epochs": one bar for the whole
   * run, advanced by epochs (for loops of many short epochs such as the linear probe).
   */
  progress?: "steps" | "epochs";
  /** No progress bar (default false). */
  quiet?: boolean;
}

/**
 * Runs a training loop (see the file header for what it owns).
 *
 * @param options see TrainLoopOptions
 * @returns the final carry (its tensors are the caller's to free)
 */
export async function trainLoop<C, B>(options: TrainLoopOptions<C, B>): Promise<C> {
  const borrowed = new Set(treeLeaves(options.borrowed));
  const names = options.metrics ?? [];
  const perStepBar = (options.progress ?? "steps") === "steps";
  const runBar = perStepBar ? null : progressBar(options.label, options.epochs, options);
  let carry = options.carry;
  let shown: Record<string, number | string> = {};
  /** Frees what `next` no longer holds of `previous`, sparing what the caller lent. */
  const replace = (previous: C, next: C) => {
    disposeReplaced(previous, next, borrowed);
    carry = next;
  };
  for (let epoch = options.startEpoch ?? 0; epoch < options.epochs; epoch++) {
    const bar = perStepBar
      ? progressBar(
        `${options.label} epoch ${epoch + 1}/${options.epochs}`,
        options.batchesPerEpoch,
        options,
      )
      : null;
    if (options.beforeEpoch) replace(carry, options.beforeEpoch(epoch, carry));
    const sums = new Array<number>(names.length).fill(0);
    let steps = 0;
    let index = 0;
    const t0 = performance.now();
    for await (const batch of options.batches(epoch)) {
      const at = { epoch, index, step: epoch * options.batchesPerEpoch + index };
      index++;
      try {
        if (options.beforeStep) {
          const before = options.beforeStep(carry, batch, at);
          replace(carry, before.carry);
          if (before.skip) continue;
        }
        const out = tidy(() => options.step(carry, batch, at));
        replace(carry, out.carry);
        steps++;
        if (!out.metrics) {
          bar?.update(index);
          continue;
        }
        const values = await toArray(out.metrics);
        dispose(out.metrics);
        const metrics: Record<string, number> = {};
        names.forEach((name, i) => {
          metrics[name] = values[i];
          sums[i] += values[i];
        });
        options.onStep?.(metrics, at);
        bar?.update(index, options.show ? options.show(metrics) : metrics);
      } finally {
        if (options.release) dispose(options.release(batch));
      }
    }
    const mean = Object.fromEntries(names.map((name, i) => [name, sums[i] / steps]));
    const summary = { epoch, steps, seconds: (performance.now() - t0) / 1000, mean };
    const end = await options.afterEpoch?.(carry, summary);
    if (end?.carry) replace(carry, end.carry);
    shown = end?.show ?? mean;
    bar?.done(shown);
    runBar?.update(epoch + 1, shown);
  }
  runBar?.done(shown);
  return carry;
}
