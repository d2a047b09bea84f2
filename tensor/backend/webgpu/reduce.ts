// Reductions on WebGPU over the trailing axes of a strided view: column sums of whole
// texels on CPU adapters, otherwise an invocation or a workgroup per output (the kernels
// are in reduce_wgsl.ts).

import type { ReduceOp } from "../../backend.ts";
import type { DType } from "../../dtype.ts";
import { sizeOf } from "../../shape.ts";
import type { View } from "../../tensor.ts";
import { texturedInputs } from "./elementwise.ts";
import { collapse, grid, MAX_RANK } from "./params.ts";
import { COLUMN_SUM_PARAMS, columnSumSource, REDUCE_PARAMS, reduceSource } from "./reduce_wgsl.ts";
import { bufferOf, checkDType, type Runtime } from "./runtime.ts";

/** Reduces the last `count` axes of x. */
export function reduce(
  rt: Runtime,
  op: ReduceOp,
  x: View,
  count: number,
  outDtype: DType,
): GPUBuffer {
  checkDType(x.dtype);
  const split = x.shape.length - count;
  const outerShape = x.shape.slice(0, split);
  const innerShape = x.shape.slice(split);
  const outputs = sizeOf(outerShape);
  const rowLength = sizeOf(innerShape);
  const out = rt.alloc(outputs);
  if (outputs === 0) return out;
  const outer = collapse(outerShape, [x.strides.slice(0, split)]);
  const inner = collapse(innerShape, [x.strides.slice(split)]);
  if (outer.shape.length > MAX_RANK || inner.shape.length > MAX_RANK) {
    throw new Error(`Cannot reduce on WebGPU: more than ${MAX_RANK} non-trivial axes`);
  }
  // No reduced axis left after collapsing (all of size 1): one step of stride 0.
  const innerAxes = inner.shape.length === 0
    ? { shape: [1], strides: [0] }
    : { shape: inner.shape, strides: inner.strides[0] };
  const tex = texturedInputs(rt, x.dtype, [x], outputs * rowLength);
  if (
    tex && op === "sum" && outer.shape.length === 1 && outer.strides[0][0] === 1 &&
    inner.shape.length === 1 && inner.strides[0][0] % 4 === 0 && outputs % 4 === 0 &&
    x.offset % 4 === 0 && outputs / 4 <= 8 * rt.limit
  ) {
    // Column sums (Σ over rows of a row-major matrix): whole texels, 4 columns each.
    rt.run(
      "reduce:sum:columns",
      ["texture", "write"],
      columnSumSource,
      [rt.ctx.textureOf(bufferOf(x), "x0"), out],
      COLUMN_SUM_PARAMS.pack({
        columns: outputs / 4,
        rows: rowLength,
        first: x.offset / 4,
        step: inner.strides[0][0] / 4,
      }),
      [Math.ceil(outputs / 4 / 8)],
    );
    return out;
  }
  const schedule = rowLength <= 512 && outputs >= 256 ? "thread" : "group";
  const groups: [number, number] = schedule === "thread"
    ? grid(outputs, rt.limit)
    : [Math.min(outputs, rt.limit), Math.ceil(outputs / rt.limit)];
  rt.run(
    `reduce:${op}:${x.dtype}:${outDtype}:${schedule}:${tex}`,
    [tex ? "texture" : "read", "write"],
    () => reduceSource(op, x.dtype, outDtype, schedule, tex),
    [tex ? rt.ctx.textureOf(bufferOf(x), "x0") : bufferOf(x), out],
    REDUCE_PARAMS.pack({
      outputs,
      rowLength,
      outerRank: outer.shape.length,
      innerRank: innerAxes.shape.length,
      offset: x.offset,
      outerShape: outer.shape,
      outerStrides: outer.strides[0],
      innerShape: innerAxes.shape,
      innerStrides: innerAxes.strides,
    }),
    groups,
  );
  return out;
}
