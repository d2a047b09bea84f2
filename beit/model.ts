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
// token: that is what forces it to summarise the image (docs/course/06_mim.md).
// Legend: B batch · N patches · T = N + 1 · D width · V vocabulary (codebook) · M masked

import {
  add,
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
  Tensor,
  tensor,
  tidy,
  toArraySync,
  unsqueeze,
} from "../tensor/mod.ts";
import { block, type BlockParams } from "../nn/block.ts";
import { parseConfig } from "../nn/config.ts";
import { truncNormalInit } from "../nn/init.ts";
import type { LayerNormParams } from "../nn/layer_norm.ts";
import { linearLayer, type LinearParams } from "../nn/linear.ts";
import type { PatchEmbedParams } from "../nn/patch_embed.ts";
import type { RelativePositionBiasParams } from "../nn/relative_position_bias.ts";
import {
  type BackboneConfig,
  backboneParts,
  dropPathRates,
  rescaleResidual,
} from "../nn/vision_transformer.ts";

/** Pretraining config with the official constructor names (camelCase accepted). */
export interface BeitPretrainConfig extends BackboneConfig {
  /** Codebook size of the tokenizer: the classes of `lm_head` (`vocab_size`). */
  vocabSize: number;
  /** Initial layer-scale value γ (`init_values`; 0: no layer scale). */
  initValues: number;
  /** Block whose patch tokens feed the bottleneck (9 for base). */
  earlyLayers: number;
  /** Bottleneck depth (2). */
  headLayers: number;
  /** The bottleneck branch shares `lm_head` (`shared_lm_head`). */
  sharedLmHead: boolean;
  /** Standard deviation of the truncated-normal initialisation (`init_std`). */
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
  /** The CLS token [1, 1, D]. */
  cls_token: Tensor;
  /** The mask token that replaces masked patches [1, 1, D]. */
  mask_token: Tensor;
  /** Absolute position embeddings [1, T, D], when enabled. */
  pos_embed?: Tensor;
  /** The patch embedding (a strided convolution). */
  patch_embed: PatchEmbedParams;
  /** The shared relative position bias, when enabled. */
  rel_pos_bias?: RelativePositionBiasParams;
  /** The backbone's blocks. */
  blocks: BlockParams[];
  /** The final LayerNorm. */
  norm: LayerNormParams;
  /** The head over the codebook, for the main branch. */
  lm_head: LinearParams;
  /** The CLS bottleneck's blocks (`head_layers` of them). */
  cls_pt_layers: BlockParams[];
  /** The bottleneck branch's own final norm (absent when it shares `norm`). */
  cls_pt_norm?: LayerNormParams;
  /** The bottleneck branch's own head (absent when it shares `lm_head`). */
  cls_pt_lm_head?: LinearParams;
  /** Any other official key. */
  [key: string]: unknown;
}

/** Options of apply. */
export interface BeitApplyOptions {
  /**
   * Masked patches [B, N]: a bool tensor on any backend made from host data (as
   * `blockwiseMasks` returns), a tensor on a CPU backend, or nested arrays of booleans or
   * 0/1 (true / non-zero: masked).
   */
  mask: MaskInput;
  /** Training mode: dropout and drop path active (default false). */
  train?: boolean;
  /** Key for dropout and drop path in training mode. */
  key?: Key;
  /** Logits for every position [B, N, V] instead of the masked ones [M, V]. */
  allTokens?: boolean;
}

/** What apply returns. */
export interface BeitOutput {
  /** Main-branch logits over the codebook at the masked positions [M, V] (all positions [B, N, V] with `allTokens`). */
  logits: Tensor;
  /** Bottleneck-branch logits, same layout as `logits`. */
  logitsClsPt: Tensor;
  /** Patch tokens after the final norm, both branches [B, N, D]. */
  patchTokens: Tensor;
  /** Patch tokens of the bottleneck branch after its norm [B, N, D]. */
  patchTokensClsPt: Tensor;
  /** The last layer's CLS token after the final norm [B, D] (the linear-probe feature). */
  cls: Tensor;
  /** Flat indices b·N + n of the masked positions, in row-major order. */
  maskedIndices: Int32Array;
}

/** A mask as `apply` accepts it: a tensor, or nested arrays of booleans or 0/1. */
export type MaskInput = Tensor | readonly (readonly (boolean | number)[])[];

/** The mask's shape and its flags (1: masked) in row-major order. */
function maskFlags(mask: MaskInput): { shape: number[]; flags: ArrayLike<number> } {
  if (mask instanceof Tensor) {
    let flags: ArrayLike<number>;
    try {
      flags = toArraySync(mask);
    } catch {
      throw new Error(
        `Cannot read the mask: a ${mask.backend} tensor computed on the device cannot be read ` +
          `synchronously; pass await toNested(mask), or draw it with blockwiseMasks`,
      );
    }
    return { shape: [...mask.shape], flags };
  }
  const rows = mask.length;
  const cols = rows > 0 ? mask[0].length : 0;
  const flags = new Uint8Array(rows * cols);
  mask.forEach((row, i) => {
    if (row.length !== cols) {
      throw new Error(`Cannot read the mask: row ${i} has ${row.length} entries, row 0 ${cols}`);
    }
    row.forEach((v, j) => (flags[i * cols + j] = v ? 1 : 0));
  });
  return { shape: [rows, cols], flags };
}

/** Row-major flat indices of the true entries of a mask. */
export function maskedPositions(mask: MaskInput): Int32Array {
  const { flags } = maskFlags(mask);
  const out: number[] = [];
  for (let i = 0; i < flags.length; i++) if (flags[i]) out.push(i);
  return Int32Array.from(out);
}

/**
 * The BEiT v2 pretraining model.
 *
 * @param input config with official or camelCase names
 * @returns `{ config, init(key), apply(params, images, { mask, train, key, allTokens }) }`;
 *   the loss is `beitPretrainLoss` (the two cross-entropies on the masked positions)
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
  const { embed, blockSettings: blockConfig, shared, norm } = backboneParts(config, "pretrain");
  const n = embed.numPatches;
  if (config.earlyLayers < 1 || config.earlyLayers > config.depth) {
    throw new Error(
      `Cannot build the pretraining model: early_layers must be in 1 … depth (${config.depth}), got ${config.earlyLayers}`,
    );
  }
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
  const head = linearLayer({ inFeatures: d, outFeatures: config.vocabSize, init: "pretrain" });

  return {
    config,
    init: (k: Key): BeitPretrainParams =>
      tidy(() => {
        const keys = splitKey(k, 8 + config.depth + config.headLayers);
        const p: Partial<BeitPretrainParams> = {};
        p.cls_token = truncNormalInit(keys[0], [1, 1, d], "pretrain");
        p.mask_token = truncNormalInit(keys[1], [1, 1, d], "pretrain");
        if (config.useAbsPosEmb) p.pos_embed = truncNormalInit(keys[2], [1, n + 1, d], "pretrain");
        p.patch_embed = embed.init(keys[3]);
        if (shared) p.rel_pos_bias = shared.init(keys[4]);
        p.blocks = blocks.map((b, i) => rescaleResidual(b.init(keys[8 + i]), i + 1));
        p.norm = norm.init(keys[5]);
        p.lm_head = head.init(keys[6]);
        p.cls_pt_layers = clsPt.map((b, j) =>
          rescaleResidual(b.init(keys[8 + config.depth + j]), config.earlyLayers + j + 1)
        );
        if (!config.sharedLmHead) {
          p.cls_pt_norm = norm.init(keys[7]);
          p.cls_pt_lm_head = head.init(keys[7]);
        }
        return p as BeitPretrainParams;
      }),
    apply(p: BeitPretrainParams, images: Tensor, options: BeitApplyOptions): BeitOutput {
      const train = options.train ?? false;
      const keys = options.key ? splitKey(options.key, config.depth + config.headLayers) : [];
      const mask = maskFlags(options.mask);
      const maskedIndices = maskedPositions(options.mask);
      let x = embed.apply(p.patch_embed, images); // [B, N, D]
      const b = x.shape[0];
      if (mask.shape.length !== 2 || mask.shape[0] !== b || mask.shape[1] !== n) {
        throw new Error(
          `Cannot apply the pretraining model: mask must be [${b}, ${n}], got [${mask.shape}]`,
        );
      }
      // Masked patches are replaced by the mask token (after the conv and its bias).
      const w = unsqueeze(
        tensor(Float32Array.from(mask.flags), { shape: [b, n], backend: x.backend }),
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

/** The pretraining model as `beitPretrainModel(config)` builds it: config, init, apply. */
export type BeitPretrainModel = ReturnType<typeof beitPretrainModel>;

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
