/**
 * Reverse-mode automatic differentiation with a JAX-like functional API: transform a
 * function into one that also returns its gradient. Gradients are returned, never
 * stored on tensors.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { valueAndGrad } from "@tessella/tessella/autograd";
 * import { mean, square, sub, tensor, toArray, type Tensor } from "@tessella/tessella/tensor";
 * const loss = (w: Tensor, x: Tensor) => mean(square(sub(w, x)));
 * const { grads } = valueAndGrad(loss)(tensor([1, 2]), tensor([0, 0]));
 * assert.deepEqual(await toArray(grads), new Float32Array([1, 2])); // 2(w − x)/n
 * ```
 *
 * @module
 */

export { backward, Tape, type TapeNode, withoutRecording, withTape } from "./tape.ts";
export { grad, type ValueAndGrad, valueAndGrad, vjp, type VjpResult } from "./value_and_grad.ts";
export { customVjp } from "./custom_vjp.ts";
export { checkGrad, type CheckGradOptions, type CheckGradResult } from "./check_grad.ts";
export { stopGradient } from "../tensor/mod.ts";
