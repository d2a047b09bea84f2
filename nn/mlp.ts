// The transformer MLP: Linear D→H, exact GELU, Linear H→D, dropout after the second
// Linear (the official `Mlp`). Keys fc1, fc2 as in the official checkpoints.
// Legend: D width · H hidden width

import { gelu, type Key, splitKey, type Tensor } from "../tensor/mod.ts";
import { dropout as dropoutOp } from "../tensor/mod.ts";
import type { InitStyle } from "./init.ts";
import type { Layer } from "./layer.ts";
import { linearLayer, type LinearParams } from "./linear.ts";
import type { TrainOptions } from "./dropout.ts";

/** Parameters of an MLP. */
export interface MlpParams {
  /** First projection D → H. */
  fc1: LinearParams;
  /** Second projection H → D. */
  fc2: LinearParams;
  /** Any other official key. */
  [key: string]: LinearParams;
}

/**
 * Two-layer MLP with exact GELU.
 *
 * @param config `dim`, `hidden`, `dropRate` (after fc2), `init` style
 * @returns `{ init, apply }`
 */
export function mlp(
  config: { dim: number; hidden: number; dropRate?: number; init?: InitStyle },
): Layer<MlpParams, TrainOptions> {
  const fc1 = linearLayer({
    inFeatures: config.dim,
    outFeatures: config.hidden,
    init: config.init,
  });
  const fc2 = linearLayer({
    inFeatures: config.hidden,
    outFeatures: config.dim,
    init: config.init,
  });
  const rate = config.dropRate ?? 0;
  return {
    init(k: Key): MlpParams {
      const [k1, k2] = splitKey(k);
      return { fc1: fc1.init(k1), fc2: fc2.init(k2) };
    },
    apply(p: MlpParams, x: Tensor, options: TrainOptions = {}): Tensor {
      const h = gelu(fc1.apply(p.fc1, x)); // [..., H]
      const y = fc2.apply(p.fc2, h); // [..., D]
      if (!options.train || rate === 0) return y;
      if (options.key === undefined) {
        throw new Error("Cannot apply MLP dropout in training mode without a PRNG key");
      }
      return dropoutOp(options.key, y, { rate });
    },
  };
}
