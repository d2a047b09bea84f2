// A data loader: shuffled epochs by key, fixed-size batches, host-side preparation of the
// next batch while the backend runs the current step, one upload per batch.
//
// The data set stays on the host (uint8 where it can: the full float32 training split is
// 188 MB, more than llvmpipe can bind in one buffer); each batch is gathered, transformed
// on the host and uploaded. Preparation of batch k + 1 is scheduled as soon as batch k is
// handed out, so it runs while the caller waits for its GPU work.
// Legend: N examples · B batch · C channels · H, W height, width

import { foldIn, type Key, permutationArray, type Tensor, tensor } from "../tensor/mod.ts";
import type { ImageBatch } from "./transforms.ts";

/** A data set held on the host. */
export interface HostDataset {
  /** Pixels [N, C, H, W]: uint8 (0–255) or float32 (0–1). */
  pixels: Uint8Array | Float32Array;
  /** Labels [N]. */
  labels: Uint8Array | Int32Array;
  /** The shape [N, C, H, W] of the pixels. */
  shape: [number, number, number, number];
}

/** What a transform returns: named views of the batch (uploaded as tensors of the same names). */
export type Views = Record<string, ImageBatch>;

/** A prepared batch, on the loader's backend. */
export interface Batch {
  /** Each view as a float32 tensor [B, C, H, W] (`images` when there is no transform). */
  views: Record<string, Tensor>;
  /** Labels [B] (int32). */
  labels: Tensor;
  /** Data-set indices of the batch's examples. */
  indices: Int32Array;
  /** Position of the batch in its epoch. */
  step: number;
}

/** Options of dataLoader. */
export interface LoaderOptions {
  /** Examples per batch. */
  batchSize: number;
  /** Key for shuffling and transforms; epoch e uses foldIn(key, e). */
  key: Key;
  /** Shuffle every epoch (default true). */
  shuffle?: boolean;
  /** Drop a last, smaller batch (default true). */
  dropLast?: boolean;
  /** Host transform of a batch in [0, 1] (default: the batch as `images`). */
  transform?: (key: Key, batch: ImageBatch) => Views;
  /** Backend of the produced tensors (default: the current one). */
  backend?: string;
}

/** The loader returned by dataLoader. */
export interface DataLoader {
  /** Batches in one epoch. */
  batchesPerEpoch: number;
  /** The order of data-set indices in epoch e (deterministic for the key). */
  order(epoch: number): Int32Array;
  /** Batches of epoch e, from batch `start` on (for resuming mid-epoch). */
  epoch(epoch: number, start?: number): AsyncGenerator<Batch>;
  /** Host preparation statistics so far: images prepared and seconds spent. */
  stats: { images: number; seconds: number };
}

/**
 * Batches a host data set for training.
 *
 * @param data pixels, labels and shape
 * @param options see LoaderOptions
 * @returns the loader
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { key } from "@tessella/tessella";
 * import { dataLoader } from "@tessella/tessella/data";
 * const data = { pixels: new Uint8Array(10 * 4), labels: new Uint8Array(10), shape: [10, 1, 2, 2] as [number, number, number, number] };
 * const loader = dataLoader(data, { batchSize: 4, key: key(0) });
 * let batches = 0;
 * for await (const batch of loader.epoch(0)) batches += batch.labels.shape[0] === 4 ? 1 : 0;
 * assert.equal(batches, 2); // 10 examples, drop-last
 * ```
 */
export function dataLoader(data: HostDataset, options: LoaderOptions): DataLoader {
  const [n, c, h, w] = data.shape;
  const size = c * h * w;
  if (data.pixels.length !== n * size || data.labels.length !== n) {
    throw new Error(
      `Cannot build a loader: pixels hold ${data.pixels.length} values and labels ${data.labels.length} for shape [${data.shape}]`,
    );
  }
  const b = options.batchSize;
  if (!Number.isInteger(b) || b <= 0) {
    throw new Error(`Cannot build a loader: batchSize must be a positive integer (got ${b})`);
  }
  const dropLast = options.dropLast ?? true;
  const batchesPerEpoch = dropLast ? Math.floor(n / b) : Math.ceil(n / b);
  const stats = { images: 0, seconds: 0 };

  const order = (epoch: number): Int32Array => {
    if (options.shuffle === false) return Int32Array.from({ length: n }, (_, i) => i);
    return permutationArray(foldIn(options.key, epoch), n);
  };

  const prepare = (epoch: number, step: number, indices: Int32Array): Batch => {
    const t0 = performance.now();
    const pixels = new Float32Array(indices.length * size);
    const scale = data.pixels instanceof Uint8Array ? 1 / 255 : 1;
    const labels = new Int32Array(indices.length);
    indices.forEach((index, k) => {
      const src = data.pixels.subarray(index * size, (index + 1) * size);
      for (let i = 0; i < size; i++) pixels[k * size + i] = src[i] * scale;
      labels[k] = data.labels[index];
    });
    const batch: ImageBatch = { data: pixels, shape: [indices.length, c, h, w] };
    const views = options.transform
      ? options.transform(foldIn(foldIn(options.key, 1 << 20 | epoch), step), batch)
      : { images: batch };
    const tensors: Record<string, Tensor> = {};
    for (const [name, view] of Object.entries(views)) {
      tensors[name] = tensor(view.data, { shape: view.shape, backend: options.backend });
    }
    stats.images += indices.length;
    stats.seconds += (performance.now() - t0) / 1000;
    return { views: tensors, labels: tensor(labels, { backend: options.backend }), indices, step };
  };

  async function* epochBatches(epoch: number, start = 0): AsyncGenerator<Batch> {
    const perm = order(epoch);
    const slice = (step: number) => perm.subarray(step * b, Math.min(n, (step + 1) * b));
    // Prepare one batch ahead, in a macrotask, so it overlaps with the caller's GPU work.
    const later = (step: number) =>
      new Promise<Batch>((resolve, reject) =>
        setTimeout(() => {
          try {
            resolve(prepare(epoch, step, slice(step)));
          } catch (error) {
            reject(error);
          }
        }, 0)
      );
    let next = start < batchesPerEpoch ? later(start) : null;
    for (let step = start; step < batchesPerEpoch; step++) {
      const current = await next!;
      next = step + 1 < batchesPerEpoch ? later(step + 1) : null;
      yield current;
    }
  }

  return { batchesPerEpoch, order, epoch: epochBatches, stats };
}
