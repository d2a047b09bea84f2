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
import { LINEAR_INDEX, paramsBlock, storageType, VIEW_INDEX } from "./wgsl_common.ts";

/** Params: elementwise layout over the index shape, view 0 = index, view 1 = x without axis; then axis size, axis stride. */
export function gatherSource(dtype: DType): string {
  const st = storageType(dtype);
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read> index: array<i32>;
@group(0) @binding(1) var<storage, read> x: array<${st}>;
@group(0) @binding(2) var<storage, read_write> out: array<${st}>;
${paramsBlock(3)}
${LINEAR_INDEX}
${VIEW_INDEX}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = linearIndex(wid, nwg, lid);
  if (i >= P(0u)) { return; }
  let size = Pi(30u);
  var k = index[viewIndex(i, 0u)];
  if (k < 0) { k += size; }
  if (k < 0 || k >= size) { out[i] = ${st}(0); return; }
  out[i] = x[u32(i32(viewIndex(i, 1u)) + k * Pi(31u))];
}
`;
}

/**
 * Params: 0 n, 1 rank, 2 axis, 3 index offset, 4 updates offset, 5–12 out shape,
 * 13–20 index shape, 21–28 index strides, 29–36 updates strides.
 * `out` already holds a contiguous copy of x.
 */
export function scatterAddSource(dtype: DType): string {
  const st = storageType(dtype);
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read> index: array<i32>;
@group(0) @binding(1) var<storage, read> updates: array<${st}>;
@group(0) @binding(2) var<storage, read_write> out: array<${st}>;
${paramsBlock(3)}
${LINEAR_INDEX}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = linearIndex(wid, nwg, lid);
  if (i >= P(0u)) { return; }
  let rank = P(1u);
  let axis = P(2u);
  var rem = i;
  var want = 0;
  var ib = Pi(3u);
  var ub = Pi(4u);
  for (var d = i32(rank) - 1; d >= 0; d--) {
    let du = u32(d);
    let c = rem % P(5u + du);
    rem = rem / P(5u + du);
    if (du == axis) {
      want = i32(c);
    } else {
      if (c >= P(13u + du)) { return; } // no index entry lands on this row
      ib += i32(c) * Pi(21u + du);
      ub += i32(c) * Pi(29u + du);
    }
  }
  let size = i32(P(5u + axis));
  var acc = ${st}(0);
  for (var j = 0u; j < P(13u + axis); j++) {
    var k = index[u32(ib + i32(j) * Pi(21u + axis))];
    if (k < 0) { k += size; }
    if (k == want) { acc += updates[u32(ub + i32(j) * Pi(29u + axis))]; }
  }
  out[i] = out[i] + acc;
}
`;
}
