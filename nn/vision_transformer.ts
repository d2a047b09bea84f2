// The BEiT-style Vision Transformer (official `modeling_finetune.VisionTransformer`):
// patch embedding, CLS token, optional absolute position embedding, blocks with
// optional relative position bias (per block or shared), then either the final `norm`
// on the CLS token or mean pooling with `fc_norm`, and an optional linear head.
// The same code serves the classifier, the VQ-KD encoder and decoder, and fine-tuning.
// Legend: B batch · N patches · T = N + 1 tokens · D width · K classes

import {
  add,
  concat,
  dispose,
  expand,
  type Key,
  linspace,
  mean,
  mul,
  reshape,
  slice,
  splitKey,
  type Tensor,
  tidy,
  toArraySync,
} from "../tensor/mod.ts";
import { dropout as dropoutOp } from "../tensor/mod.ts";
import { block, type BlockConfig, type BlockParams } from "./block.ts";
import { parseConfig } from "./config.ts";
import type { TrainOptions } from "./dropout.ts";
import { type InitStyle, truncNormalInit } from "./init.ts";
import type { Layer } from "./layer.ts";
import { layerNormLayer, type LayerNormParams } from "./layer_norm.ts";
import { linearLayer, type LinearParams } from "./linear.ts";
import { patchEmbed, type PatchEmbedParams } from "./patch_embed.ts";
import { relativePositionBias, type RelativePositionBiasParams } from "./relative_position_bias.ts";

/**
 * What every BEiT-style backbone is configured by (the ViT classifier, the VQ-KD encoder and
 * decoder, the BEiT v2 pretraining model), with the official argument names in brackets.
 */
export interface BackboneConfig {
  /** Input image side in pixels (`img_size`). */
  imgSize: number;
  /** Patch side in pixels (`patch_size`). */
  patchSize: number;
  /** Input channels (`in_chans`). */
  inChans: number;
  /** Token width D (`embed_dim`). */
  embedDim: number;
  /** Number of blocks (`depth`). */
  depth: number;
  /** Attention heads per block (`num_heads`). */
  numHeads: number;
  /** MLP hidden width over D (`mlp_ratio`). */
  mlpRatio: number;
  /** Bias on q and v (`qkv_bias`; BEiT's q_bias and v_bias). */
  qkvBias: boolean;
  /** Override of the attention logit scale (`qk_scale`; null: head width^−½). */
  qkScale: number | null;
  /** Dropout after projections, MLPs and the embedding (`drop_rate`). */
  dropRate: number;
  /** Dropout on attention weights (`attn_drop_rate`). */
  attnDropRate: number;
  /** Stochastic depth rate of the last block, linear in depth (`drop_path_rate`). */
  dropPathRate: number;
  /** Learned absolute position embeddings (`use_abs_pos_emb`). */
  useAbsPosEmb: boolean;
  /** A relative position bias table per block (`use_rel_pos_bias`). */
  useRelPosBias: boolean;
  /** One relative position bias shared by all blocks (`use_shared_rel_pos_bias`). */
  useSharedRelPosBias: boolean;
  /** LayerNorm epsilon (1e-6 in every BEiT model). */
  normEps: number;
}

/** ViT configuration (camelCase; the official snake_case names are accepted too). */
export interface ViTConfig extends BackboneConfig {
  /** Classes of the head (`num_classes`; 0: no head, the features). */
  numClasses: number;
  /** Initial layer-scale value (`init_values`; null: no layer scale). */
  initValues: number | null;
  /** Mean-pool the patch tokens through `fc_norm` instead of reading the CLS token (`use_mean_pooling`). */
  useMeanPooling: boolean;
  /** Scale of the head's initial weights (`init_scale`). */
  initScale: number;
  /** Initialisation regime (not an official argument): "finetune" as the official class. */
  initStyle: InitStyle;
}

/** The official constructor's defaults (with LayerNorm eps 1e-6, as every BEiT model). */
export const VIT_DEFAULTS: ViTConfig = {
  imgSize: 224,
  patchSize: 16,
  inChans: 3,
  numClasses: 1000,
  embedDim: 768,
  depth: 12,
  numHeads: 12,
  mlpRatio: 4,
  qkvBias: false,
  qkScale: null,
  dropRate: 0,
  attnDropRate: 0,
  dropPathRate: 0,
  initValues: null,
  useAbsPosEmb: true,
  useRelPosBias: false,
  useSharedRelPosBias: false,
  useMeanPooling: true,
  initScale: 0.001,
  normEps: 1e-6,
  initStyle: "finetune",
};

/** Parameters of a ViT, in the official state-dict order. */
export interface ViTParams {
  /** The CLS token [1, 1, D]. */
  cls_token: Tensor;
  /** Absolute position embeddings [1, T, D], when enabled. */
  pos_embed?: Tensor;
  /** The patch embedding. */
  patch_embed: PatchEmbedParams;
  /** The shared relative position bias, when enabled. */
  rel_pos_bias?: RelativePositionBiasParams;
  /** The blocks. */
  blocks: BlockParams[];
  /** The final norm (absent with mean pooling). */
  norm?: LayerNormParams;
  /** The norm after mean pooling (with mean pooling). */
  fc_norm?: LayerNormParams;
  /** The classification head (absent when `num_classes` is 0). */
  head?: LinearParams;
  /** Any other official key. */
  [key: string]: unknown;
}

/** Options of visionTransformer.apply. */
export interface ViTApplyOptions extends TrainOptions {
  /** Return the normalised patch tokens [B, N, D] instead of pooled features/logits. */
  returnPatchTokens?: boolean;
}

/** Stochastic depth rate of each block: linspace(0, rate, depth). */
export function dropPathRates(rate: number, depth: number): number[] {
  if (depth === 0) return [];
  const rates = linspace(0, rate, depth, { dtype: "float64", backend: "cpu" });
  const values = Array.from(toArraySync(rates));
  dispose(rates);
  return values;
}

/**
 * What every block of a BEiT-style ViT shares, from the model's config (the per-block drop
 * path rate and the init regime are the caller's).
 *
 * @param config the model's config (ViT, BEiT pretraining or VQ-KD encoder)
 * @param grid the patch grid, for the blocks' own relative position bias tables
 */
export function blockSettings(
  config: BackboneConfig & { initValues: number | null },
  grid: readonly [number, number],
): Omit<BlockConfig, "dropPath" | "init"> {
  return {
    dim: config.embedDim,
    numHeads: config.numHeads,
    mlpRatio: config.mlpRatio,
    qkvBias: config.qkvBias ? "qv" : "none",
    qkScale: config.qkScale,
    drop: config.dropRate,
    attnDrop: config.attnDropRate,
    initValues: config.initValues ?? 0,
    window: config.useRelPosBias ? grid : null,
    normEps: config.normEps,
  };
}

/** The parts every BEiT-style backbone is built from (see backboneParts). */
export interface BackboneParts {
  /** The patch embedding. */
  embed: Layer<PatchEmbedParams> & { numPatches: number; gridSize: number };
  /** The patch grid. */
  grid: readonly [number, number];
  /** What every block shares (blockSettings). */
  blockSettings: Omit<BlockConfig, "dropPath" | "init">;
  /** The relative position bias all blocks share, when configured. */
  shared: ReturnType<typeof relativePositionBias> | null;
  /** A LayerNorm of the backbone's width and epsilon. */
  norm: Layer<LayerNormParams>;
}

/**
 * The parts of a BEiT-style backbone from its config: the patch embedding (initialised by
 * `init`'s regime), its grid, the blocks' shared settings, the shared relative position
 * bias when configured, and its LayerNorm.
 */
export function backboneParts(
  config: BackboneConfig & { initValues: number | null },
  init: InitStyle,
): BackboneParts {
  const embed = patchEmbed({
    imgSize: config.imgSize,
    patchSize: config.patchSize,
    inChans: config.inChans,
    embedDim: config.embedDim,
    init,
  });
  const grid = [embed.gridSize, embed.gridSize] as const;
  return {
    embed,
    grid,
    blockSettings: blockSettings(config, grid),
    shared: config.useSharedRelPosBias
      ? relativePositionBias({ window: grid, numHeads: config.numHeads })
      : null,
    norm: layerNormLayer({ dim: config.embedDim, eps: config.normEps }),
  };
}

/**
 * As the official `fix_init_weight`: a block's residual projections (attn.proj and mlp.fc2
 * weights) scaled by 1/√(2·layer), layer counted from 1. Returns new params; the replaced
 * weights are left to the caller's tidy().
 */
export function rescaleResidual(params: BlockParams, layer: number): BlockParams {
  const s = 1 / Math.sqrt(2 * layer);
  return {
    ...params,
    attn: {
      ...params.attn,
      proj: { ...params.attn.proj, weight: mul(params.attn.proj.weight, s) },
    },
    mlp: { ...params.mlp, fc2: { ...params.mlp.fc2, weight: mul(params.mlp.fc2.weight, s) } },
  };
}

/**
 * A Vision Transformer built from an official-style config.
 *
 * @param input config with official (snake_case) or camelCase keys; missing keys take the
 *   official defaults
 * @returns `{ config, init(key), apply(params, images, options) }`: logits [B, K] with a
 *   head, pooled features [B, D] without, or patch tokens [B, N, D] with
 *   `returnPatchTokens`
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { key, zeros } from "@tessella/tessella";
 * import { visionTransformer } from "@tessella/tessella/nn";
 * const vit = visionTransformer({ img_size: 28, patch_size: 4, in_chans: 1, num_classes: 10, embed_dim: 32, depth: 2, num_heads: 2 });
 * const params = vit.init(key(0));
 * assert.deepEqual(vit.apply(params, zeros([2, 1, 28, 28])).shape, [2, 10]);
 * ```
 */
export function visionTransformer(
  input: Partial<ViTConfig> | Record<string, unknown> = {},
): Layer<ViTParams, ViTApplyOptions> & { config: ViTConfig } {
  const config = parseConfig(input as Record<string, unknown>, VIT_DEFAULTS, "ViT config");
  const d = config.embedDim;
  const style = config.initStyle;
  const { embed, blockSettings: settings, shared, norm: finalNorm } = backboneParts(config, style);
  const rates = dropPathRates(config.dropPathRate, config.depth);
  const blocks = rates.map((rate) => block({ ...settings, dropPath: rate, init: style }));
  const head = config.numClasses > 0
    ? linearLayer({ inFeatures: d, outFeatures: config.numClasses, init: style })
    : null;
  const tokens = embed.numPatches + 1;

  return {
    config,
    init: (k: Key): ViTParams =>
      tidy(() => {
        const keys = splitKey(k, 4 + config.depth);
        const p: Partial<ViTParams> = {};
        p.cls_token = truncNormalInit(keys[0], [1, 1, d], style);
        if (config.useAbsPosEmb) p.pos_embed = truncNormalInit(keys[1], [1, tokens, d], style);
        p.patch_embed = embed.init(keys[2]);
        if (shared) p.rel_pos_bias = shared.init(keys[2]);
        p.blocks = blocks.map((b, i) => rescaleResidual(b.init(keys[4 + i]), i + 1));
        if (config.useMeanPooling) p.fc_norm = finalNorm.init(keys[3]);
        else p.norm = finalNorm.init(keys[3]);
        if (head) {
          const h = head.init(keys[3]);
          p.head = {
            weight: mul(h.weight, config.initScale),
            bias: mul(h.bias!, config.initScale),
          };
        }
        return p as ViTParams;
      }),
    apply(p: ViTParams, images: Tensor, options: ViTApplyOptions = {}): Tensor {
      const train = options.train ?? false;
      const keys = options.key ? splitKey(options.key, config.depth + 1) : [];
      let x = embed.apply(p.patch_embed, images); // [B, N, D]
      const b = x.shape[0];
      x = concat([expand(p.cls_token, [b, 1, d]), x], { axis: 1 }); // [B, T, D]
      if (p.pos_embed) x = add(x, p.pos_embed);
      if (train && config.dropRate > 0) {
        x = dropoutOp(keys[config.depth], x, { rate: config.dropRate });
      }
      const relBias = p.rel_pos_bias && shared ? shared.apply(p.rel_pos_bias) : undefined; // [H, T, T]
      blocks.forEach((blk, i) => {
        x = blk.apply(p.blocks[i], x, { train, key: keys[i], relBias });
      });
      const patches = slice(x, [null, [1]]); // [B, N, D]
      if (config.useMeanPooling) {
        if (options.returnPatchTokens) return finalNorm.apply(p.fc_norm!, patches);
        const pooled = finalNorm.apply(p.fc_norm!, mean(patches, { axis: 1 })); // [B, D]
        return head ? head.apply(p.head!, pooled) : pooled;
      }
      const normed = finalNorm.apply(p.norm!, x); // [B, T, D]
      if (options.returnPatchTokens) return slice(normed, [null, [1]]);
      const clsOut = reshape(slice(normed, [null, [0, 1]]), [b, d]); // [B, D]
      return head ? head.apply(p.head!, clsOut) : clsOut;
    },
  };
}

/** A ViT as `visionTransformer(config)` builds it: config, init, apply. */
export type ViTModel = Layer<ViTParams, ViTApplyOptions> & { config: ViTConfig };
