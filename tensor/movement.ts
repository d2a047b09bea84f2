// Movement ops: change how elements are arranged, never their values.
//
// Primitives that are free views of the same storage (new shape/strides/offset):
//   reshape (of a contiguous tensor), permute, expand (stride 0), stridedView (slice, flip)
// Primitives that copy: contiguous, concat, unslice (the adjoint of a strided view).
// Everything else (transpose, squeeze, pad, stack, split, repeat, tile, …) is composed.

import { checkSameBackend, fromKernel, viewOf } from "./_core.ts";
import { promoteDTypes } from "./dtype.ts";
import { record } from "./recorder.ts";
import {
  checkShape,
  contiguousStrides,
  fmtShape,
  normalizeAxes,
  normalizeAxis,
  reshapeStrides,
  type Shape,
  shapesEqual,
  sizeOf,
} from "./shape.ts";
import type { Tensor } from "./tensor.ts";
import { where } from "./binary.ts";
import { full } from "./create.ts";
import { sum } from "./reduce.ts";
import { cast } from "./unary.ts";

/**
 * A contiguous row-major copy of `x` (or `x` itself when it already is one).
 *
 * @param x the tensor
 * @returns a tensor with the same values whose storage is laid out in row-major order
 */
export function contiguous(x: Tensor): Tensor {
  if (x.isContiguous) return x;
  const backend = x.storage.backend;
  const out = fromKernel(backend, backend.unary("copy", x, x.dtype), x.shape, x.dtype);
  return record("contiguous", [x], out, (g) => [g]);
}

/**
 * Gives `x` a new shape with the same number of elements (row-major order); one entry
 * may be −1 and is inferred. A view where the elements' layout allows one (always when
 * `x` is contiguous; also e.g. dropping or adding axes of size 1 of a strided view), else
 * a copy.
 *
 * @param x the tensor
 * @param shape the new shape
 * @returns the reshaped tensor
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { arange, reshape } from "@tessella/tessella";
 * assert.deepEqual(reshape(arange(6), [2, -1]).shape, [2, 3]);
 * ```
 */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const target = resolveShape(x, shape);
  if (shapesEqual(target, x.shape)) return x;
  const strides = reshapeStrides(x.shape, x.strides, target);
  if (strides !== null) {
    return record("reshape", [x], viewOf(x, target, strides), (g) => [reshape(g, x.shape)]);
  }
  const src = contiguous(x);
  const out = viewOf(src, target, contiguousStrides(target));
  return record("reshape", [src], out, (g) => [reshape(g, x.shape)]);
}

function resolveShape(x: Tensor, shape: readonly number[]): number[] {
  const inferred = shape.filter((d) => d === -1).length;
  if (inferred > 1) {
    throw new Error(`Cannot reshape: only one axis may be -1 (got ${fmtShape(shape)})`);
  }
  const known = shape.filter((d) => d !== -1);
  checkShape(known, "reshape");
  const knownSize = sizeOf(known);
  const target = shape.map((d) => {
    if (d !== -1) return d;
    if (knownSize === 0 || x.size % knownSize !== 0) {
      throw new Error(
        `Cannot reshape tensor of shape ${fmtShape(x.shape)} into ${fmtShape(shape)}: ` +
          `${x.size} elements do not divide evenly`,
      );
    }
    return x.size / knownSize;
  });
  if (sizeOf(target) !== x.size) {
    throw new Error(
      `Cannot reshape tensor of shape ${fmtShape(x.shape)} into ${fmtShape(shape)}: ` +
        `sizes differ (${x.size} vs ${sizeOf(target)})`,
    );
  }
  return target;
}

/**
 * Reorders axes: axis i of the result is axis `axes[i]` of `x` (a view, no copy).
 *
 * @param x the tensor
 * @param axes a permutation of `0 … rank−1` (negative entries allowed)
 * @returns the permuted view
 */
export function permute(x: Tensor, axes: readonly number[]): Tensor {
  if (axes.length !== x.rank) {
    throw new Error(
      `Cannot permute tensor of shape ${fmtShape(x.shape)}: expected ${x.rank} axes, ` +
        `got [${axes.join(", ")}]`,
    );
  }
  const perm = axes.map((a) => normalizeAxis(a, x.rank, "permute"));
  if (new Set(perm).size !== perm.length) {
    throw new Error(`Cannot permute: [${axes.join(", ")}] is not a permutation`);
  }
  if (perm.every((a, i) => a === i)) return x;
  const out = viewOf(x, perm.map((a) => x.shape[a]), perm.map((a) => x.strides[a]));
  const inverse = new Array<number>(perm.length);
  perm.forEach((a, i) => (inverse[a] = i));
  return record("permute", [x], out, (g) => [permute(g, inverse)]);
}

/**
 * Permutes axes, NumPy style: without `axes`, reverses them (the matrix transpose for
 * rank 2).
 *
 * @param x the tensor
 * @param axes optional permutation
 * @returns the transposed view
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { transpose, zeros } from "@tessella/tessella";
 * assert.deepEqual(transpose(zeros([2, 3, 4])).shape, [4, 3, 2]);
 * ```
 */
export function transpose(x: Tensor, axes?: readonly number[]): Tensor {
  return permute(x, axes ?? x.shape.map((_, i) => x.rank - 1 - i));
}

/** Swaps the last two axes (the batched matrix transpose). */
export function matrixTranspose(x: Tensor): Tensor {
  if (x.rank < 2) {
    throw new Error(`Cannot matrixTranspose tensor of shape ${fmtShape(x.shape)}: rank < 2`);
  }
  const axes = x.shape.map((_, i) => i);
  axes[x.rank - 2] = x.rank - 1;
  axes[x.rank - 1] = x.rank - 2;
  return permute(x, axes);
}

/**
 * Broadcasts `x` to `shape` (NumPy's broadcast_to): new axes appear on the left and
 * size-1 axes stretch. A stride-0 view; its gradient is summed back over those axes.
 *
 * @param x the tensor
 * @param shape the target shape
 * @returns the broadcast view
 */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  if (shapesEqual(shape, x.shape)) return x;
  checkShape(shape, "expand");
  const lead = shape.length - x.rank;
  const ok = lead >= 0 && x.shape.every((d, i) => d === shape[lead + i] || d === 1);
  if (!ok) {
    throw new Error(`Cannot expand tensor of shape ${fmtShape(x.shape)} to ${fmtShape(shape)}`);
  }
  const strides = shape.map((d, i) => {
    if (i < lead) return 0;
    return x.shape[i - lead] === d ? x.strides[i - lead] : 0;
  });
  const out = viewOf(x, shape, strides);
  return record("expand", [x], out, (g) => [sumTo(g, x.shape)]);
}

/** NumPy's name for `expand`. */
export function broadcastTo(x: Tensor, shape: readonly number[]): Tensor {
  return expand(x, shape);
}

/** Sums `g` down to `shape`: the adjoint of broadcasting to g's shape. */
export function sumTo(g: Tensor, shape: Shape): Tensor {
  if (shapesEqual(g.shape, shape)) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  return reshape(sum(g, { axis: axes, keepDims: true }), shape);
}

/**
 * The primitive behind slice and flip: along each axis d take `counts[d]` elements
 * starting at `starts[d]` in steps of `steps[d]` (which may be negative). A view.
 */
function stridedView(
  x: Tensor,
  starts: readonly number[],
  steps: readonly number[],
  counts: readonly number[],
): Tensor {
  let offset = x.offset;
  for (let d = 0; d < x.rank; d++) if (counts[d] > 0) offset += starts[d] * x.strides[d];
  const out = viewOf(x, counts, x.strides.map((s, d) => s * steps[d]), offset);
  return record("slice", [x], out, (g) => [unslice(g, x.shape, starts, steps)]);
}

/**
 * The adjoint of a strided view: zeros of `shape` with `x` written at
 * `starts[d] + i·steps[d]` along each axis.
 */
export function unslice(
  x: Tensor,
  shape: readonly number[],
  starts: readonly number[],
  steps: readonly number[],
): Tensor {
  const backend = x.storage.backend;
  const out = fromKernel(backend, backend.unslice(x, shape, starts, steps), shape, x.dtype);
  return record("unslice", [x], out, (g) => [stridedView(g, starts, steps, x.shape)]);
}

/** One axis of a slice: `null` for all of it, or `[start, stop?, step?]` (NumPy rules). */
export type SliceSpec = null | readonly [number | null, (number | null)?, (number | null)?];

/** Python's `slice.indices`: normalised start, element count and step on an axis of `n`. */
function sliceIndices(spec: SliceSpec, n: number): [number, number, number] {
  const [rawStart = null, rawStop = null, rawStep = null] = spec ?? [];
  const step = rawStep ?? 1;
  if (!Number.isInteger(step) || step === 0) {
    throw new Error(`Cannot slice: step must be a non-zero integer (got ${step})`);
  }
  const lower = step > 0 ? 0 : -1;
  const upper = step > 0 ? n : n - 1;
  const clampIndex = (v: number | null, fallback: number): number => {
    if (v === null) return fallback;
    if (!Number.isInteger(v)) throw new Error(`Cannot slice: bounds must be integers (got ${v})`);
    const w = v < 0 ? v + n : v;
    return Math.min(Math.max(w, lower), upper);
  };
  const start = clampIndex(rawStart, step > 0 ? lower : upper);
  const stop = clampIndex(rawStop, step > 0 ? upper : lower);
  const count = Math.max(0, Math.ceil((stop - start) / step));
  return [start, count, step];
}

/**
 * Takes a rectangular, possibly strided, part of `x`, with NumPy's slicing rules: one
 * entry per leading axis, `null` for a whole axis, `[start, stop?, step?]` otherwise
 * (negative bounds count from the end; negative steps walk backwards). A view.
 *
 * @param x the tensor
 * @param specs one entry per axis (missing trailing entries mean whole axes)
 * @returns the sliced view
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { arange, slice, toArray } from "@tessella/tessella";
 * const x = arange(10);
 * assert.deepEqual(await toArray(slice(x, [[1, 8, 3]])), new Int32Array([1, 4, 7]));
 * assert.deepEqual(await toArray(slice(x, [[null, null, -4]])), new Int32Array([9, 5, 1]));
 * ```
 */
export function slice(x: Tensor, specs: readonly SliceSpec[]): Tensor {
  if (specs.length > x.rank) {
    throw new Error(
      `Cannot slice tensor of shape ${fmtShape(x.shape)}: ${specs.length} specs for ${x.rank} axes`,
    );
  }
  const starts: number[] = [];
  const counts: number[] = [];
  const steps: number[] = [];
  for (let d = 0; d < x.rank; d++) {
    const [start, count, step] = sliceIndices(specs[d] ?? null, x.shape[d]);
    starts.push(start);
    counts.push(count);
    steps.push(step);
  }
  if (counts.every((c, d) => c === x.shape[d]) && steps.every((s) => s === 1)) return x;
  return stridedView(x, starts, steps, counts);
}

/**
 * Reverses the order of elements along the given axes (all axes by default). A view.
 *
 * @param x the tensor
 * @param options `axis`: one axis or a list
 * @returns the flipped view
 */
export function flip(x: Tensor, options: { axis?: number | readonly number[] } = {}): Tensor {
  const axes = normalizeAxes(options.axis, x.rank, "flip");
  const starts = x.shape.map((n, d) => (axes.includes(d) ? n - 1 : 0));
  const steps = x.shape.map((_, d) => (axes.includes(d) ? -1 : 1));
  return stridedView(x, starts, steps, x.shape);
}

/**
 * Pads each axis with `value` (0 by default): `widths[d] = [before, after]`.
 *
 * @param x the tensor
 * @param widths one `[before, after]` pair per axis
 * @param options `value`: the fill value
 * @returns the padded tensor
 */
export function pad(
  x: Tensor,
  widths: readonly (readonly [number, number])[],
  options: { value?: number } = {},
): Tensor {
  const value = options.value ?? 0;
  if (widths.length !== x.rank) {
    throw new Error(
      `Cannot pad tensor of shape ${fmtShape(x.shape)}: expected ${x.rank} [before, after] ` +
        `pairs, got ${widths.length}`,
    );
  }
  for (const [before, after] of widths) {
    if (!Number.isInteger(before) || !Number.isInteger(after) || before < 0 || after < 0) {
      throw new Error(
        `Cannot pad: widths must be non-negative integers (got [${before}, ${after}])`,
      );
    }
  }
  const shape = x.shape.map((n, d) => n + widths[d][0] + widths[d][1]);
  const starts = widths.map(([before]) => before);
  const ones = widths.map(() => 1);
  const placed = unslice(x, shape, starts, ones); // x inside, zeros around it
  if (value === 0) return placed;
  // For another fill value, mark where x landed and fill the rest.
  const inside = unslice(
    full(x.shape, 1, { dtype: "bool", backend: x.backend }),
    shape,
    starts,
    ones,
  );
  return where(inside, placed, value);
}

/**
 * Joins tensors along an existing axis; all other axes must agree.
 *
 * @param xs the tensors (at least one), promoted to a common dtype
 * @param options `axis` (default 0)
 * @returns the joined tensor
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { concat, ones, zeros } from "@tessella/tessella";
 * assert.deepEqual(concat([zeros([2, 3]), ones([1, 3])]).shape, [3, 3]);
 * ```
 */
export function concat(xs: readonly Tensor[], options: { axis?: number } = {}): Tensor {
  if (xs.length === 0) throw new Error("Cannot concat: expected at least one tensor");
  const first = xs[0];
  const axis = normalizeAxis(options.axis ?? 0, first.rank, "concat");
  for (const t of xs) {
    const agrees = t.rank === first.rank &&
      t.shape.every((d, i) => i === axis || d === first.shape[i]);
    if (!agrees) {
      throw new Error(
        `Cannot concat tensors of shapes ${fmtShape(first.shape)} and ${fmtShape(t.shape)} ` +
          `along axis ${axis}`,
      );
    }
  }
  const backend = checkSameBackend("concat", xs);
  if (xs.length === 1) return first;
  const dtype = xs.map((t) => t.dtype).reduce(promoteDTypes);
  const inputs = xs.map((t) => cast(t, dtype));
  const shape = [...first.shape];
  shape[axis] = inputs.reduce((n, t) => n + t.shape[axis], 0);
  const out = fromKernel(backend, backend.concat(inputs, axis, shape), shape, dtype);
  return record("concat", inputs, out, (g) => {
    let start = 0;
    return inputs.map((t) => {
      const starts = g.shape.map((_, d) => (d === axis ? start : 0));
      start += t.shape[axis];
      return stridedView(g, starts, g.shape.map(() => 1), t.shape);
    });
  });
}

/**
 * Joins same-shaped tensors along a new axis.
 *
 * @param xs the tensors
 * @param options `axis` of the new axis in the result (default 0)
 * @returns the stacked tensor
 */
export function stack(xs: readonly Tensor[], options: { axis?: number } = {}): Tensor {
  if (xs.length === 0) throw new Error("Cannot stack: expected at least one tensor");
  for (const t of xs) {
    if (!shapesEqual(t.shape, xs[0].shape)) {
      throw new Error(
        `Cannot stack tensors of different shapes (${fmtShape(xs[0].shape)} vs ${
          fmtShape(t.shape)
        })`,
      );
    }
  }
  const axis = normalizeAxis(options.axis ?? 0, xs[0].rank + 1, "stack");
  return concat(xs.map((t) => unsqueeze(t, axis)), { axis });
}

/**
 * Splits along an axis, NumPy style: a number n gives n equal parts; a list gives the
 * indices where new parts begin. The parts are views.
 *
 * @param x the tensor
 * @param sections a part count or a list of split indices
 * @param options `axis` (default 0)
 * @returns the parts
 */
export function split(
  x: Tensor,
  sections: number | readonly number[],
  options: { axis?: number } = {},
): Tensor[] {
  const axis = normalizeAxis(options.axis ?? 0, x.rank, "split");
  const n = x.shape[axis];
  let bounds: number[];
  if (typeof sections === "number") {
    if (!Number.isInteger(sections) || sections <= 0 || n % sections !== 0) {
      throw new Error(
        `Cannot split axis ${axis} of size ${n} into ${sections} equal parts`,
      );
    }
    bounds = Array.from({ length: sections - 1 }, (_, i) => ((i + 1) * n) / sections);
  } else {
    bounds = sections.map((b) => Math.min(Math.max(b < 0 ? b + n : b, 0), n));
  }
  const edges = [0, ...bounds, n];
  const parts: Tensor[] = [];
  for (let i = 0; i + 1 < edges.length; i++) {
    const spec: SliceSpec[] = x.shape.map(() => null);
    spec[axis] = [edges[i], Math.max(edges[i], edges[i + 1])];
    parts.push(slice(x, spec));
  }
  return parts;
}

/**
 * Removes size-1 axes: the given ones (which must have size 1) or all of them.
 *
 * @param x the tensor
 * @param options `axis`: one axis or a list
 * @returns the squeezed view
 */
export function squeeze(x: Tensor, options: { axis?: number | readonly number[] } = {}): Tensor {
  const axes = options.axis === undefined
    ? x.shape.flatMap((d, i) => (d === 1 ? [i] : []))
    : normalizeAxes(options.axis, x.rank, "squeeze");
  for (const a of axes) {
    if (x.shape[a] !== 1) {
      throw new Error(
        `Cannot squeeze axis ${a} of tensor of shape ${fmtShape(x.shape)}: its size is not 1`,
      );
    }
  }
  return reshape(x, x.shape.filter((_, i) => !axes.includes(i)));
}

/**
 * Inserts a size-1 axis at position `axis` of the result.
 *
 * @param x the tensor
 * @param axis where the new axis goes (−1 appends)
 * @returns the reshaped view
 */
export function unsqueeze(x: Tensor, axis: number): Tensor {
  const a = normalizeAxis(axis, x.rank + 1, "unsqueeze");
  const shape = [...x.shape];
  shape.splice(a, 0, 1);
  return reshape(x, shape);
}

/**
 * Merges axes `startAxis … endAxis` (inclusive) into one.
 *
 * @param x the tensor
 * @param options `startAxis` (default 0) and `endAxis` (default −1)
 * @returns the flattened tensor
 */
export function flatten(
  x: Tensor,
  options: { startAxis?: number; endAxis?: number } = {},
): Tensor {
  if (x.rank === 0) return reshape(x, [1]);
  const start = normalizeAxis(options.startAxis ?? 0, x.rank, "flatten");
  const end = normalizeAxis(options.endAxis ?? -1, x.rank, "flatten");
  if (end < start) throw new Error(`Cannot flatten: endAxis ${end} is before startAxis ${start}`);
  const merged = sizeOf(x.shape.slice(start, end + 1));
  return reshape(x, [...x.shape.slice(0, start), merged, ...x.shape.slice(end + 1)]);
}

/**
 * Repeats each element `repeats` times along `axis` (NumPy's `repeat`, PyTorch's
 * `repeat_interleave`); without an axis, works on the flattened tensor.
 *
 * @param x the tensor
 * @param repeats how many copies of each element
 * @param options `axis`
 * @returns the repeated tensor
 */
export function repeat(x: Tensor, repeats: number, options: { axis?: number } = {}): Tensor {
  if (!Number.isInteger(repeats) || repeats < 0) {
    throw new Error(`Cannot repeat: repeats must be a non-negative integer (got ${repeats})`);
  }
  const src = options.axis === undefined ? flatten(x) : x;
  const axis = normalizeAxis(options.axis ?? 0, src.rank, "repeat");
  const wide = [...src.shape];
  wide.splice(axis + 1, 0, repeats);
  const out = [...src.shape];
  out[axis] *= repeats;
  return reshape(expand(unsqueeze(src, axis + 1), wide), out);
}

/**
 * Tiles `x`: axis d is repeated `reps[d]` times as a block (NumPy's `tile`, PyTorch's
 * `Tensor.repeat`). Missing leading entries on either side count as 1.
 *
 * @param x the tensor
 * @param reps repetitions per axis
 * @returns the tiled tensor
 */
export function tile(x: Tensor, reps: readonly number[]): Tensor {
  for (const r of reps) {
    if (!Number.isInteger(r) || r < 0) {
      throw new Error(`Cannot tile: reps must be non-negative integers (got [${reps.join(", ")}])`);
    }
  }
  const rank = Math.max(reps.length, x.rank);
  const shape = [...new Array(rank - x.rank).fill(1), ...x.shape];
  const r = [...new Array(rank - reps.length).fill(1), ...reps];
  const interleaved = shape.flatMap((d) => [1, d]);
  const wide = shape.flatMap((d, i) => [r[i], d]);
  return reshape(expand(reshape(x, interleaved), wide), shape.map((d, i) => d * r[i]));
}
