// customVjp: a function with a hand-written derivative.
//
// Use it for estimators whose "gradient" is not the derivative of the forward pass
// (straight-through quantisation) and for fused, numerically stable ops whose
// automatic derivative would be wasteful.

import { record, stopGradient, type Tensor } from "../tensor/mod.ts";
import { withoutRecording } from "./tape.ts";

/**
 * Builds a differentiable function from a forward pass and its VJP.
 *
 * `forward(...inputs)` runs without recording and returns `{ output, residuals }`;
 * `backward(g, residuals, inputs)` returns one cotangent per input (null where none).
 * The backward pass may use any differentiable ops, so it can itself be differentiated.
 *
 * @param forward computes the output and whatever the backward pass needs
 * @param backward maps the output cotangent to input cotangents
 * @returns the differentiable function
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { customVjp, grad, round, tensor, toArray } from "@tessella/tessella";
 * // Straight-through rounding: round forward, identity backward.
 * const roundST = customVjp(
 *   (x) => ({ output: round(x), residuals: null }),
 *   (g) => [g],
 * );
 * assert.deepEqual(await toArray(grad(roundST)(tensor(1.3))), new Float32Array([1]));
 * ```
 */
export function customVjp<R>(
  forward: (...inputs: Tensor[]) => { output: Tensor; residuals: R },
  backward: (g: Tensor, residuals: R, inputs: readonly Tensor[]) => readonly (Tensor | null)[],
): (...inputs: Tensor[]) => Tensor {
  return (...inputs: Tensor[]): Tensor => {
    const { output, residuals } = withoutRecording(() => forward(...inputs));
    // A fresh tensor object, so the tape sees a new output even if forward returned an input.
    const out = stopGradient(output);
    return record("customVjp", inputs, out, (g) => {
      const grads = backward(g, residuals, inputs);
      if (grads.length !== inputs.length) {
        throw new Error(
          `customVjp: backward returned ${grads.length} cotangents for ${inputs.length} inputs`,
        );
      }
      return grads;
    });
  };
}
