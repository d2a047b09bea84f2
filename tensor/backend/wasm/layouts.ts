// Parameter blocks of the WebAssembly kernels, described once.
//
// Every kernel has the signature `(params, start, end, thread)`: `params` is the byte
// address of a block of 32-bit words (i32 or f32) that the runtime writes before the
// call, [start, end) is the range of tasks this call does (elements, rows or blocks,
// as each kernel says), and `thread` is the caller's index in the thread pool (for
// per-thread scratch). The same layout objects give the offsets to the kernel
// generators (`*_wat.ts`, which bake them into the WAT as `offset=` immediates) and to
// the runtime (`mod.ts`, which writes the words), so the two cannot disagree.

/** Byte offsets of the named 32-bit fields of a parameter block, in order. */
export type Layout<F extends string> = { readonly [K in F]: number } & { readonly words: number };

/** Builds a layout: field i sits at byte 4·i. */
export function layout<const F extends string>(fields: readonly F[]): Layout<F> {
  const offsets = Object.fromEntries(fields.map((f, i) => [f, 4 * i]));
  return Object.freeze({ ...offsets, words: fields.length }) as Layout<F>;
}

/** Where the runtime writes the parameter block of the kernel it is about to run. */
export const PARAMS_ADDRESS = 1024;

/**
 * Elementwise kernels and strided copies: up to four collapsed axes [n0, n1, n2, n3]
 * (n0 implied by the task range), a pointer and element strides per operand (out, x, y).
 * Tasks are output elements in row-major order of the collapsed shape.
 */
/** The fields of ELEMENTWISE, in order (GATHER begins with them). */
export const ELEMENTWISE_FIELDS = [
  "out",
  "x",
  "y",
  "n1",
  "n2",
  "n3",
  "out0",
  "out1",
  "out2",
  "out3",
  "x0",
  "x1",
  "x2",
  "x3",
  "y0",
  "y1",
  "y2",
  "y3",
] as const;
export const ELEMENTWISE = layout(ELEMENTWISE_FIELDS);

/**
 * gather: ELEMENTWISE's walk over the index's shape (x: the source with its gathered
 * axis's stride set to 0, y: the int32 index), plus that axis's stride and size, and a
 * word the kernel sets to 1 when an index is out of range.
 */
export const GATHER = layout([...ELEMENTWISE_FIELDS, "axisStride", "axisSize", "bad"]);

/**
 * scatterAdd into `out` (a copy of x): tasks are positions of the index's shape without
 * the scatter axis (up to three collapsed axes, n0 implied), each walking that axis:
 * `length` steps of `outStep`·index, `updatesStep`, `indexStep`. `bad` as in GATHER.
 */
export const SCATTER = layout([
  "out",
  "updates",
  "index",
  "n1",
  "n2",
  "out0",
  "out1",
  "out2",
  "updates0",
  "updates1",
  "updates2",
  "index0",
  "index1",
  "index2",
  "length",
  "outStep",
  "updatesStep",
  "indexStep",
  "axisSize",
  "bad",
]);

/**
 * Matrix products C = A·B (+ bias) over a batch: pointers to per-batch element offsets of
 * A and B (int32 arrays), the operands' row and column strides, sizes, the packed-B
 * scratch ([batch][N/8][K][8]), the per-thread packed-A scratch, and whether B is read in
 * place instead of packed (`directB`: its rows contiguous, N a multiple of 8).
 */
export const MATMUL = layout([
  "a",
  "b",
  "c",
  "bias",
  "batchA",
  "batchB",
  "m",
  "k",
  "n",
  "aRow",
  "aCol",
  "bRow",
  "bCol",
  "packedB",
  "packedA",
  "packedAStride",
  "rowBlocks",
  "colBlocks",
  "colsPerBlock",
  "directB",
]);

/**
 * Sums of float32 values accumulated in float64: rows (`x[r, 0..count)`, contiguous) or
 * columns (`x[0..count) · stride + c`, tasks over c). Outer axes: up to three, with
 * strides, as in ELEMENTWISE.
 */
export const REDUCE = layout([
  "out",
  "x",
  "count",
  "stride",
  "n1",
  "n2",
  "x0",
  "x1",
  "x2",
]);

/** Row kernels over contiguous rows of D: layer norm (+ grad), softmax (+ grad). */
export const ROWS = layout(["out", "x", "g", "weight", "bias", "d", "eps"]);

/** The fused AdamW step over n contiguous elements (see Backend.adamStep). */
export const ADAM = layout([
  "out",
  "g",
  "m",
  "v",
  "p",
  "n",
  "b1",
  "b2",
  "oneMinusB1",
  "oneMinusB2",
  "c1",
  "c2",
  "eps",
  "lr",
  "wd",
]);
