// Fine-tuning a pretrained BEiT v2 backbone as a classifier (the official `run_class_finetuning.py`): per-block
// relative position bias tables initialised from the shared pretraining table, mean
// pooling with a fresh fc_norm, a fresh head (init scale 0.001), layer-wise learning-rate
// decay, label smoothing 0.1 and drop path. Small images (≤ 32 px) use RandomCrop with
// 4 pixels of padding and a flip, as the official transform does for them.
// Legend: K classes

import { disposeReplaced, foldIn, type Key } from "../tensor/mod.ts";
import type { HostDataset } from "../data/loader.ts";
import { horizontalFlip, normalize, randomCropWithPadding } from "../data/transforms.ts";
import { evaluateClassifier, trainClassifier } from "../nn/classifier.ts";
import { adamw, layerwiseLrDecay } from "../nn/optim/alias.ts";
import { warmupCosine } from "../nn/optim/schedule.ts";
import { visionTransformer, type ViTParams } from "../nn/vision_transformer.ts";
import type { BeitPretrainConfig, BeitPretrainParams } from "./model.ts";
import { FASHION_MNIST_MEAN, FASHION_MNIST_STD } from "../data/fashion_mnist.ts";

/** Options of finetuneBeit. */
export interface FinetuneOptions {
  /** The pretraining model's config: the classifier has the same backbone. */
  config: BeitPretrainConfig;
  /** Pretrained params (null: train from scratch, the random-init baseline). */
  pretrained: BeitPretrainParams | null;
  /** Training images and labels. */
  train: HostDataset;
  /** Test images and labels (top-1 is measured on them). */
  test: HostDataset;
  /** Passes over the training set. */
  epochs: number;
  /** Images per optimizer step. */
  batchSize: number;
  /** Peak learning rate (after warm-up, before the cosine decay). */
  learningRate: number;
  /** Layer-wise learning-rate decay: block i of L gets decay^(L + 1 − i) of the rate (default 0.65). */
  layerDecay?: number;
  /** Stochastic depth rate of the last block, linear in depth (default 0.1). */
  dropPathRate?: number;
  /** Label smoothing of the cross-entropy (default 0.1). */
  labelSmoothing?: number;
  /** Linear warm-up, in epochs (default 0). */
  warmupEpochs?: number;
  /**
   * Augmentation: RandomCrop with this much zero padding (default 4, the official
   * transform for small images; 0: no crop) and horizontal flips (default true).
   */
  cropPadding?: number;
  /** Random horizontal flips of the training images (default true). */
  flip?: boolean;
  /** Classes of the head (default 10). */
  numClasses?: number;
  /** Per-channel input mean (default Fashion-MNIST's 0.286). */
  mean?: readonly number[];
  /** Per-channel input standard deviation (default Fashion-MNIST's 0.353). */
  std?: readonly number[];
  /** Key for the initialisation of the head, the augmentation, dropout and the shuffling. */
  key: Key;
  /** No progress bar (default false). */
  quiet?: boolean;
  /** What the progress bar calls this run (default "fine-tune"). */
  label?: string;
}

/** The fine-tuning classifier config for a pretraining config. */
export function finetuneConfig(
  config: BeitPretrainConfig,
  numClasses: number,
  dropPathRate: number,
): Record<string, unknown> {
  return {
    img_size: config.imgSize,
    patch_size: config.patchSize,
    in_chans: config.inChans,
    num_classes: numClasses,
    embed_dim: config.embedDim,
    depth: config.depth,
    num_heads: config.numHeads,
    mlp_ratio: config.mlpRatio,
    qkv_bias: config.qkvBias,
    init_values: config.initValues,
    use_abs_pos_emb: config.useAbsPosEmb,
    use_rel_pos_bias: true,
    use_mean_pooling: true,
    drop_path_rate: dropPathRate,
    norm_eps: config.normEps,
  };
}

/**
 * Copies pretrained weights into fine-tuning params: the shared relative position table
 * into every block, everything else by name; fc_norm and head stay freshly initialised.
 */
export function pretrainedToFinetune(fresh: ViTParams, pretrained: BeitPretrainParams): ViTParams {
  const table = pretrained.rel_pos_bias?.relative_position_bias_table;
  return {
    ...fresh,
    cls_token: pretrained.cls_token,
    ...(pretrained.pos_embed ? { pos_embed: pretrained.pos_embed } : {}),
    patch_embed: pretrained.patch_embed,
    blocks: pretrained.blocks.map((b, i) => ({
      ...b,
      attn: {
        ...b.attn,
        relative_position_bias_table: table ?? fresh.blocks[i].attn.relative_position_bias_table,
      },
    })),
  };
}

/**
 * Fine-tunes (or trains from scratch) and reports test top-1.
 *
 * @param options see FinetuneOptions
 * @returns `{ top1, params }`
 */
export async function finetuneBeit(
  options: FinetuneOptions,
): Promise<{ top1: number; params: ViTParams }> {
  const k = options.numClasses ?? 10;
  const vit = visionTransformer(finetuneConfig(options.config, k, options.dropPathRate ?? 0.1));
  const fresh = vit.init(foldIn(options.key, 0));
  const params = options.pretrained ? pretrainedToFinetune(fresh, options.pretrained) : fresh;
  const mean = options.mean ?? [FASHION_MNIST_MEAN];
  const std = options.std ?? [FASHION_MNIST_STD];
  const stepsPerEpoch = Math.floor(options.train.labels.length / options.batchSize);
  const optimizer = adamw({
    learningRate: warmupCosine({
      baseValue: options.learningRate,
      finalValue: 1e-6,
      totalSteps: options.epochs * stepsPerEpoch,
      warmupSteps: Math.round((options.warmupEpochs ?? 0) * stepsPerEpoch),
    }),
    weightDecay: 0.05,
    lrMultipliers: layerwiseLrDecay(params, {
      depth: options.config.depth,
      decay: options.layerDecay ?? 0.65,
    }),
  });
  const size = options.config.imgSize;
  const trained = await trainClassifier({
    apply: (p: ViTParams, images, o) => vit.apply(p, images, o),
    params,
    optimizer,
    data: options.train,
    epochs: options.epochs,
    batchSize: options.batchSize,
    key: foldIn(options.key, 1),
    labelSmoothing: options.labelSmoothing ?? 0.1,
    transform: (key, batch) => {
      const padding = options.cropPadding ?? 4;
      const cropped = padding > 0
        ? randomCropWithPadding(foldIn(key, 0), batch, size, padding)
        : batch;
      const flipped = options.flip ?? true ? horizontalFlip(foldIn(key, 1), cropped, 0.5) : cropped;
      return normalize(flipped, mean, std);
    },
    label: options.label ?? "fine-tune",
    quiet: options.quiet,
  });
  // Our fresh init is ours to free; the pretrained tensors stay the caller's.
  disposeReplaced(fresh, trained.params);
  const top1 = await evaluateClassifier(
    (p: ViTParams, images, o) => vit.apply(p, images, o),
    trained.params,
    options.test,
    {
      transform: (batch) => normalize(batch, mean, std),
    },
  );
  return { top1, params: trained.params };
}
