// Fused row kernels on the CPU: layer normalisation and softmax over the last axis, and
// their gradients with respect to their inputs, row by row, accumulating in float64.
// Legend: R rows · D normalised (last) axis

import { allocArray, type TypedArray } from "../../dtype.ts";
import { sizeOf } from "../../shape.ts";
import type { View } from "../../tensor.ts";
import { arrayOf, isDense, readView } from "./strided.ts";

/** A view's elements in row-major order: its own storage where dense, else a copy. */
function rowMajor(x: View): { data: TypedArray; offset: number } {
  return isDense(x) ? { data: arrayOf(x), offset: x.offset } : { data: readView(x), offset: 0 };
}

/** Mean and 1/√(var + eps) of row `r` (biased variance, two passes). */
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
  const d = x.shape[x.shape.length - 1];
  const n = sizeOf(x.shape);
  const out = allocArray(x.dtype, n);
  if (d === 0) return out;
  const { data, offset } = rowMajor(x);
  const w = weight === null ? null : readView(weight); // [D]
  const b = bias === null ? null : readView(bias); // [D]
  for (let base = 0; base < n; base += d) {
    const [mean, rstd] = rowStats(data, offset + base, d, eps);
    for (let j = 0; j < d; j++) {
      let y = ((data[offset + base + j] as number) - mean) * rstd;
      if (w !== null) y *= w[j] as number;
      if (b !== null) y += b[j] as number;
      out[base + j] = y;
    }
  }
  return out;
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
  const d = x.shape[x.shape.length - 1];
  const n = sizeOf(x.shape);
  const out = allocArray(x.dtype, n);
  if (d === 0) return out;
  const { data, offset } = rowMajor(x);
  const gs = rowMajor(g);
  const w = weight === null ? null : readView(weight);
  const h = new Float64Array(d);
  for (let base = 0; base < n; base += d) {
    const [mean, rstd] = rowStats(data, offset + base, d, eps);
    let sumH = 0;
    let sumHX = 0;
    for (let j = 0; j < d; j++) {
      h[j] = (gs.data[gs.offset + base + j] as number) * (w === null ? 1 : w[j] as number);
      sumH += h[j];
      sumHX += h[j] * ((data[offset + base + j] as number) - mean) * rstd;
    }
    for (let j = 0; j < d; j++) {
      const xhat = ((data[offset + base + j] as number) - mean) * rstd;
      out[base + j] = rstd * (h[j] - sumH / d - xhat * (sumHX / d));
    }
  }
  return out;
}

/** y = e^(x − max) / Σ e^(x − max) for each row of x `[..., D]` (NaN rows stay NaN). */
export function softmax(x: View): TypedArray {
  const d = x.shape[x.shape.length - 1];
  const n = sizeOf(x.shape);
  const out = allocArray(x.dtype, n);
  if (d === 0) return out;
  const { data, offset } = rowMajor(x);
  const e = new Float64Array(d);
  for (let base = 0; base < n; base += d) {
    let m = -Infinity;
    for (let j = 0; j < d; j++) {
      const v = data[offset + base + j] as number;
      if (Number.isNaN(v) || v > m) m = v; // a NaN stays: the row is NaN anyway
    }
    let s = 0;
    for (let j = 0; j < d; j++) s += e[j] = Math.exp((data[offset + base + j] as number) - m);
    for (let j = 0; j < d; j++) out[base + j] = e[j] / s;
  }
  return out;
}

/** dL/dx of softmax from its output y and g = dL/dy: dx = y · (g − Σ g·y) per row. */
export function softmaxGrad(y: View, g: View): TypedArray {
  const d = y.shape[y.shape.length - 1];
  const n = sizeOf(y.shape);
  const out = allocArray(y.dtype, n);
  if (d === 0) return out;
  const ys = rowMajor(y);
  const gs = rowMajor(g);
  for (let base = 0; base < n; base += d) {
    let gy = 0;
    for (let j = 0; j < d; j++) {
      gy += (gs.data[gs.offset + base + j] as number) * (ys.data[ys.offset + base + j] as number);
    }
    for (let j = 0; j < d; j++) {
      const yj = ys.data[ys.offset + base + j] as number;
      out[base + j] = yj * ((gs.data[gs.offset + base + j] as number) - gy);
    }
  }
  return out;
}
