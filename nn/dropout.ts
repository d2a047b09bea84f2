// Dropout and stochastic depth ("drop path"), both active only with { train: true }.
// Legend: B batch

import {
  bernoulli,
  cast,
  div,
  dropout as dropoutOp,
  type Key,
  mul,
  reshape,
  type Tensor,
} from "../tensor/mod.ts";
import type { Layer } from "./layer.ts";

/** Options of layers with random behaviour in training. */
export interface TrainOptions {
  /** Training mode: dropout and drop path are active (default false). */
  train?: boolean;
  /** PRNG key, required when training with a non-zero rate. */
  key?: Key;
}

function needKey(options: TrainOptions, what: string): Key {
  if (options.key === undefined) {
    throw new Error(
      `Cannot apply ${what} in training mode without a PRNG key: pass { train: true, key }`,
    );
  }
  return options.key;
}

/**
 * Element-wise dropout (inverted: survivors scaled by 1/(1 − rate)).
 *
 * @param config `rate`
 * @returns `{ init, apply }` with no parameters
 */
export function dropoutLayer(config: { rate: number }): Layer<Record<string, never>, TrainOptions> {
  return {
    init: () => ({}),
    apply(_p, x: Tensor, options: TrainOptions = {}): Tensor {
      if (!options.train || config.rate === 0) return x;
      return dropoutOp(needKey(options, "dropout"), x, { rate: config.rate });
    },
  };
}

/**
 * Stochastic depth as a function: drops whole samples of a residual branch
 * (keep probability 1 − rate, survivors scaled by 1/(1 − rate)); `x` is [B, ...].
 */
export function dropPathForward(x: Tensor, rate: number, options: TrainOptions): Tensor {
  if (!options.train || rate === 0) return x;
  const keepShape = [x.shape[0], ...x.shape.slice(1).map(() => 1)]; // [B, 1, …]
  const keep = cast(
    bernoulli(needKey(options, "drop path"), 1 - rate, keepShape, { backend: x.backend }),
    x.dtype,
  );
  return mul(div(x, 1 - rate), reshape(keep, keepShape));
}

/**
 * Stochastic depth (per-sample drop of a residual branch).
 *
 * @param config `rate`
 * @returns `{ init, apply }` with no parameters
 */
export function dropPath(config: { rate: number }): Layer<Record<string, never>, TrainOptions> {
  return {
    init: () => ({}),
    apply: (_p, x: Tensor, options: TrainOptions = {}): Tensor =>
      dropPathForward(x, config.rate, options),
  };
}
