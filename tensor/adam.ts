// One fused AdamW step for one parameter: the optimizer's arithmetic in a single kernel
// (a composition of elementwise ops takes 14 passes and as many dispatches per parameter,
// which on a GPU costs more than the arithmetic for all but the largest parameters).

import type { AdamConstants } from "./backend.ts";
import { checkSameBackend } from "./_core.ts";
import { isFloatDType } from "./dtype.ts";
import { contiguousStrides, fmtShape, shapesEqual } from "./shape.ts";
import { Storage, Tensor } from "./tensor.ts";

export type { AdamConstants };

/**
 * One AdamW step, as optax's `adamw` computes it, for a parameter `p` with gradient `g`
 * and moment estimates `m`, `v`: m' = b1·m + (1 − b1)·g, v' = b2·v + (1 − b2)·g², and the
 * update −lr·((m'/c1) / (√(v'/c2) + eps) + wd·p), with c1 = 1 − b1^t, c2 = 1 − b2^t.
 * Not differentiable (an optimizer step).
 *
 * @param g the gradient
 * @param m the first moment (g's shape)
 * @param v the second moment (g's shape)
 * @param p the parameter (g's shape)
 * @param constants see AdamConstants
 * @returns the update (to add to p) and the new moments; the three share one buffer,
 *   which is freed when all three are disposed
 */
export function adamStep(
  g: Tensor,
  m: Tensor,
  v: Tensor,
  p: Tensor,
  constants: AdamConstants,
): { update: Tensor; mu: Tensor; nu: Tensor } {
  const backend = checkSameBackend("adamStep", [g, m, v, p]);
  if (!isFloatDType(g.dtype)) {
    throw new TypeError(`Cannot adamStep: ${g.dtype} is not a float dtype`);
  }
  for (const t of [m, v, p]) {
    if (!shapesEqual(t.shape, g.shape) || t.dtype !== g.dtype) {
      throw new Error(
        `Cannot adamStep: moments and parameter must match the gradient ` +
          `(${fmtShape(g.shape)} ${g.dtype}; got ${fmtShape(t.shape)} ${t.dtype})`,
      );
    }
  }
  const n = g.size;
  const storage = new Storage(backend, backend.adamStep(g, m, v, p, constants), g.dtype, 3 * n);
  const strides = contiguousStrides(g.shape);
  const part = (i: number) => new Tensor(storage, g.shape, g.dtype, strides, i * n);
  return { update: part(0), mu: part(1), nu: part(2) };
}
