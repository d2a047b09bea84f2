// stopGradient: the identity function whose derivative is zero.

import { viewOf } from "./_core.ts";
import type { Tensor } from "./tensor.ts";

/**
 * Returns a tensor with the same values as `x` that autograd treats as a constant: no
 * gradient flows back through it. Used for frozen targets and straight-through
 * estimators (`add(z, stopGradient(sub(zq, z)))`).
 *
 * It is a new view of the same storage (no copy) that is simply never recorded on a
 * tape, so nothing downstream can reach `x` through it.
 *
 * @param x the tensor
 * @returns a constant view of `x`
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { grad, mul, stopGradient, tensor, toArray } from "@tessella/tessella";
 * // d/dx [x · sg(x)] = sg(x) = 3, not 2x = 6
 * const g = grad((x) => mul(x, stopGradient(x)))(tensor(3));
 * assert.deepEqual(await toArray(g), new Float32Array([3]));
 * ```
 */
export function stopGradient(x: Tensor): Tensor {
  return viewOf(x, x.shape, x.strides, x.offset);
}
