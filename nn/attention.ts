// Multi-head self-attention as BEiT writes it (the official `Attention`): one qkv weight with rows
// [q; k; v] × heads, separate q and v biases (k's is zero), scale d_h^(−1/2) on q,
// optional relative position bias (own table and/or a shared one passed in).
//
// q, k and v are computed as three products with the three row blocks of the qkv weight
// (views), not one product split afterwards: the same arithmetic, but the backward pass
// then sums three [B, T, D] input gradients instead of scattering three [B, H, T, d]
// gradients into a zero [3, B, H, T, d] tensor and copying it back to [B, T, 3D].
// Legend: B batch · T tokens · D width · H heads · d head width (D/H)

import {
  add,
  type Key,
  matmul,
  matrixTranspose,
  mul,
  permute,
  reshape,
  slice,
  softmax,
  splitKey,
  type Tensor,
  zeros,
} from "../tensor/mod.ts";
import { dropout as dropoutOp } from "../tensor/mod.ts";
import type { TrainOptions } from "./dropout.ts";
import type { InitStyle } from "./init.ts";
import type { Layer } from "./layer.ts";
import { linearForward, linearLayer, type LinearParams } from "./linear.ts";
import {
  relativePositionBiasFromTable,
  relativePositionTableSize,
} from "./relative_position_bias.ts";

/** How the qkv projection is biased. */
export type QkvBias = "qv" | "full" | "none";

/** Parameters of an attention layer (optional entries depend on the config). */
export interface AttentionParams {
  /** Bias of q (`qkvBias: "qv"`). */
  q_bias?: Tensor;
  /** Bias of v (`qkvBias: "qv"`; k has none). */
  v_bias?: Tensor;
  /** The layer's own relative position bias table, when it has a window. */
  relative_position_bias_table?: Tensor;
  /** The fused q, k, v projection [3D, D]. */
  qkv: LinearParams;
  /** The output projection [D, D]. */
  proj: LinearParams;
  /** Any other official key. */
  [key: string]: Tensor | LinearParams | undefined;
}

/** Options of attention.apply. */
export interface AttentionOptions extends TrainOptions {
  /** A shared relative position bias [H, T, T] to add to the logits. */
  relBias?: Tensor;
}

/** Attention configuration. */
export interface AttentionConfig {
  /** Token width D. */
  dim: number;
  /** Attention heads (D must be a multiple). */
  numHeads: number;
  /** "qv" (BEiT: q_bias and v_bias), "full" (qkv.bias, DINO/timm) or "none". */
  qkvBias?: QkvBias;
  /** Override of the logit scale (default d^(−1/2)). */
  qkScale?: number | null;
  /** Grid [Wh, Ww] when the layer owns a relative position bias table. */
  window?: readonly [number, number] | null;
  /** Dropout on attention weights (default 0). */
  attnDrop?: number;
  /** Dropout after the output projection (default 0). */
  projDrop?: number;
  /** Initialisation regime of the projections (default: the linear layer's, "finetune"). */
  init?: InitStyle;
}

/**
 * Multi-head self-attention.
 *
 * @param config see AttentionConfig
 * @returns `{ init, apply }`: apply(params, x [B, T, D], options) → [B, T, D]
 */
export function attention(config: AttentionConfig): Layer<AttentionParams, AttentionOptions> {
  const { dim, numHeads } = config;
  if (dim % numHeads !== 0) {
    throw new Error(`Cannot build attention: width ${dim} is not divisible by ${numHeads} heads`);
  }
  const headDim = dim / numHeads;
  const scale = config.qkScale ?? headDim ** -0.5;
  const mode = config.qkvBias ?? "qv";
  const qkv = linearLayer({
    inFeatures: dim,
    outFeatures: 3 * dim,
    bias: mode === "full",
    init: config.init,
  });
  const proj = linearLayer({ inFeatures: dim, outFeatures: dim, init: config.init });
  const window = config.window ?? null;
  return {
    init(k: Key): AttentionParams {
      const [k1, k2] = splitKey(k);
      const p: Partial<AttentionParams> = {};
      if (mode === "qv") {
        p.q_bias = zeros([dim]);
        p.v_bias = zeros([dim]);
      }
      if (window) {
        p.relative_position_bias_table = zeros([
          relativePositionTableSize(window[0], window[1]),
          numHeads,
        ]);
      }
      p.qkv = qkv.init(k1);
      p.proj = proj.init(k2);
      return p as AttentionParams;
    },
    apply(p: AttentionParams, x: Tensor, options: AttentionOptions = {}): Tensor {
      const [b, t] = x.shape;
      const rows = (i: number): [number, number] => [i * dim, (i + 1) * dim];
      const biasOf = (i: number): Tensor | null =>
        mode === "qv"
          ? [p.q_bias!, null, p.v_bias!][i] // k's bias is zero
          : p.qkv.bias
          ? slice(p.qkv.bias, [rows(i)])
          : null;
      // Row block i of the weight (q, k or v) applied to x, split into heads: [B, H, T, d]
      const project = (i: number) =>
        permute(
          reshape(linearForward(x, slice(p.qkv.weight, [rows(i)]), biasOf(i)), [
            b,
            t,
            numHeads,
            headDim,
          ]),
          [0, 2, 1, 3],
        );
      const q = mul(project(0), scale);
      let logits = matmul(q, matrixTranspose(project(1))); // [B, H, T, T]
      if (p.relative_position_bias_table && window) {
        logits = add(
          logits,
          relativePositionBiasFromTable(p.relative_position_bias_table, window[0], window[1]),
        );
      }
      if (options.relBias) logits = add(logits, options.relBias);
      let weights = softmax(logits, { axis: -1 }); // [B, H, T, T]
      const [kAttn, kProj] = options.key ? splitKey(options.key) : [undefined, undefined];
      if (options.train && (config.attnDrop ?? 0) > 0) {
        weights = dropoutOp(kAttn!, weights, { rate: config.attnDrop! });
      }
      const mixed = matmul(weights, project(2)); // [B, H, T, d]
      const merged = reshape(permute(mixed, [0, 2, 1, 3]), [b, t, dim]); // [B, T, D]
      const out = proj.apply(p.proj, merged);
      if (options.train && (config.projDrop ?? 0) > 0) {
        return dropoutOp(kProj!, out, { rate: config.projDrop! });
      }
      return out;
    },
  };
}
