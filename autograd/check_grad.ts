// checkGrad: compares autograd's gradient with central finite differences.
//
//   ∂f/∂x_j ≈ (f(x + h·e_j) − f(x − h·e_j)) / 2h       (error O(h²) + O(ε·|f|/h))
//
// Run it in float64 on the CPU backend: with h = 1e-6 the truncation and rounding errors
// are both around 1e-10, far below the 1e-6 relative tolerance the op tests use.

import { type Tensor, tensor, toArraySync } from "../tensor/mod.ts";
import { valueAndGrad } from "./value_and_grad.ts";

/** Options of checkGrad. */
export interface CheckGradOptions {
  /** Finite-difference step h (default 1e-6). */
  eps?: number;
  /** Absolute tolerance (default 1e-8). */
  atol?: number;
  /** Relative tolerance, against the numerical gradient (default 1e-6). */
  rtol?: number;
}

/** The outcome of checkGrad. */
export interface CheckGradResult {
  /** Whether every element satisfied |analytic − numeric| ≤ atol + rtol·|numeric|. */
  ok: boolean;
  /** Autograd's gradient, per input. */
  analytic: Float64Array[];
  /** The finite-difference gradient, per input. */
  numeric: Float64Array[];
  /** The worst element: largest error relative to its tolerance (null if no elements). */
  worst: { input: number; index: number; analytic: number; numeric: number } | null;
}

function evaluate(f: (...xs: Tensor[]) => Tensor, inputs: Tensor[]): number {
  const out = f(...inputs);
  if (out.size !== 1) {
    throw new Error(`checkGrad: f must return one element (got shape [${out.shape}])`);
  }
  return toArraySync(out)[0];
}

/**
 * Checks the gradient of `f(...inputs) → 0-d tensor` against central differences.
 * Inputs must live on a backend with synchronous reads (the CPU); use float64.
 *
 * @param f the function
 * @param inputs float tensors to differentiate with respect to
 * @param options `eps`, `atol`, `rtol`
 * @returns both gradients and the verdict
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkGrad, tanh, sum, tensor } from "@tessella/tessella";
 * const x = tensor([0.3, -1.2], { dtype: "float64" });
 * assert.ok(checkGrad((x) => sum(tanh(x)), [x]).ok);
 * ```
 */
export function checkGrad(
  f: (...inputs: Tensor[]) => Tensor,
  inputs: Tensor[],
  options: CheckGradOptions = {},
): CheckGradResult {
  const h = options.eps ?? 1e-6;
  const atol = options.atol ?? 1e-8;
  const rtol = options.rtol ?? 1e-6;
  const { grads } = valueAndGrad((xs: Tensor[]) => f(...xs))(inputs);
  const analytic = grads.map((g) => Float64Array.from(toArraySync(g as Tensor)));
  const numeric = inputs.map((x, i) => {
    const base = Float64Array.from(toArraySync(x));
    const out = new Float64Array(base.length);
    for (let j = 0; j < base.length; j++) {
      const shifted = (delta: number): number => {
        const values = base.slice();
        values[j] += delta;
        const moved = tensor(values, { shape: x.shape, dtype: x.dtype, backend: x.backend });
        return evaluate(f, inputs.map((y, k) => (k === i ? moved : y)));
      };
      out[j] = (shifted(h) - shifted(-h)) / (2 * h);
    }
    return out;
  });
  let ok = true;
  let worst: CheckGradResult["worst"] = null;
  let worstRatio = -1;
  analytic.forEach((a, i) => {
    a.forEach((value, j) => {
      const n = numeric[i][j];
      const error = Math.abs(value - n) / (atol + rtol * Math.abs(n));
      const ratio = Number.isNaN(error) ? Infinity : error;
      if (!(ratio <= 1)) ok = false;
      if (ratio > worstRatio) {
        worstRatio = ratio;
        worst = { input: i, index: j, analytic: value, numeric: n };
      }
    });
  });
  return { ok, analytic, numeric, worst };
}
