// Linear probing with one fixed protocol for every row of the results (our decision where
// the paper is silent): features are computed once from the frozen model, in
// eval mode; standardised with the training split's mean and std; then one linear layer
// is trained with AdamW (learning rate 1e-3, no weight decay, batch 256, 30 epochs). We
// report test top-1 at the last epoch, never the best test epoch.
// Legend: N examples · D feature size · K classes

import {
  add,
  argmax,
  cast,
  crossEntropy,
  dispose,
  div,
  equal,
  foldIn,
  type Key,
  mean,
  permutationArray,
  sqrt,
  sub,
  sum,
  take,
  type Tensor,
  tensor,
  tidy,
  toArray,
  variance,
} from "../tensor/mod.ts";
import { valueAndGrad } from "../autograd/mod.ts";
import { dataLoader, type HostDataset } from "../data/loader.ts";
import { normalize } from "../data/transforms.ts";
import { key as makeKey } from "../tensor/mod.ts";
import { linearLayer, type LinearParams } from "../nn/linear.ts";
import { adamw } from "../nn/optim/alias.ts";
import { applyUpdates } from "../nn/optim/transform.ts";
import { trainLoop } from "../nn/train_loop.ts";
import { FASHION_MNIST_MEAN, FASHION_MNIST_STD } from "../data/fashion_mnist.ts";

/** Features of a data set: host float32 [N, D] and labels. */
export interface FeatureSet {
  /** Features [N, D], row-major. */
  features: Float32Array;
  /** The label of each example. */
  labels: Int32Array;
  /** Feature width D. */
  dim: number;
}

/**
 * Computes features for every example, in order, in eval mode.
 *
 * @param data the images (uint8 or float)
 * @param fn normalised images [B, C, H, W] → features [B, D]
 * @param options `batchSize` (256), `mean`/`std` for the input normalisation
 * @returns the features
 */
export async function extractFeatures(
  data: HostDataset,
  fn: (images: Tensor) => Tensor,
  options: { batchSize?: number; mean?: readonly number[]; std?: readonly number[] } = {},
): Promise<FeatureSet> {
  const mean = options.mean ?? [FASHION_MNIST_MEAN];
  const std = options.std ?? [FASHION_MNIST_STD];
  const loader = dataLoader(data, {
    batchSize: options.batchSize ?? 256,
    key: makeKey(0),
    shuffle: false,
    dropLast: false,
    transform: (_k, batch) => ({ images: normalize(batch, mean, std) }),
  });
  const chunks: Float32Array[] = [];
  let dim = 0;
  for await (const batch of loader.epoch(0)) {
    const f = tidy(() => fn(batch.views.images));
    dim = f.shape[1];
    chunks.push(Float32Array.from(await toArray(f)));
    dispose([f, batch.views, batch.labels]);
  }
  const features = new Float32Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    features.set(c, at);
    at += c.length;
  }
  return { features, labels: Int32Array.from(data.labels), dim };
}

/** Raw pixels as features (the "linear classifier on raw pixels" row). */
export function pixelFeatures(data: HostDataset): FeatureSet {
  const [, c, h, w] = data.shape;
  const scale = data.pixels instanceof Uint8Array ? 1 / 255 : 1;
  return {
    features: Float32Array.from(data.pixels, (v) => v * scale),
    labels: Int32Array.from(data.labels),
    dim: c * h * w,
  };
}

/** Options of linearProbe. */
export interface ProbeOptions {
  /** Passes over the training features (default 30). */
  epochs?: number;
  /** Examples per step (default 256). */
  batchSize?: number;
  /** AdamW learning rate (default 1e-3). */
  learningRate?: number;
  /** Classes (default 10). */
  numClasses?: number;
  /** Key for the head's initialisation and the shuffling (default key(0)). */
  key?: Key;
  /** No progress bar (default false). */
  quiet?: boolean;
  /** What the progress bar calls this probe (default "linear probe"). */
  label?: string;
}

/**
 * Trains a linear classifier on frozen features and reports test top-1 after the last
 * epoch (see the file header for the protocol).
 *
 * @param train training features
 * @param test test features
 * @param options epochs (30), batch size (256), learning rate (1e-3), classes (10)
 * @returns top-1 accuracy on the test features at the last epoch, and the per-epoch curve
 */
export async function linearProbe(
  train: FeatureSet,
  test: FeatureSet,
  options: ProbeOptions = {},
): Promise<{ top1: number; curve: number[] }> {
  const epochs = options.epochs ?? 30;
  const batchSize = options.batchSize ?? 256;
  const k = options.numClasses ?? 10;
  const key = options.key ?? makeKey(0);
  const n = train.labels.length;
  const d = train.dim;
  // Standardise with the training split's statistics.
  const xTrain = tensor(train.features, { shape: [n, d] });
  const mu = mean(xTrain, { axis: 0 });
  const sigma = add(sqrt(variance(xTrain, { axis: 0 })), 1e-6);
  const standardise = (x: Tensor) => div(sub(x, mu), sigma);
  const trainX = standardise(xTrain);
  const testX = standardise(tensor(test.features, { shape: [test.labels.length, d] }));
  const trainY = tensor(train.labels);
  const testY = tensor(test.labels);
  const head = linearLayer({ inFeatures: d, outFeatures: k, init: "torch" });
  const steps = Math.ceil(n / batchSize);
  const curve: number[] = [];
  /** The epoch's batches: indices into the training features, reshuffled every epoch. */
  async function* batches(epoch: number): AsyncIterable<Tensor> {
    const order = permutationArray(foldIn(key, epoch + 1), n);
    for (let s = 0; s < steps; s++) {
      yield tensor(order.subarray(s * batchSize, Math.min(n, (s + 1) * batchSize)));
    }
  }
  const optimizer = adamw({ learningRate: options.learningRate ?? 1e-3, weightDecay: 0 });
  const params = head.init(foldIn(key, 0));
  const trained = await trainLoop({
    label: options.label ?? "linear probe",
    carry: { params, opt: optimizer.init(params) },
    epochs,
    batchesPerEpoch: steps,
    batches,
    release: (idx) => idx,
    step: ({ params, opt }, idx) => {
      const x = take(trainX, idx, { axis: 0 });
      const y = take(trainY, idx);
      const { grads } = valueAndGrad((p: LinearParams) => crossEntropy(head.apply(p, x), y))(
        params,
      );
      const { updates, state } = optimizer.update(grads, opt, params);
      return { carry: { params: applyUpdates(params, updates), opt: state } };
    },
    afterEpoch: async ({ params }) => {
      const correct = tidy(() =>
        sum(cast(equal(argmax(head.apply(params, testX), { axis: 1 }), testY), "int32"))
      );
      curve.push((await toArray(correct))[0] / test.labels.length);
      dispose(correct);
      return { show: { "test top-1": curve[curve.length - 1] } };
    },
    progress: "epochs",
    quiet: options.quiet,
  });
  dispose([xTrain, mu, sigma, trainX, testX, trainY, testY, trained]);
  return { top1: curve[curve.length - 1], curve };
}
