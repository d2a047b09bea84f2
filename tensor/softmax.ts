// Softmax (a fused kernel on each backend, over the last axis) and log-softmax (a
// composite of reductions and elementwise ops).

import { fromKernel } from "./_core.ts";
import { div, mul, sub } from "./binary.ts";
import { isFloatDType } from "./dtype.ts";
import { isRecording, record } from "./recorder.ts";
import { permute } from "./movement.ts";
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
  const axis = normalizeAxis(options.axis ?? -1, x.rank, "softmax");
  if (x.shape[axis] === 0) return x; // nothing to normalise
  if (!isFloatDType(x.dtype)) return softmaxOps(x, axis);
  if (axis !== x.rank - 1) {
    // Over the last axis of a permuted view, then back.
    const order = [...x.shape.keys()].filter((a) => a !== axis).concat(axis);
    const back = order.map((_, i) => order.indexOf(i));
    return permute(softmax(permute(x, order)), back);
  }
  // One kernel; the VJP dx = y·(g − Σ g·y) is another (ops while recording gradients of
  // gradients, as the kernels have no derivatives).
  const backend = x.storage.backend;
  const y = fromKernel(backend, backend.softmax(x), x.shape, x.dtype);
  return record("softmax", [x], y, (g) => {
    if (!isRecording()) return [fromKernel(backend, backend.softmaxGrad(y, g), x.shape, x.dtype)];
    return [mul(y, sub(g, sum(mul(g, y), { axis: -1, keepDims: true })))];
  });
}

/** Softmax composed from ops (integer inputs are cast to float32 by exp). */
function softmaxOps(x: Tensor, axis: number): Tensor {
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
