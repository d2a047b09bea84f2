// Softmax and log-softmax: composites of reductions and elementwise ops, so their
// gradients come from the ops they are made of.

import { div, sub } from "./binary.ts";
import { logSumExp, max, sum } from "./reduce.ts";
import { stopGradient } from "./stop_gradient.ts";
import { normalizeAxis } from "./shape.ts";
import type { Tensor } from "./tensor.ts";
import { exp } from "./unary.ts";

/**
 * Softmax along an axis: e^(x − m) / Σ e^(x − m), with m the row maximum (a constant
 * shift for stability; softmax is invariant to it).
 *
 * @param x the logits
 * @param options `axis` (default −1)
 * @returns probabilities summing to 1 along `axis`
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { softmax, tensor, toArray } from "@tessella/tessella";
 * const p = await toArray(softmax(tensor([0, Math.log(3)])));
 * assert.ok(Math.abs(p[0] - 0.25) < 1e-7 && Math.abs(p[1] - 0.75) < 1e-7);
 * ```
 */
export function softmax(x: Tensor, options: { axis?: number } = {}): Tensor {
  const axis = options.axis ?? -1;
  if (x.shape[normalizeAxis(axis, x.rank, "softmax")] === 0) return x; // nothing to normalise
  const shift = stopGradient(max(x, { axis, keepDims: true }));
  const e = exp(sub(x, shift));
  return div(e, sum(e, { axis, keepDims: true }));
}

/**
 * Log-softmax along an axis: x − logSumExp(x), stable for large logits.
 *
 * @param x the logits
 * @param options `axis` (default −1)
 * @returns log-probabilities
 */
export function logSoftmax(x: Tensor, options: { axis?: number } = {}): Tensor {
  const axis = options.axis ?? -1;
  if (x.shape[normalizeAxis(axis, x.rank, "logSoftmax")] === 0) return x;
  return sub(x, logSumExp(x, { axis, keepDims: true }));
}
