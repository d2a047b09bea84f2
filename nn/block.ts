// The pre-norm transformer block (the official `Block`):
//   x ← x + DropPath(γ₁ ⊙ Attn(LN₁(x)));  x ← x + DropPath(γ₂ ⊙ MLP(LN₂(x)))
// with layer scale γ only when init_values > 0 (keys gamma_1, gamma_2).
// Legend: B batch · T tokens · D width

import { add, full, type Key, mul, splitKey, type Tensor } from "../tensor/mod.ts";
import { attention, type AttentionParams, type QkvBias } from "./attention.ts";
import { dropPathForward, type TrainOptions } from "./dropout.ts";
import type { InitStyle } from "./init.ts";
import type { Layer } from "./layer.ts";
import { layerNormLayer, type LayerNormParams } from "./layer_norm.ts";
import { mlp, type MlpParams } from "./mlp.ts";

/** Parameters of a block, in the official state-dict order. */
export interface BlockParams {
  /** Layer scale of the attention branch [D], when enabled. */
  gamma_1?: Tensor;
  /** Layer scale of the MLP branch [D], when enabled. */
  gamma_2?: Tensor;
  /** LayerNorm before attention. */
  norm1: LayerNormParams;
  /** The attention layer. */
  attn: AttentionParams;
  /** LayerNorm before the MLP. */
  norm2: LayerNormParams;
  /** The MLP. */
  mlp: MlpParams;
  /** Any other official key. */
  [key: string]: unknown;
}

/** Block configuration. */
export interface BlockConfig {
  /** Token width D. */
  dim: number;
  /** Attention heads. */
  numHeads: number;
  /** MLP hidden width over D (default 4). */
  mlpRatio?: number;
  /** How qkv is biased (default "qv"). */
  qkvBias?: QkvBias;
  /** Override of the attention logit scale. */
  qkScale?: number | null;
  /** Dropout after the attention projection and the MLP. */
  drop?: number;
  /** Dropout on attention weights (default 0). */
  attnDrop?: number;
  /** Stochastic depth rate of this block. */
  dropPath?: number;
  /** Layer-scale initial value; 0 means no layer scale. */
  initValues?: number;
  /** Grid of an own relative position bias table, or null. */
  window?: readonly [number, number] | null;
  /** LayerNorm epsilon (default 1e-6). */
  normEps?: number;
  /** Initialisation regime (default "finetune"). */
  init?: InitStyle;
}

/** Options of block.apply. */
export interface BlockOptions extends TrainOptions {
  /** Shared relative position bias [H, T, T]. */
  relBias?: Tensor;
}

/**
 * A transformer block.
 *
 * @param config see BlockConfig
 * @returns `{ init, apply }`: apply(params, x [B, T, D], options) → [B, T, D]
 */
export function block(config: BlockConfig): Layer<BlockParams, BlockOptions> {
  const { dim } = config;
  const eps = config.normEps ?? 1e-6;
  const norm1 = layerNormLayer({ dim, eps });
  const norm2 = layerNormLayer({ dim, eps });
  const attn = attention({
    dim,
    numHeads: config.numHeads,
    qkvBias: config.qkvBias,
    qkScale: config.qkScale,
    window: config.window,
    attnDrop: config.attnDrop,
    projDrop: config.drop,
    init: config.init,
  });
  const mlpLayer = mlp({
    dim,
    hidden: Math.floor(dim * (config.mlpRatio ?? 4)),
    dropRate: config.drop,
    init: config.init,
  });
  const initValues = config.initValues ?? 0;
  const rate = config.dropPath ?? 0;
  return {
    init(k: Key): BlockParams {
      const [k1, k2] = splitKey(k);
      const p: Partial<BlockParams> = {};
      if (initValues > 0) {
        p.gamma_1 = full([dim], initValues);
        p.gamma_2 = full([dim], initValues);
      }
      p.norm1 = norm1.init(k1);
      p.attn = attn.init(k1);
      p.norm2 = norm2.init(k2);
      p.mlp = mlpLayer.init(k2);
      return p as BlockParams;
    },
    apply(p: BlockParams, x: Tensor, options: BlockOptions = {}): Tensor {
      const [kAttn, kPath1, kMlp, kPath2] = options.key ? splitKey(options.key, 4) : [];
      const train = options.train ?? false;
      let branch = attn.apply(p.attn, norm1.apply(p.norm1, x), {
        train,
        key: kAttn,
        relBias: options.relBias,
      });
      if (p.gamma_1) branch = mul(branch, p.gamma_1);
      x = add(x, dropPathForward(branch, rate, { train, key: kPath1 }));
      branch = mlpLayer.apply(p.mlp, norm2.apply(p.norm2, x), { train, key: kMlp });
      if (p.gamma_2) branch = mul(branch, p.gamma_2);
      return add(x, dropPathForward(branch, rate, { train, key: kPath2 }));
    },
  };
}
