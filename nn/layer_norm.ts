// LayerNorm layer over the last axis, with PyTorch's parameter names (weight, bias).

import { type Key, layerNorm as layerNormOp, ones, type Tensor, zeros } from "../tensor/mod.ts";
import type { Layer } from "./layer.ts";

/** Parameters of a LayerNorm. */
export interface LayerNormParams {
  /** Scale [D]. */
  weight: Tensor;
  /** Shift [D]. */
  bias: Tensor;
  /** Any other official key. */
  [key: string]: Tensor;
}

/**
 * Layer normalisation with learned scale and shift, initialised to (1, 0).
 *
 * @param config `dim`, `eps` (default 1e-6, as BEiT; PyTorch's default is 1e-5)
 * @returns `{ init, apply }`
 */
export function layerNormLayer(config: { dim: number; eps?: number }): Layer<LayerNormParams> {
  const eps = config.eps ?? 1e-6;
  return {
    init(_k: Key): LayerNormParams {
      return { weight: ones([config.dim]), bias: zeros([config.dim]) };
    },
    apply(p: LayerNormParams, x: Tensor): Tensor {
      return layerNormOp(x, p.weight, p.bias, { eps });
    },
  };
}
