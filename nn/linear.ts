// Linear layer: y = x·Wᵀ + b, with PyTorch's weight layout [out, in].
// Legend: … leading axes · I input features · O output features

import { type Key, linear as linearOp, splitKey, type Tensor } from "../tensor/mod.ts";
import { type InitStyle, linearBiasInit, linearWeightInit } from "./init.ts";
import type { Layer } from "./layer.ts";

/** Parameters of a linear layer (`bias` absent when disabled). */
export interface LinearParams {
  /** Weight [O, I] (PyTorch's layout). */
  weight: Tensor;
  /** Bias [O]. */
  bias?: Tensor;
  /** Any other official key. */
  [key: string]: Tensor | undefined;
}

/** y = x·Wᵀ + b as a plain function (W: [O, I], b: [O] or null). */
export function linearForward(x: Tensor, weight: Tensor, bias: Tensor | null | undefined): Tensor {
  return linearOp(x, weight, bias ?? null); // x·Wᵀ + b in one kernel; Wᵀ is a free view
}

/**
 * A fully connected layer.
 *
 * @param config `inFeatures`, `outFeatures`, `bias` (default true), `init` style
 * @returns `{ init, apply }`; params `{ weight [O, I], bias [O] }`
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { key } from "@tessella/tessella";
 * import { linearLayer } from "@tessella/tessella/nn";
 * import { zeros } from "@tessella/tessella";
 * const fc = linearLayer({ inFeatures: 4, outFeatures: 2 });
 * const p = fc.init(key(0));
 * assert.deepEqual(fc.apply(p, zeros([3, 4])).shape, [3, 2]);
 * ```
 */
export function linearLayer(
  config: { inFeatures: number; outFeatures: number; bias?: boolean; init?: InitStyle },
): Layer<LinearParams> {
  const { inFeatures, outFeatures } = config;
  const style = config.init ?? "finetune";
  return {
    init(k: Key): LinearParams {
      const [kw, kb] = splitKey(k);
      const params: LinearParams = { weight: linearWeightInit(kw, outFeatures, inFeatures, style) };
      if (config.bias ?? true) params.bias = linearBiasInit(kb, outFeatures, inFeatures, style);
      return params;
    },
    apply(p: LinearParams, x: Tensor): Tensor {
      if (x.shape[x.rank - 1] !== inFeatures) {
        throw new Error(
          `Cannot apply linear layer: expected ${inFeatures} input features, got shape [${x.shape}]`,
        );
      }
      return linearForward(x, p.weight, p.bias);
    },
  };
}
