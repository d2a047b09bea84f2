// Training and evaluating image classifiers: the supervised teacher, fine-tuning and the
// linear probe all share this loop. A step runs inside tidy(), reads back only its loss,
// and the optimizer state is threaded through.
// Legend: B batch · K classes

import {
  argmax,
  cast,
  crossEntropy,
  dispose,
  equal,
  foldIn,
  type Key,
  key,
  sum,
  type Tensor,
  tidy,
  toArray,
} from "../tensor/mod.ts";
import { valueAndGrad } from "../autograd/mod.ts";
import { dataLoader, type HostDataset } from "../data/loader.ts";
import type { ImageBatch } from "../data/transforms.ts";
import { applyUpdates, type GradientTransformation } from "./optim/transform.ts";
import { trainLoop } from "./train_loop.ts";

/** A classifier: params and images → logits [B, K]. */
export type ClassifierApply<P> = (
  params: P,
  images: Tensor,
  options: { train: boolean; key?: Key },
) => Tensor;

/** Options of trainClassifier. */
export interface TrainClassifierOptions<P> {
  /** The model: params and a normalised batch to logits. */
  apply: ClassifierApply<P>;
  /** Initial parameters. */
  params: P;
  /** The optimizer (e.g. adamw). */
  optimizer: GradientTransformation<unknown[]>;
  /** Training images and labels. */
  data: HostDataset;
  /** Passes over the training set. */
  epochs: number;
  /** Images per optimizer step. */
  batchSize: number;
  /** Key for shuffling, augmentation and dropout. */
  key: Key;
  /** Host augmentation of a [0, 1] batch; return the model's input (normalised). */
  transform?: (key: Key, batch: ImageBatch) => ImageBatch;
  /** Label smoothing of the cross-entropy (default 0). */
  labelSmoothing?: number;
  /** What the progress bar calls this run (default "train"). */
  label?: string;
  /** No progress bar (default false). */
  quiet?: boolean;
  /** Called after every step with the step number and its loss. */
  onStep?: (step: number, loss: number) => void;
}

/**
 * Trains a classifier with cross-entropy. The input `params` are not disposed: they remain
 * the caller's; the returned params are new tensors.
 *
 * @param options see TrainClassifierOptions
 * @returns the trained params and the mean loss of the last epoch
 */
export async function trainClassifier<P>(
  options: TrainClassifierOptions<P>,
): Promise<{ params: P; lastEpochLoss: number }> {
  const loader = dataLoader(options.data, {
    batchSize: options.batchSize,
    key: options.key,
    transform: options.transform
      ? (k, batch) => ({ images: options.transform!(k, batch) })
      : undefined,
  });
  let lastEpochLoss = NaN;
  const { params, opt } = await trainLoop({
    label: options.label ?? "train",
    carry: { params: options.params, opt: options.optimizer.init(options.params) },
    // The caller's params stay theirs (they may share tensors with other trees, as a
    // fine-tune shares its backbone with the pretrained params).
    borrowed: options.params,
    epochs: options.epochs,
    batchesPerEpoch: loader.batchesPerEpoch,
    batches: (epoch) => loader.epoch(epoch),
    release: (batch) => [batch.views, batch.labels],
    metrics: ["loss"],
    step: ({ params, opt }, batch, at) => {
      const stepKey = foldIn(options.key, at.step);
      const loss = (p: P) =>
        crossEntropy(
          options.apply(p, batch.views.images, { train: true, key: stepKey }),
          batch.labels,
          { labelSmoothing: options.labelSmoothing ?? 0 },
        );
      const { value, grads } = valueAndGrad(loss)(params);
      const { updates, state } = options.optimizer.update(grads, opt, params);
      return { carry: { params: applyUpdates(params, updates), opt: state }, metrics: value };
    },
    onStep: ({ loss }, at) => options.onStep?.(at.step + 1, loss),
    afterEpoch: (_carry, summary) => {
      lastEpochLoss = summary.mean.loss;
      return Promise.resolve();
    },
    quiet: options.quiet,
  });
  dispose(opt);
  return { params, lastEpochLoss };
}

/**
 * Top-1 accuracy of a classifier on a data set (no augmentation beyond `transform`).
 *
 * @returns accuracy in [0, 1]
 */
export async function evaluateClassifier<P>(
  apply: ClassifierApply<P>,
  params: P,
  data: HostDataset,
  options: { batchSize?: number; transform?: (batch: ImageBatch) => ImageBatch; key?: Key } = {},
): Promise<number> {
  const loader = dataLoader(data, {
    batchSize: options.batchSize ?? 256,
    key: options.key ?? key(0),
    shuffle: false,
    dropLast: false,
    transform: options.transform
      ? (_k, batch) => ({ images: options.transform!(batch) })
      : undefined,
  });
  let correct = 0;
  for await (const batch of loader.epoch(0)) {
    const hits = tidy(() =>
      sum(
        cast(
          equal(
            argmax(apply(params, batch.views.images, { train: false }), { axis: 1 }),
            batch.labels,
          ),
          "int32",
        ),
      )
    );
    correct += (await toArray(hits))[0];
    dispose([hits, batch.views, batch.labels]);
  }
  return correct / data.labels.length;
}
