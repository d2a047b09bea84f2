// Reading views on the CPU: where each element of a (shape, strides, offset) view lives
// in its flat storage array.

import type { TypedArray } from "../../dtype.ts";
import { allocArray } from "../../dtype.ts";
import { isRowMajor, type Shape, sizeOf } from "../../shape.ts";
import { checkLive, type View } from "../../tensor.ts";

/**
 * Storage index of every element of a view, in row-major order of `shape`.
 *
 * Walks the indices like an odometer: step the last axis; when it wraps, rewind it and
 * step the axis before it. `offsets[i]` is where element i of the view lives.
 */
export function elementOffsets(
  shape: Shape,
  strides: readonly number[],
  offset: number,
): Int32Array {
  const n = sizeOf(shape);
  const out = new Int32Array(n);
  const rank = shape.length;
  const index = new Array<number>(rank).fill(0);
  let at = offset;
  for (let i = 0; i < n; i++) {
    out[i] = at;
    for (let d = rank - 1; d >= 0; d--) {
      index[d]++;
      at += strides[d];
      if (index[d] < shape[d]) break;
      at -= strides[d] * shape[d];
      index[d] = 0;
    }
  }
  return out;
}

/** Whether a view reads `size` consecutive elements starting at its offset. */
export function isDense(x: View): boolean {
  return isRowMajor(x.shape, x.strides);
}

/** The CPU storage array behind a view (which must not be disposed). */
export function arrayOf(x: View): TypedArray {
  checkLive(x);
  return x.storage.data as TypedArray;
}

/** A contiguous row-major copy of a view's elements. */
export function readView(x: View): TypedArray {
  const src = arrayOf(x);
  const n = sizeOf(x.shape);
  if (isDense(x)) return src.slice(x.offset, x.offset + n);
  const out = allocArray(x.dtype, n);
  const offsets = elementOffsets(x.shape, x.strides, x.offset);
  for (let i = 0; i < n; i++) out[i] = src[offsets[i]];
  return out;
}
