// The fused AdamW step on the CPU (see Backend.adamStep): one pass over a parameter's
// gradient, moments and values, in float64, rounded once per output.

import { allocArray, type TypedArray } from "../../dtype.ts";
import { sizeOf } from "../../shape.ts";
import type { View } from "../../tensor.ts";
import type { AdamConstants } from "../../backend.ts";
import { readView } from "./strided.ts";

/** [update | new first moment | new second moment], each of g's size. */
export function adamStep(g: View, m: View, v: View, p: View, c: AdamConstants): TypedArray {
  const n = sizeOf(g.shape);
  const out = allocArray(g.dtype, 3 * n);
  const [gs, ms, vs, ps] = [readView(g), readView(m), readView(v), readView(p)];
  for (let i = 0; i < n; i++) {
    const gi = gs[i] as number;
    const mu = c.b1 * (ms[i] as number) + (1 - c.b1) * gi;
    const nu = c.b2 * (vs[i] as number) + (1 - c.b2) * gi * gi;
    const step = mu / c.c1 / (Math.sqrt(nu / c.c2) + c.eps) + c.weightDecay * (ps[i] as number);
    out[i] = -c.learningRate * step;
    out[n + i] = mu;
    out[2 * n + i] = nu;
  }
  return out;
}
