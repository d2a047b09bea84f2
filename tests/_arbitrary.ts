// fast-check generators shared by the op-table and gradient suites: shapes (with size-0
// and size-1 axes), broadcast-compatible shape pairs, and input tensors in three memory
// layouts (contiguous, transposed view, strided view) so that kernels see real views.

import fc from "fast-check";
import { type DType, slice, type Tensor, tensor, transpose } from "../mod.ts";
import { type Ref, ref, size } from "./_reference.ts";

/** A shape of rank 0 … maxRank with axes in [minDim, maxDim]. */
export function shapeArb(
  options: { maxRank?: number; minDim?: number; maxDim?: number; minRank?: number } = {},
): fc.Arbitrary<number[]> {
  return fc.array(fc.integer({ min: options.minDim ?? 0, max: options.maxDim ?? 4 }), {
    minLength: options.minRank ?? 0,
    maxLength: options.maxRank ?? 3,
  });
}

/** Two shapes that broadcast together: derived from one output shape. */
export function broadcastPairArb(
  options: { maxRank?: number; minDim?: number } = {},
): fc.Arbitrary<[number[], number[]]> {
  return shapeArb({ maxRank: options.maxRank ?? 3, minDim: options.minDim ?? 0 }).chain((out) => {
    const derive = fc.tuple(
      fc.integer({ min: 0, max: out.length }),
      fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length }),
    ).map(([drop, ones]) => out.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d)));
    return fc.tuple(derive, derive);
  });
}

export type Layout = "contiguous" | "transposed" | "strided";
export const layoutArb: fc.Arbitrary<Layout> = fc.constantFrom(
  "contiguous",
  "transposed",
  "strided",
);

/** A tensor holding `r`'s values, laid out in memory as asked (same logical content). */
export function makeTensor(
  r: Ref,
  dtype: DType,
  layout: Layout = "contiguous",
  backend?: string,
): Tensor {
  const rank = r.shape.length;
  if (layout === "transposed" && rank >= 2) {
    const rev = r.shape.map((_, i) => rank - 1 - i);
    const shape = rev.map((a) => r.shape[a]);
    const t = ref(shape, (idx) => {
      const src = new Array<number>(rank);
      rev.forEach((a, i) => (src[a] = idx[i]));
      let flat = 0;
      for (let d = 0; d < rank; d++) flat = flat * r.shape[d] + src[d];
      return r.data[flat];
    });
    return transpose(tensor(t.data, { shape, dtype, backend }));
  }
  if (layout === "strided" && rank >= 1) {
    // Interleave junk along the last axis, then take every other element.
    const shape = [...r.shape.slice(0, -1), 2 * r.shape[rank - 1]];
    const wide = ref(shape, (idx, i) => {
      const last = idx[rank - 1];
      if (last % 2 === 1) return 1e9 + i; // never read
      let flat = 0;
      for (let d = 0; d < rank - 1; d++) flat = flat * r.shape[d] + idx[d];
      return r.data[flat * r.shape[rank - 1] + last / 2];
    });
    const specs = shape.map((_, d) => (d === rank - 1 ? [0, null, 2] as const : null));
    return slice(tensor(wide.data, { shape, dtype, backend }), specs);
  }
  return tensor(r.data, { shape: r.shape, dtype, backend });
}

/** Values for a shape drawn uniformly from [lo, hi] (no NaN, no infinities). */
export function valuesArb(shape: number[], lo = -3, hi = 3): fc.Arbitrary<Ref> {
  return fc.array(fc.double({ min: lo, max: hi, noNaN: true, noDefaultInfinity: true }), {
    minLength: size(shape),
    maxLength: size(shape),
  }).map((data) => ({ shape, data }));
}

/** A reference array of a random shape with values in [lo, hi]. */
export function refArb(
  options: {
    maxRank?: number;
    minDim?: number;
    maxDim?: number;
    minRank?: number;
    lo?: number;
    hi?: number;
  } = {},
): fc.Arbitrary<Ref> {
  return shapeArb(options).chain((s) => valuesArb(s, options.lo, options.hi));
}
