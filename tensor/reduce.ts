// Reductions: sum, max, min (primitives), argmax/argmin, and the composites mean,
// variance, std, norm and logSumExp.
//
// Options follow NumPy: `axis` (a number, a list, or absent for all axes; negative
// counts from the end) and `keepDims` (keep reduced axes as size 1).

import type { ReduceOp } from "./backend.ts";
import { fromKernel, viewOf } from "./_core.ts";
import { type DType, isFloatDType } from "./dtype.ts";
import { record } from "./recorder.ts";
import { fmtShape, normalizeAxes, normalizeAxis, sizeOf } from "./shape.ts";
import type { Tensor } from "./tensor.ts";
import { add, div, equal, mul, pow, sub, where } from "./binary.ts";
import { expand, reshape } from "./movement.ts";
import { abs, cast, exp, isFinite, log, sqrt, square } from "./unary.ts";
import { stopGradient } from "./stop_gradient.ts";

/** Options of a reduction. */
export interface ReduceOptions {
  /** Axis or axes to reduce; all axes when absent. */
  axis?: number | readonly number[];
  /** Keep reduced axes as size-1 axes (default false). */
  keepDims?: boolean;
}

/** Runs a reduction kernel over `axes` of `x`; returns the result with kept dims. */
function reduceKernel(op: ReduceOp, x: Tensor, axes: readonly number[], outDtype: DType): Tensor {
  // Move the reduced axes to the end (a free view) so the kernel folds trailing axes.
  const kept = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const order = [...kept, ...axes];
  const moved = viewOf(x, order.map((a) => x.shape[a]), order.map((a) => x.strides[a]));
  const backend = x.storage.backend;
  const keptShape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  return fromKernel(backend, backend.reduce(op, moved, axes.length, outDtype), keptShape, outDtype);
}

/** Drops the size-1 reduced axes unless `keepDims`. */
function finish(out: Tensor, x: Tensor, axes: readonly number[], keepDims: boolean): Tensor {
  return keepDims ? out : reshape(out, x.shape.filter((_, i) => !axes.includes(i)));
}

/**
 * Sum of elements over the given axes (bool and int32 sum to int32).
 *
 * @param x the tensor
 * @param options `axis`, `keepDims`
 * @returns the sums
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sum, tensor, toArray } from "@tessella/tessella";
 * const x = tensor([[1, 2, 3], [4, 5, 6]]);
 * assert.deepEqual(await toArray(sum(x, { axis: 1 })), new Float32Array([6, 15]));
 * assert.deepEqual(sum(x).shape, []);
 * ```
 */
export function sum(x: Tensor, options: ReduceOptions = {}): Tensor {
  const axes = normalizeAxes(options.axis, x.rank, "sum");
  const outDtype = isFloatDType(x.dtype) ? x.dtype : "int32";
  const kept = reduceKernel("sum", x, axes, outDtype);
  // d/dx_i Σx = 1: broadcast the cotangent back over the reduced axes.
  const out = record("sum", [x], kept, (g) => [expand(g, x.shape)]);
  return finish(out, x, axes, options.keepDims ?? false);
}

function extremum(op: "max" | "min", x: Tensor, options: ReduceOptions): Tensor {
  const axes = normalizeAxes(options.axis, x.rank, op);
  if (axes.some((a) => x.shape[a] === 0)) {
    throw new Error(`Cannot ${op} over an empty axis of a tensor of shape ${fmtShape(x.shape)}`);
  }
  const kept = reduceKernel(op, x, axes, x.dtype);
  // The gradient goes to the elements equal to the extremum, split evenly among ties.
  const out = record(op, [x], kept, (g) => {
    const hit = cast(equal(x, kept), g.dtype);
    const count = sum(hit, { axis: axes, keepDims: true });
    return [mul(hit, div(g, count))];
  });
  return finish(out, x, axes, options.keepDims ?? false);
}

/** Largest element over the given axes (NaN propagates). */
export function max(x: Tensor, options: ReduceOptions = {}): Tensor {
  return extremum("max", x, options);
}

/** Smallest element over the given axes (NaN propagates). */
export function min(x: Tensor, options: ReduceOptions = {}): Tensor {
  return extremum("min", x, options);
}

function argExtremum(op: "argmax" | "argmin", x: Tensor, options: ArgOptions): Tensor {
  const src = options.axis === undefined ? reshape(x, [x.size]) : x;
  const axis = normalizeAxis(options.axis ?? 0, src.rank, op);
  if (src.shape[axis] === 0) {
    throw new Error(`Cannot ${op} over an empty axis of a tensor of shape ${fmtShape(x.shape)}`);
  }
  const kept = reduceKernel(op, src, [axis], "int32");
  if (options.axis === undefined) {
    return options.keepDims ? reshape(kept, x.shape.map(() => 1)) : reshape(kept, []);
  }
  return finish(kept, src, [axis], options.keepDims ?? false);
}

/** Options of argmax/argmin: one axis (or the flattened tensor). */
export interface ArgOptions {
  /** The axis to search; the flattened tensor when absent. */
  axis?: number;
  /** Keep the searched axis as size 1. */
  keepDims?: boolean;
}

/**
 * Index of the largest element along an axis (the first one on ties), as int32.
 *
 * @param x the tensor
 * @param options `axis` (flattened when absent), `keepDims`
 * @returns the indices
 */
export function argmax(x: Tensor, options: ArgOptions = {}): Tensor {
  return argExtremum("argmax", x, options);
}

/** Index of the smallest element along an axis (the first one on ties), as int32. */
export function argmin(x: Tensor, options: ArgOptions = {}): Tensor {
  return argExtremum("argmin", x, options);
}

/** Number of elements a reduction over `options.axis` folds together. */
function reducedCount(x: Tensor, options: ReduceOptions, op: string): number {
  return sizeOf(normalizeAxes(options.axis, x.rank, op).map((a) => x.shape[a]));
}

/** Promotes integer input of a mean-like reduction to float32. */
function asFloat(x: Tensor): Tensor {
  return isFloatDType(x.dtype) ? x : cast(x, "float32");
}

/**
 * Arithmetic mean over the given axes (integer input gives float32).
 *
 * @param x the tensor
 * @param options `axis`, `keepDims`
 * @returns the means
 */
export function mean(x: Tensor, options: ReduceOptions = {}): Tensor {
  return div(sum(asFloat(x), options), reducedCount(x, options, "mean"));
}

/** Options of variance and std. */
export interface VarianceOptions extends ReduceOptions {
  /** Delta degrees of freedom: divide by n − ddof (default 0, NumPy; PyTorch's default is 1). */
  ddof?: number;
}

/**
 * Variance over the given axes: the sum of squared deviations divided by max(n − ddof, 0).
 * With n ≤ ddof (one element and ddof 1, or an empty axis) that is 0 / 0 = NaN, as in
 * NumPy and PyTorch; NaN or ±∞ in a row give NaN.
 *
 * @param x the tensor
 * @param options `axis`, `keepDims`, `ddof`
 * @returns the variances
 */
export function variance(x: Tensor, options: VarianceOptions = {}): Tensor {
  const xf = asFloat(x);
  const centred = sub(xf, mean(xf, { axis: options.axis, keepDims: true }));
  const n = reducedCount(x, options, "variance");
  return div(sum(square(centred), options), Math.max(n - (options.ddof ?? 0), 0));
}

/**
 * √s with derivative 0 where s = 0 (instead of ∞·0 = NaN), as PyTorch's norm: the
 * "double where" keeps the untaken branch's gradient finite. Only exact zeros take the
 * branch, so NaN stays NaN.
 */
function safeSqrt(s: Tensor): Tensor {
  const zero = equal(s, 0);
  return where(zero, 0, sqrt(where(zero, 1, s)));
}

/** Standard deviation: √variance (same options); its gradient is 0 where it is 0. */
export function std(x: Tensor, options: VarianceOptions = {}): Tensor {
  return safeSqrt(variance(x, options));
}

/** Options of norm. */
export interface NormOptions extends ReduceOptions {
  /** 1, 2 (default: Euclidean / Frobenius) or Infinity. */
  ord?: number;
}

/**
 * Vector norm over the given axes: 2 (default), 1, any p > 0, or Infinity (max of |x|).
 * The 2-norm's gradient at the zero vector is 0, as in PyTorch.
 *
 * @param x the tensor
 * @param options `ord`, `axis`, `keepDims`
 * @returns the norms
 */
export function norm(x: Tensor, options: NormOptions = {}): Tensor {
  const ord = options.ord ?? 2;
  const reduce = { axis: options.axis, keepDims: options.keepDims };
  if (ord === 2) return safeSqrt(sum(square(asFloat(x)), reduce)); // gradient 0 at x = 0
  if (ord === 1) return sum(abs(asFloat(x)), reduce);
  if (ord === Infinity) return max(abs(asFloat(x)), reduce);
  if (Number.isFinite(ord) && ord > 0) {
    return pow(sum(pow(abs(asFloat(x)), ord), reduce), 1 / ord);
  }
  throw new Error(`Cannot norm: ord must be a positive number or Infinity (got ${ord})`);
}

/**
 * log Σ e^x over the given axes, computed stably as m + log Σ e^(x − m) with m the
 * (constant) maximum; rows that are all −∞ give −∞.
 *
 * @param x the tensor
 * @param options `axis`, `keepDims`
 * @returns the results
 */
export function logSumExp(x: Tensor, options: ReduceOptions = {}): Tensor {
  const axes = normalizeAxes(options.axis, x.rank, "logSumExp");
  const xf = asFloat(x);
  if (axes.some((a) => x.shape[a] === 0)) {
    return log(sum(exp(xf), { axis: axes, keepDims: options.keepDims })); // log 0 = −∞
  }
  // The shift m only guards against overflow; it cancels mathematically, so no gradient.
  const m = stopGradient(max(xf, { axis: axes, keepDims: true }));
  const shift = where(isFinite(m), m, 0);
  const out = add(log(sum(exp(sub(xf, shift)), { axis: axes, keepDims: true })), shift);
  return finish(out, x, axes, options.keepDims ?? false);
}
