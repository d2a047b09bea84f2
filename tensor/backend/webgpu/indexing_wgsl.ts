// WGSL for gather and scatterAdd.
//
// gather: one invocation per output (index) element; x is read through a view whose
// stride along `axis` is zero, plus index·stride. An out-of-range index cannot throw on
// a GPU: it reads 0.
//
// scatterAdd is written *deterministically*: one invocation per output element loops
// over the index entries that could land on it and sums the matching updates in index
// order. No atomics (WGSL has no float atomics), and the same inputs always give the
// same bits. It costs |out| × index.shape[axis] steps, cheap for the shapes autograd
// produces (a cross-entropy's one label per row).

import type { DType } from "../../dtype.ts";
import { axes, elementwiseExtra, MAX_RANK, paramLayout } from "./params.ts";
import { perIndexKernel, storage, storageType, VIEW_INDEX } from "./wgsl_common.ts";

/**
 * Params: elementwise words over the index shape (view 0 the index, view 1 x with a zero
 * stride along the axis), then the axis' size and stride.
 */
export function gatherSource(dtype: DType): string {
  const st = storageType(dtype);
  const extra = elementwiseExtra(2);
  return perIndexKernel({
    bindings: [
      storage(0, "index", "i32"),
      storage(1, "x", st),
      storage(2, "out", st, "read_write"),
    ],
    helpers: [VIEW_INDEX],
    count: "P(0u)",
    index: "i",
    body: /* wgsl */ `
  let size = Pi(${extra}u);
  var k = index[viewIndex(i, 0u)];
  if (k < 0) { k += size; }
  if (k < 0 || k >= size) { out[i] = ${st}(0); return; }
  out[i] = x[u32(i32(viewIndex(i, 1u)) + k * Pi(${extra + 1}u))];`,
  });
}

/** scatterAdd's parameters: outputs, rank, axis, the output's shape, and the index and updates views. */
export const SCATTER_ADD_PARAMS = paramLayout({
  n: "u32",
  rank: "u32",
  axis: "u32",
  indexOffset: "i32",
  updatesOffset: "i32",
  shape: ["u32", MAX_RANK],
  ...axes("index", MAX_RANK),
  updatesStrides: ["i32", MAX_RANK],
});

/** scatterAdd with SCATTER_ADD_PARAMS; `out` already holds a contiguous copy of x. */
export function scatterAddSource(dtype: DType): string {
  const st = storageType(dtype);
  const p = SCATTER_ADD_PARAMS;
  return perIndexKernel({
    bindings: [
      storage(0, "index", "i32"),
      storage(1, "updates", st),
      storage(2, "out", st, "read_write"),
    ],
    count: p.read("n"),
    index: "i",
    body: /* wgsl */ `
  let rank = ${p.read("rank")};
  let axis = ${p.read("axis")};
  var rem = i;
  var want = 0;
  var ib = ${p.read("indexOffset")};
  var ub = ${p.read("updatesOffset")};
  for (var d = i32(rank) - 1; d >= 0; d--) {
    let du = u32(d);
    let c = rem % ${p.read("shape", "du")};
    rem = rem / ${p.read("shape", "du")};
    if (du == axis) {
      want = i32(c);
    } else {
      if (c >= ${p.read("indexShape", "du")}) { return; } // no index entry lands on this row
      ib += i32(c) * ${p.read("indexStrides", "du")};
      ub += i32(c) * ${p.read("updatesStrides", "du")};
    }
  }
  let size = i32(${p.read("shape", "axis")});
  var acc = ${st}(0);
  for (var j = 0u; j < ${p.read("indexShape", "axis")}; j++) {
    var k = index[u32(ib + i32(j) * ${p.read("indexStrides", "axis")})];
    if (k < 0) { k += size; }
    if (k == want) { acc += updates[u32(ub + i32(j) * ${p.read("updatesStrides", "axis")})]; }
  }
  out[i] = out[i] + acc;`,
  });
}
