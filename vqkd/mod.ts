/**
 * VQ-KD, BEiT v2's visual tokenizer: a ViT encoder whose patch features are quantised
 * against an ℓ2-normalised, EMA-updated codebook and decoded to reconstruct a frozen
 * teacher's features. Its codes are the targets of masked image modelling.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { key, zeros } from "@tessella/tessella";
 * import { vqkd } from "@tessella/tessella/vqkd";
 * const tokenizer = vqkd({
 *   encoder: { img_size: 28, patch_size: 4, in_chans: 1, embed_dim: 32, depth: 1, num_heads: 2, qkv_bias: true },
 *   decoder: { img_size: 7, patch_size: 1, in_chans: 8, embed_dim: 32, depth: 1, num_heads: 2, qkv_bias: true },
 *   n_embed: 64, embed_dim: 8, decoder_out_dim: 16,
 * });
 * const { params, state } = tokenizer.init(key(0));
 * const { tokens } = tokenizer.apply(params, state, zeros([2, 1, 28, 28]));
 * assert.deepEqual(tokens.shape, [2, 49]);
 * ```
 *
 * @module
 */

export {
  bincount,
  codesUsed,
  initQuantizerState,
  kmeansInit,
  nearestCodes,
  quantize,
  type QuantizerConfig,
  type QuantizerOutput,
  type QuantizerState,
} from "./quantizer.ts";
export {
  cosineReconstructionLoss,
  vqkd,
  VQKD_DEFAULTS,
  type VqkdApplyOptions,
  type VqkdConfig,
  type VqkdModel,
  type VqkdOutput,
  type VqkdParams,
  type VqkdState,
} from "./model.ts";
export { evaluateTokenizer, loadTokenizer } from "./evaluate.ts";
export {
  type TrainedTokenizer,
  trainVqkd,
  type TrainVqkdOptions,
  VQKD_CONFIGS,
  vqkdAugment,
} from "./train.ts";
export {
  classifierTeacher,
  clipTeacher,
  dinoTeacher,
  pixelTeacher,
  type Teacher,
  toChannels,
} from "./teachers.ts";
export { codeColor, codePatchGrid, tokenMap, usageHistogramSvg } from "./report.ts";
