// The BEiT v2 pretraining model with the CLS bottleneck (official
// `modeling_pretrain.VisionTransformerForMaskedImageModelingCLS`):
//
//   x = patch_embed(images); masked patches ← mask_token; prepend CLS; (+ pos_embed)
//   blocks 1…L with one shared relative position bias; keep the patch tokens of block l
//   main branch:        lm_head(norm(x_L))[patches][mask]                  → logits [M, V]
//   bottleneck branch:  S = [x_L CLS, x_l patches] → 2 blocks (same bias) → same norm,
//                       same lm_head → logits [M, V]
//   loss = CE(main) + CE(bottleneck), both on the masked positions
//
// The only way information from blocks l+1 … L reaches the bottleneck branch is the CLS
// token: that is what forces it to summarise the image.
// Legend: B batch · N patches · T = N + 1 · D width · V vocabulary (codebook) · M masked

import {
  add,
  cast,
  concat,
  crossEntropy,
  expand,
  type Key,
  mul,
  reshape,
  slice,
  splitKey,
  sub,
  take,
  type Tensor,
  tensor,
  toArraySync,
  unsqueeze,
} from "../tensor/mod.ts";
import { block, type BlockParams } from "../nn/block.ts";
import { parseConfig } from "../nn/config.ts";
import { truncNormalInit } from "../nn/init.ts";
import { layerNorm, type LayerNormParams } from "../nn/layer_norm.ts";
import { linear, type LinearParams } from "../nn/linear.ts";
import { patchEmbed, type PatchEmbedParams } from "../nn/patch_embed.ts";
import {
  relativePositionBias,
  type RelativePositionBiasParams,
} from "../nn/relative_position_bias.ts";
import { dropPathRates } from "../nn/vision_transformer.ts";

/** Pretraining config with the official constructor names (camelCase accepted). */
export interface BeitPretrainConfig {
  imgSize: number;
  patchSize: number;
  inChans: number;
  vocabSize: number;
  embedDim: number;
  depth: number;
  numHeads: number;
  mlpRatio: number;
  qkvBias: boolean;
  qkScale: number | null;
  dropRate: number;
  attnDropRate: number;
  dropPathRate: number;
  initValues: number;
  useAbsPosEmb: boolean;
  useRelPosBias: boolean;
  useSharedRelPosBias: boolean;
  /** Block whose patch tokens feed the bottleneck (9 for base). */
  earlyLayers: number;
  /** Bottleneck depth (2). */
  headLayers: number;
  sharedLmHead: boolean;
  normEps: number;
  initStd: number;
}

/** The official base configuration (`beit_base_patch16_224_8k_vocab_cls_pt`). */
export const BEIT_PRETRAIN_DEFAULTS: BeitPretrainConfig = {
  imgSize: 224,
  patchSize: 16,
  inChans: 3,
  vocabSize: 8192,
  embedDim: 768,
  depth: 12,
  numHeads: 12,
  mlpRatio: 4,
  qkvBias: true,
  qkScale: null,
  dropRate: 0,
  attnDropRate: 0,
  dropPathRate: 0,
  initValues: 0.1,
  useAbsPosEmb: false,
  useRelPosBias: false,
  useSharedRelPosBias: true,
  earlyLayers: 9,
  headLayers: 2,
  sharedLmHead: true,
  normEps: 1e-6,
  initStd: 0.02,
};

/** Parameters in the official state-dict order. */
export interface BeitPretrainParams {
  cls_token: Tensor;
  mask_token: Tensor;
  pos_embed?: Tensor;
  patch_embed: PatchEmbedParams;
  rel_pos_bias?: RelativePositionBiasParams;
  blocks: BlockParams[];
  norm: LayerNormParams;
  lm_head: LinearParams;
  cls_pt_layers: BlockParams[];
  cls_pt_norm?: LayerNormParams;
  cls_pt_lm_head?: LinearParams;
  [key: string]: unknown;
}

/** Options of apply. */
export interface BeitApplyOptions {
  /** Masked patches, bool [B, N] (a CPU tensor: masks are drawn on the host). */
  mask: Tensor;
  train?: boolean;
  key?: Key;
  /** Logits for every position [B, N, V] instead of the masked ones [M, V]. */
  allTokens?: boolean;
}

/** What apply returns. */
export interface BeitOutput {
  logits: Tensor;
  logitsClsPt: Tensor;
  /** Patch tokens after the final norm, both branches [B, N, D]. */
  patchTokens: Tensor;
  patchTokensClsPt: Tensor;
  /** The last layer's CLS token after the final norm [B, D] (the linear-probe feature). */
  cls: Tensor;
  /** Flat indices b·N + n of the masked positions, in row-major order. */
  maskedIndices: Int32Array;
}

/** Row-major flat indices of the true entries of a host bool mask. */
export function maskedPositions(mask: Tensor): Int32Array {
  if (mask.backend !== "cpu") {
    throw new Error(
      'Cannot read the mask: pass it as a CPU tensor (masks are drawn on the host), e.g. blockwiseMasks(key, b, opts, "cpu")',
    );
  }
  const flags = toArraySync(mask);
  const out: number[] = [];
  flags.forEach((f, i) => f && out.push(i));
  return Int32Array.from(out);
}

/**
 * The BEiT v2 pretraining model.
 *
 * @param input config with official or camelCase names
 * @returns `{ config, init(key), apply(params, images, { mask, train, key, allTokens }), loss(...) }`
 */
export function beitPretrainModel(
  input: Partial<BeitPretrainConfig> | Record<string, unknown> = {},
): {
  config: BeitPretrainConfig;
  init(k: Key): BeitPretrainParams;
  apply(params: BeitPretrainParams, images: Tensor, options: BeitApplyOptions): BeitOutput;
} {
  const config = parseConfig(
    input as Record<string, unknown>,
    BEIT_PRETRAIN_DEFAULTS,
    "BEiT pretraining config",
  );
  const d = config.embedDim;
  const embed = patchEmbed({
    imgSize: config.imgSize,
    patchSize: config.patchSize,
    inChans: config.inChans,
    embedDim: d,
    init: "pretrain",
  });
  const grid: [number, number] = [embed.gridSize, embed.gridSize];
  const n = embed.numPatches;
  if (config.earlyLayers < 1 || config.earlyLayers > config.depth) {
    throw new Error(
      `Cannot build the pretraining model: early_layers must be in 1 … depth (${config.depth}), got ${config.earlyLayers}`,
    );
  }
  const blockConfig = {
    dim: d,
    numHeads: config.numHeads,
    mlpRatio: config.mlpRatio,
    qkvBias: (config.qkvBias ? "qv" : "none") as "qv" | "none",
    qkScale: config.qkScale,
    drop: config.dropRate,
    attnDrop: config.attnDropRate,
    initValues: config.initValues,
    window: config.useRelPosBias ? grid : null,
    normEps: config.normEps,
  };
  const rates = dropPathRates(
    config.dropPathRate,
    Math.max(config.depth, config.earlyLayers + config.headLayers),
  );
  const blocks = Array.from(
    { length: config.depth },
    (_, i) => block({ ...blockConfig, dropPath: rates[i], init: "pretrain" }),
  );
  // As in the official code, the bottleneck blocks are created after the initialiser ran, so they keep
  // PyTorch's default init (then the proj/fc2 rescale). We replicate that.
  const clsPt = Array.from(
    { length: config.headLayers },
    (_, j) => block({ ...blockConfig, dropPath: rates[config.earlyLayers + j], init: "torch" }),
  );
  const shared = config.useSharedRelPosBias
    ? relativePositionBias({ window: grid, numHeads: config.numHeads })
    : null;
  const norm = layerNorm({ dim: d, eps: config.normEps });
  const head = linear({ inFeatures: d, outFeatures: config.vocabSize, init: "pretrain" });

  const rescale = (p: BlockParams, layer: number) => {
    const s = 1 / Math.sqrt(2 * layer);
    p.attn.proj.weight = mul(p.attn.proj.weight, s);
    p.mlp.fc2.weight = mul(p.mlp.fc2.weight, s);
    return p;
  };

  return {
    config,
    init(k: Key): BeitPretrainParams {
      const keys = splitKey(k, 8 + config.depth + config.headLayers);
      const p: Partial<BeitPretrainParams> = {};
      p.cls_token = truncNormalInit(keys[0], [1, 1, d], "pretrain");
      p.mask_token = truncNormalInit(keys[1], [1, 1, d], "pretrain");
      if (config.useAbsPosEmb) p.pos_embed = truncNormalInit(keys[2], [1, n + 1, d], "pretrain");
      p.patch_embed = embed.init(keys[3]);
      if (shared) p.rel_pos_bias = shared.init(keys[4]);
      p.blocks = blocks.map((b, i) => rescale(b.init(keys[8 + i]), i + 1));
      p.norm = norm.init(keys[5]);
      p.lm_head = head.init(keys[6]);
      p.cls_pt_layers = clsPt.map((b, j) =>
        rescale(b.init(keys[8 + config.depth + j]), config.earlyLayers + j + 1)
      );
      if (!config.sharedLmHead) {
        p.cls_pt_norm = norm.init(keys[7]);
        p.cls_pt_lm_head = head.init(keys[7]);
      }
      return p as BeitPretrainParams;
    },
    apply(p: BeitPretrainParams, images: Tensor, options: BeitApplyOptions): BeitOutput {
      const train = options.train ?? false;
      const keys = options.key ? splitKey(options.key, config.depth + config.headLayers) : [];
      const maskedIndices = maskedPositions(options.mask);
      let x = embed.apply(p.patch_embed, images); // [B, N, D]
      const b = x.shape[0];
      if (options.mask.shape[0] !== b || options.mask.shape[1] !== n) {
        throw new Error(
          `Cannot apply the pretraining model: mask must be [${b}, ${n}], got [${options.mask.shape}]`,
        );
      }
      // Masked patches are replaced by the mask token (after the conv and its bias).
      const w = unsqueeze(
        cast(
          tensor(toArraySync(options.mask), {
            shape: options.mask.shape,
            dtype: "bool",
            backend: x.backend,
          }),
          x.dtype,
        ),
        -1,
      ); // [B, N, 1]
      x = add(mul(x, sub(1, w)), mul(p.mask_token, w));
      x = concat([expand(p.cls_token, [b, 1, d]), x], { axis: 1 }); // [B, T, D]
      if (p.pos_embed) x = add(x, p.pos_embed);
      const relBias = shared && p.rel_pos_bias ? shared.apply(p.rel_pos_bias) : undefined; // [H, T, T]
      let early: Tensor | undefined;
      blocks.forEach((blk, i) => {
        x = blk.apply(p.blocks[i], x, { train, key: keys[i], relBias });
        if (i + 1 === config.earlyLayers) early = slice(x, [null, [1]]); // [B, N, D], pre-norm
      });
      // Bottleneck: the last block's CLS (pre-norm) with the early patch tokens.
      let s = concat([slice(x, [null, [0, 1]]), early!], { axis: 1 }); // [B, T, D]
      clsPt.forEach((blk, j) => {
        s = blk.apply(p.cls_pt_layers[j], s, { train, key: keys[config.depth + j], relBias });
      });
      const normed = norm.apply(p.norm, x); // [B, T, D]
      const patchTokens = slice(normed, [null, [1]]); // [B, N, D]
      const patchTokensClsPt = slice(norm.apply(p.cls_pt_norm ?? p.norm, s), [null, [1]]);
      const lmHead = (t: Tensor, which: LinearParams) => {
        if (options.allTokens) return head.apply(which, t); // [B, N, V]
        const flat = reshape(t, [b * n, d]);
        return head.apply(
          which,
          take(flat, tensor(maskedIndices, { backend: flat.backend }), { axis: 0 }),
        ); // [M, V]
      };
      return {
        logits: lmHead(patchTokens, p.lm_head),
        logitsClsPt: lmHead(patchTokensClsPt, p.cls_pt_lm_head ?? p.lm_head),
        patchTokens,
        patchTokensClsPt,
        cls: reshape(slice(normed, [null, [0, 1]]), [b, d]),
        maskedIndices,
      };
    },
  };
}

/**
 * The pretraining loss: cross-entropy of both branches on the masked positions, summed
 * with equal weights (as the official `engine_for_pretraining`).
 *
 * @param out the model output (masked logits)
 * @param tokens the tokenizer's ids [B, N] (int32)
 * @returns `{ loss, lossMain, lossClsPt, labels }`
 */
export function beitPretrainLoss(
  out: BeitOutput,
  tokens: Tensor,
): { loss: Tensor; lossMain: Tensor; lossClsPt: Tensor; labels: Tensor } {
  const labels = take(
    reshape(tokens, [tokens.size]),
    tensor(out.maskedIndices, { backend: tokens.backend }),
  ); // [M]
  const lossMain = crossEntropy(out.logits, labels);
  const lossClsPt = crossEntropy(out.logitsClsPt, labels);
  return { loss: add(lossMain, lossClsPt), lossMain, lossClsPt, labels };
}
