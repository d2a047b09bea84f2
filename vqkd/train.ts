// Training VQ-KD (the official `run_vqkd_training.py` recipe): AdamW (β 0.9, 0.99; weight decay 1e-4), linear warmup then
// cosine, random resized crop + horizontal flip, spherical k-means initialisation of the
// codebook on the first batch(es), EMA codebook updates, per-epoch codebook usage,
// checkpoints and resume. The teacher sees exactly the tokenizer's crop.
// Legend: B batch · N patches · C code dim · K codes

import {
  add,
  concat,
  dispose,
  foldIn,
  type Key,
  l2Normalize,
  reshape,
  stack,
  type Tensor,
  tidy,
  toArray,
  zeros,
} from "../tensor/mod.ts";
import { valueAndGrad } from "../autograd/mod.ts";
import { dataLoader, type HostDataset } from "../data/loader.ts";
import {
  horizontalFlip,
  type ImageBatch,
  resizedCrop,
  sampleResizedCropBoxes,
} from "../data/transforms.ts";
import { loadCheckpointOrNull, saveCheckpoint } from "../nn/io/checkpoint.ts";
import { adamw } from "../nn/optim/alias.ts";
import { applyUpdates } from "../nn/optim/transform.ts";
import { learningRateOf, type TrainingSchedule, trainLoop } from "../nn/train_loop.ts";
import { vqkd, type VqkdModel, type VqkdParams, type VqkdState } from "./model.ts";
import { codesUsed, kmeansInit } from "./quantizer.ts";
import type { Teacher } from "./teachers.ts";

/** Named VQ-KD architectures: the Fashion-MNIST default and the official releases. */
export const VQKD_CONFIGS: Record<string, Record<string, unknown>> = {
  "fashion-mnist": {
    encoder: {
      img_size: 28,
      patch_size: 4,
      in_chans: 1,
      embed_dim: 128,
      depth: 4,
      num_heads: 4,
      qkv_bias: true,
    },
    decoder: {
      img_size: 7,
      patch_size: 1,
      in_chans: 32,
      embed_dim: 128,
      depth: 1,
      num_heads: 4,
      qkv_bias: true,
    },
    n_embed: 512,
    embed_dim: 32,
    decoder_out_dim: 128,
  },
  ...Object.fromEntries(
    [["3x768x12_clip", 3, 512], ["1x768x12_clip", 1, 512], ["1x768x12_dino", 1, 768]].map((
      [name, depth, out],
    ) => [
      `vqkd_encoder_base_decoder_${name}`,
      {
        encoder: {
          img_size: 224,
          patch_size: 16,
          in_chans: 3,
          embed_dim: 768,
          depth: 12,
          num_heads: 12,
          qkv_bias: true,
        },
        decoder: {
          img_size: 14,
          patch_size: 1,
          in_chans: 32,
          embed_dim: 768,
          depth,
          num_heads: 12,
          qkv_bias: true,
        },
        n_embed: 8192,
        embed_dim: 32,
        decoder_out_dim: out,
      },
    ]),
  ),
};

/** Options of trainVqkd. */
export interface TrainVqkdOptions extends TrainingSchedule {
  /** Architecture (official names); decoder_out_dim must equal the teacher's feature size. */
  model: Record<string, unknown>;
  /** The frozen teacher whose features are reconstructed. */
  teacher: Teacher;
  /** Training images. */
  data: HostDataset;
  /** Decoupled weight decay (default 1e-4). */
  weightDecay?: number;
  /** Key for initialisation, augmentation and shuffling. */
  key: Key;
  /** Checkpoint file: written after every epoch, resumed from when it exists. */
  checkpoint?: string;
  /** No progress bar (default false). */
  quiet?: boolean;
  /** Called with each step's metrics (for the JSONL log). */
  onStep?: (metrics: Record<string, number>) => void;
}

/** What trainVqkd returns. */
export interface TrainedTokenizer {
  /** The tokenizer model. */
  model: VqkdModel;
  /** Its trained parameters. */
  params: VqkdParams;
  /** Its codebook state. */
  state: VqkdState;
  /** Codebook usage (fraction of codes used) of each epoch. */
  usage: number[];
}

/** The VQ-KD training augmentation: random resized crop (scale 0.08–1, bicubic) and flip. */
export function vqkdAugment(k: Key, batch: ImageBatch): ImageBatch {
  const [kCrop, kFlip] = [foldIn(k, 0), foldIn(k, 1)];
  const [b, , h, w] = batch.shape;
  const boxes = sampleResizedCropBoxes(kCrop, b, h, w, { scale: [0.08, 1] });
  return horizontalFlip(kFlip, resizedCrop(batch, boxes, h, w, "bicubic"), 0.5);
}

/**
 * Trains a VQ-KD tokenizer on a teacher's features.
 *
 * @param options see TrainVqkdOptions
 * @returns the model, its params and state, and per-epoch codebook usage
 */
export async function trainVqkd(options: TrainVqkdOptions): Promise<TrainedTokenizer> {
  const model = vqkd(options.model);
  if (model.config.decoderOutDim !== options.teacher.dim && Number.isFinite(options.teacher.dim)) {
    throw new Error(
      `Cannot train VQ-KD: decoder_out_dim ${model.config.decoderOutDim} differs from the teacher's ${options.teacher.dim} features`,
    );
  }
  const loader = dataLoader(options.data, {
    batchSize: options.batchSize,
    key: foldIn(options.key, 1),
    transform: (k, b) => ({ images: vqkdAugment(k, b) }),
  });
  const optimizer = adamw({
    learningRate: learningRateOf(options, loader.batchesPerEpoch),
    b1: 0.9,
    b2: 0.99,
    weightDecay: options.weightDecay ?? 1e-4,
  });
  let { params, state } = model.init(foldIn(options.key, 0));
  let opt = optimizer.init(params);
  let startEpoch = 0;
  let usage: number[] = [];
  if (options.checkpoint) {
    const saved = await loadCheckpointOrNull<
      { params: VqkdParams; state: VqkdState; opt: unknown[]; epoch: number; usage: number[] }
    >(options.checkpoint, (text) => console.error(text));
    if (saved) {
      dispose([params, state, opt]);
      ({ params, state, opt, usage } = saved);
      startEpoch = saved.epoch + 1;
    }
  }
  const numCodes = model.config.nEmbed;
  let initted = (await toArray(state.quantize.embedding.initted))[0] === 1;
  let pending: Tensor[] = []; // k-means needs ≥ K vectors: gather batches until there are
  // counts: how often each code was chosen this epoch (reset per epoch, for the usage).
  let counts: Tensor;
  ({ params, state, opt, counts } = await trainLoop({
    label: "vqkd",
    carry: { params, state, opt, counts: zeros([numCodes]) },
    epochs: options.epochs,
    startEpoch,
    batchesPerEpoch: loader.batchesPerEpoch,
    batches: (epoch) => loader.epoch(epoch),
    release: (batch) => [batch.views, batch.labels],
    beforeEpoch: (_epoch, carry) => ({ ...carry, counts: zeros([numCodes]) }),
    beforeStep: (carry, batch, at) => {
      if (initted) return { carry };
      pending.push(tidy(() => projectionsFor(model, carry.params, batch.views.images)));
      const vectors = pending.reduce((n, t) => n + t.shape[0], 0);
      if (vectors < numCodes && at.index < loader.batchesPerEpoch - 1) return { carry, skip: true };
      const quantize = tidy(() =>
        kmeansInit(foldIn(options.key, 2), carry.state.quantize, concat(pending))
      );
      dispose(pending);
      pending = [];
      initted = true;
      return { carry: { ...carry, state: { ...carry.state, quantize } } };
    },
    metrics: ["loss", "quant_loss", "rec_loss", "perplexity"],
    step: (carry, batch, at) => {
      const images = batch.views.images;
      const stepKey = foldIn(options.key, 1000 + at.step);
      const teacherFeatures = options.teacher.features(images);
      const loss = (
        p: VqkdParams,
      ): [Tensor, { state: VqkdState; metrics: Tensor; counts: Tensor }] => {
        const o = model.apply(p, carry.state, images, {
          train: true,
          teacherFeatures,
          key: stepKey,
        });
        return [o.loss!, {
          state: o.state,
          metrics: stack([o.loss!, o.metrics.quantLoss!, o.metrics.recLoss!, o.metrics.perplexity]),
          counts: o.metrics.counts,
        }];
      };
      const { grads, aux } = valueAndGrad(loss, { hasAux: true })(carry.params);
      const { updates, state: opt } = optimizer.update(grads, carry.opt, carry.params);
      return {
        carry: {
          params: applyUpdates(carry.params, updates),
          state: aux.state,
          opt,
          counts: add(carry.counts, aux.counts),
        },
        metrics: aux.metrics,
      };
    },
    onStep: (m, at) => options.onStep?.({ epoch: at.epoch, step: at.index, ...m }),
    show: (m) => ({ loss: m.loss, rec: m.rec_loss, ppl: m.perplexity }),
    afterEpoch: async (carry, { epoch, seconds }) => {
      const used = await codesUsed(carry.counts);
      usage = [...usage, used / numCodes];
      const { params, state, opt } = carry;
      if (options.checkpoint) {
        await saveCheckpoint(options.checkpoint, { params, state, opt, epoch, usage });
      }
      return {
        show: {
          usage: `${(100 * used / numCodes).toFixed(1)}%`,
          "img/s": Math.round(loader.batchesPerEpoch * options.batchSize / seconds),
        },
      };
    },
    quiet: options.quiet,
  }));
  dispose([opt, counts]);
  return { model, params, state, usage };
}

/** The quantizer's input for k-means: ℓ2-normalised encoder projections [B·N, C]. */
function projectionsFor(
  model: VqkdModel,
  params: VqkdParams,
  images: Tensor,
): Tensor {
  return l2Normalize(reshape(model.project(params, images), [-1, model.config.embedDim]));
}
