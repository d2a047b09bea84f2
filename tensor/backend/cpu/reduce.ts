// CPU reduction kernel: reduce the trailing `count` axes of a view.
//
// The op layer permutes the reduced axes to the end (a free view), so one kernel shape
// serves every axis choice: for each position of the leading ("outer") axes, fold the
// elements of the trailing ("inner") axes. Sums accumulate in float64.

import type { ReduceOp } from "../../backend.ts";
import { allocArray, type DType, type TypedArray } from "../../dtype.ts";
import type { View } from "../../tensor.ts";
import { arrayOf, elementOffsets } from "./strided.ts";

/** Reduces the last `count` axes of `x` with `op`. */
export function reduce(op: ReduceOp, x: View, count: number, outDtype: DType): TypedArray {
  const split = x.shape.length - count;
  const outer = elementOffsets(x.shape.slice(0, split), x.strides.slice(0, split), x.offset);
  const inner = elementOffsets(x.shape.slice(split), x.strides.slice(split), 0);
  const src = arrayOf(x);
  const out = allocArray(outDtype, outer.length);
  for (let o = 0; o < outer.length; o++) {
    const base = outer[o];
    switch (op) {
      case "sum": {
        let acc = 0;
        for (let i = 0; i < inner.length; i++) acc += src[base + inner[i]];
        out[o] = acc;
        break;
      }
      case "max":
      case "min": {
        // NaN propagates, as in NumPy: once seen, the result stays NaN.
        let acc = op === "max" ? -Infinity : Infinity;
        for (let i = 0; i < inner.length; i++) {
          const v = src[base + inner[i]];
          if (Number.isNaN(v)) {
            acc = NaN;
            break;
          }
          if (op === "max" ? v > acc : v < acc) acc = v;
        }
        out[o] = acc;
        break;
      }
      case "argmax":
      case "argmin": {
        // The first extreme element wins; a NaN counts as the extreme (NumPy's rule).
        let best = src[base + inner[0]];
        let at = 0;
        for (let i = 1; i < inner.length && !Number.isNaN(best); i++) {
          const v = src[base + inner[i]];
          if (Number.isNaN(v) || (op === "argmax" ? v > best : v < best)) {
            best = v;
            at = i;
          }
        }
        out[o] = at;
        break;
      }
    }
  }
  return out;
}
