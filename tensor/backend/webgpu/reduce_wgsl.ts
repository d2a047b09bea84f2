// WGSL for reductions over the trailing axes of a strided view.
//
// Two schedules: "thread" gives each output its own invocation, which loops over the
// reduced elements (best for many short rows, e.g. layerNorm statistics); "group" gives
// each output a 64-wide workgroup whose invocations stride over the row and then
// combine in workgroup memory (best for few long rows, e.g. a loss over a batch).
//
// argmax/argmin keep (value, index) pairs: the first extreme index wins, NaN counts as
// the extreme (NumPy's rule), so merging prefers the better value, then the lower index.

import type { ReduceOp } from "../../backend.ts";
import type { DType } from "../../dtype.ts";
import { axes, MAX_RANK, paramLayout } from "./params.ts";
import { LINEAR_INDEX, MATH, paramsBlock, storageType, textureInput } from "./wgsl_common.ts";

/**
 * The reductions' parameters: outputs and the length of each reduced row; the offset; the
 * kept (outer) axes and the reduced (inner) axes, each as rank, shape and strides.
 */
export const REDUCE_PARAMS = paramLayout({
  outputs: "u32",
  rowLength: "u32",
  outerRank: "u32",
  innerRank: "u32",
  offset: "i32",
  ...axes("outer", MAX_RANK),
  ...axes("inner", MAX_RANK),
});

/** The column sums' parameters (in texels): columns, rows, first texel, texels between rows. */
export const COLUMN_SUM_PARAMS = paramLayout({
  columns: "u32",
  rows: "u32",
  first: "u32",
  step: "u32",
});

export type ReduceSchedule = "thread" | "group";

export function reduceSource(
  op: ReduceOp,
  inDtype: DType,
  outDtype: DType,
  schedule: ReduceSchedule,
  textured = false,
): string {
  const acc = inDtype === "float32" ? "f32" : "i32";
  const isFloat = acc === "f32";
  const arg = op === "argmax" || op === "argmin";
  const lowest = isFloat ? "-t_inf()" : "(-2147483647 - 1)";
  const highest = isFloat ? "t_inf()" : "2147483647";
  const init = op === "sum"
    ? (isFloat ? "0.0" : "0")
    : op === "max" || op === "argmax"
    ? lowest
    : highest;
  const combine = op === "sum"
    ? "a + b"
    : op === "max"
    ? (isFloat ? "t_max(a, b)" : "max(a, b)")
    : op === "min"
    ? (isFloat ? "t_min(a, b)" : "min(a, b)")
    : "a";
  const strictly = op === "argmin" ? "b < a" : "b > a";
  const out = storageType(outDtype);
  const final = (v: string) => (arg ? `i32(${v})` : out === acc ? v : `${out}(${v})`);
  const p = REDUCE_PARAMS;
  const common = /* wgsl */ `
${
    textured
      ? textureInput("x", 0)
      : `@group(0) @binding(0) var<storage, read> x: array<${storageType(inDtype)}>;`
  }
@group(0) @binding(1) var<storage, read_write> result: array<${out}>;
${paramsBlock(2)}
${LINEAR_INDEX}
${MATH}
fn outerOffset(o: u32) -> i32 {
  var rem = o;
  var at = ${p.read("offset")};
  for (var d = i32(${p.read("outerRank")}) - 1; d >= 0; d--) {
    let size = ${p.read("outerShape", "u32(d)")};
    at += i32(rem % size) * ${p.read("outerStrides", "u32(d)")};
    rem = rem / size;
  }
  return at;
}
fn innerOffset(j: u32) -> i32 {
  if (${p.read("innerRank")} == 1u) { return i32(j) * ${p.read("innerStrides")}; }
  var rem = j;
  var at = 0;
  for (var d = i32(${p.read("innerRank")}) - 1; d >= 0; d--) {
    let size = ${p.read("innerShape", "u32(d)")};
    at += i32(rem % size) * ${p.read("innerStrides", "u32(d)")};
    rem = rem / size;
  }
  return at;
}
fn value(at: i32) -> ${acc} { return ${acc}(${textured ? "x_at(u32(at))" : "x[u32(at)]"}); }
fn combine(a: ${acc}, b: ${acc}) -> ${acc} { return ${combine}; }
// Whether value b strictly beats a (argmax/argmin); a NaN beats any number.
fn beats(b: ${acc}, a: ${acc}) -> bool {
  ${isFloat ? `if (t_isnan(a)) { return false; } if (t_isnan(b)) { return true; }` : ""}
  return ${strictly};
}
fn same(a: ${acc}, b: ${acc}) -> bool {
  ${isFloat ? "if (t_isnan(a) && t_isnan(b)) { return true; }" : ""}
  return a == b;
}
`;
  // One fold step over element j of the row starting at `base`.
  const fold = arg
    ? "let b = value(base + innerOffset(j)); if (!seen || beats(b, best)) { best = b; at = j; } seen = true;"
    : "best = combine(best, value(base + innerOffset(j)));";
  if (schedule === "thread") {
    return common + /* wgsl */ `
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let o = linearIndex(wid, nwg, lid);
  if (o >= ${p.read("outputs")}) { return; }
  let base = outerOffset(o);
  var best: ${acc} = ${init};
  var at = 0u;
  var seen = false;
  for (var j = 0u; j < ${p.read("rowLength")}; j++) { ${fold} }
  result[o] = ${final(arg ? "at" : "best")};
}
`;
  }
  return common + /* wgsl */ `
const EMPTY: u32 = 0xffffffffu;
var<workgroup> vals: array<${acc}, 64>;
var<workgroup> idxs: array<u32, 64>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let o = wid.x + wid.y * nwg.x;
  let live = o < ${p.read("outputs")};
  var best: ${acc} = ${init};
  var at = 0u;
  var seen = false;
  if (live) {
    let base = outerOffset(o);
    for (var j = lid; j < ${p.read("rowLength")}; j += 64u) { ${fold} }
  }
  vals[lid] = best;
  idxs[lid] = select(EMPTY, at, seen);
  workgroupBarrier();
  for (var width = 32u; width > 0u; width = width / 2u) {
    if (lid < width) {
      let a = vals[lid];
      let b = vals[lid + width];
      ${
    arg
      ? `let ia = idxs[lid];
      let ib = idxs[lid + width];
      let takeB = ib != EMPTY && (ia == EMPTY || beats(b, a) || (same(a, b) && ib < ia));
      if (takeB) { vals[lid] = b; idxs[lid] = ib; }`
      : "vals[lid] = combine(a, b);"
  }
    }
    workgroupBarrier();
  }
  if (lid == 0u && live) {
    result[o] = ${final(arg ? "idxs[0]" : "vals[0]")};
  }
}
`;
}

/**
 * Sums over rows for 4 adjacent columns per invocation ("columns" schedule, CPU adapters):
 * the reduced axis is strided and the kept axis contiguous, as in a bias gradient
 * Σ_rows g[row, :]. Whole texels are read (the strided schedules above fetch a texel per
 * value and keep one of its four), rows are summed in blocks of 64 and the block sums
 * added (error grows with √(R/64)·64 rather than R). Parameters: COLUMN_SUM_PARAMS.
 */
export function columnSumSource(): string {
  const p = COLUMN_SUM_PARAMS;
  return /* wgsl */ `
${textureInput("x", 0)}
@group(0) @binding(1) var<storage, read_write> result: array<vec4<f32>>;
${paramsBlock(2)}

@compute @workgroup_size(8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let q = gid.x;
  if (q >= ${p.read("columns")}) { return; }
  let R = ${p.read("rows")};
  let step = ${p.read("step")};
  var t = ${p.read("first")} + q;
  var total = vec4<f32>(0.0);
  var r = 0u;
  while (r < R) {
    let end = min(r + 64u, R);
    var block = vec4<f32>(0.0);
    for (; r < end; r++) {
      block += x_texel(t);
      t += step;
    }
    total += block;
  }
  result[q] = total;
}
`;
}
