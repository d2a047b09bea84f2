// Fused row kernels on the CPU: layer normalisation and softmax over the last axis, and
// their gradients with respect to their inputs, row by row, accumulating in float64.
// Legend: R rows · D normalised (last) axis

import { allocArray, type TypedArray } from "../../dtype.ts";
import { sizeOf } from "../../shape.ts";
import type { View } from "../../tensor.ts";
import { arrayOf, isDense, readView } from "./strided.ts";

/** A view's elements in row-major order, indexed from 0: its own storage where dense, else a copy. */
function rowMajor(x: View): TypedArray {
  return isDense(x) ? arrayOf(x).subarray(x.offset, x.offset + sizeOf(x.shape)) : readView(x);
}

/** A new array of x's dtype and size, filled by `row(base, d, out)` for each row of D. */
function byRow(x: View, row: (base: number, d: number, out: TypedArray) => void): TypedArray {
  const d = x.shape[x.shape.length - 1];
  const n = sizeOf(x.shape);
  const out = allocArray(x.dtype, n);
  if (d > 0) { for (let base = 0; base < n; base += d) row(base, d, out); }
  return out;
}

/** Mean and 1/√(var + eps) of the row at `base` (biased variance, two passes). */
function rowStats(data: TypedArray, base: number, d: number, eps: number): [number, number] {
  let sum = 0;
  for (let j = 0; j < d; j++) sum += data[base + j] as number;
  const mean = sum / d;
  let squares = 0;
  for (let j = 0; j < d; j++) {
    const c = (data[base + j] as number) - mean;
    squares += c * c;
  }
  return [mean, 1 / Math.sqrt(squares / d + eps)];
}

/** y = (x − mean) · rstd · weight + bias for each row of x `[..., D]`. */
export function layerNorm(
  x: View,
  weight: View | null,
  bias: View | null,
  eps: number,
): TypedArray {
  const xs = rowMajor(x);
  const w = weight === null ? null : readView(weight); // [D]
  const b = bias === null ? null : readView(bias); // [D]
  return byRow(x, (base, d, out) => {
    const [mean, rstd] = rowStats(xs, base, d, eps);
    for (let j = 0; j < d; j++) {
      let y = ((xs[base + j] as number) - mean) * rstd;
      if (w !== null) y *= w[j] as number;
      if (b !== null) y += b[j] as number;
      out[base + j] = y;
    }
  });
}

/**
 * dL/dx of layerNorm given dL/dy = g (x's shape): with x̂ = (x − mean)·rstd and
 * h = g·weight, dx = rstd · (h − mean(h) − x̂ · mean(h · x̂)) per row.
 */
export function layerNormGrad(
  x: View,
  weight: View | null,
  g: View,
  eps: number,
): TypedArray {
  const [xs, gs] = [rowMajor(x), rowMajor(g)];
  const w = weight === null ? null : readView(weight);
  return byRow(x, (base, d, out) => {
    const [mean, rstd] = rowStats(xs, base, d, eps);
    let sumH = 0;
    let sumHX = 0;
    for (let j = 0; j < d; j++) {
      const h = (gs[base + j] as number) * (w === null ? 1 : w[j] as number);
      sumH += h;
      sumHX += h * ((xs[base + j] as number) - mean) * rstd;
    }
    for (let j = 0; j < d; j++) {
      const h = (gs[base + j] as number) * (w === null ? 1 : w[j] as number);
      const xhat = ((xs[base + j] as number) - mean) * rstd;
      out[base + j] = rstd * (h - sumH / d - xhat * (sumHX / d));
    }
  });
}

/** y = e^(x − max) / Σ e^(x − max) for each row of x `[..., D]` (NaN rows stay NaN). */
export function softmax(x: View): TypedArray {
  const xs = rowMajor(x);
  const e = new Float64Array(x.shape[x.shape.length - 1]); // one row's exponentials
  return byRow(x, (base, d, out) => {
    let m = -Infinity;
    for (let j = 0; j < d; j++) {
      const v = xs[base + j] as number;
      if (Number.isNaN(v) || v > m) m = v; // a NaN stays: the row is NaN anyway
    }
    let s = 0;
    for (let j = 0; j < d; j++) s += e[j] = Math.exp((xs[base + j] as number) - m);
    for (let j = 0; j < d; j++) out[base + j] = e[j] / s;
  });
}

/** dL/dx of softmax from its output y and g = dL/dy: dx = y · (g − Σ g·y) per row. */
export function softmaxGrad(y: View, g: View): TypedArray {
  const [ys, gs] = [rowMajor(y), rowMajor(g)];
  return byRow(y, (base, d, out) => {
    let gy = 0;
    for (let j = 0; j < d; j++) gy += (gs[base + j] as number) * (ys[base + j] as number);
    for (let j = 0; j < d; j++) {
      out[base + j] = (ys[base + j] as number) * ((gs[base + j] as number) - gy);
    }
  });
}
