// Host-side helpers that turn views into kernel parameters: dimension collapsing (so a
// contiguous tensor is one long row and most broadcasts are two axes) and the word
// layout that VIEW_INDEX in wgsl_common.ts reads.

import type { Shape } from "../../shape.ts";
import { ELEMENTS_PER_INVOCATION } from "./wgsl_common.ts";

/** Where a view's elements live: what the index arithmetic needs of a view. */
export interface Layout {
  readonly strides: readonly number[];
  readonly offset: number;
}

/** The most axes a WebGPU kernel indexes after collapsing. */
export const MAX_RANK = 8;

/**
 * Merges adjacent axes that every view walks contiguously together, and drops size-1
 * axes. Returns the collapsed shape and each view's collapsed strides.
 */
export function collapse(
  shape: Shape,
  stridesList: readonly (readonly number[])[],
): { shape: number[]; strides: number[][] } {
  const dims: number[] = [];
  const strides: number[][] = stridesList.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const last = dims.length - 1;
    const mergeable = last >= 0 &&
      stridesList.every((s, k) => strides[k][last] === s[d] * shape[d]);
    if (mergeable) {
      dims[last] *= shape[d];
      stridesList.forEach((s, k) => (strides[k][last] = s[d]));
    } else {
      dims.push(shape[d]);
      stridesList.forEach((s, k) => strides[k].push(s[d]));
    }
  }
  return { shape: dims, strides };
}

/**
 * Parameter words for an elementwise kernel over `shape` reading `views` (all of that
 * shape): 0 n, 1 rank, 2–9 shape, then per view: offset, contiguous flag, 8 strides.
 * `extra` words follow the views.
 */
export function elementwiseParams(
  shape: Shape,
  views: readonly Layout[],
  extra: readonly number[] = [],
): Uint32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const { shape: dims, strides } = collapse(shape, views.map((v) => v.strides));
  if (dims.length > MAX_RANK) {
    throw new Error(
      `Cannot run a WebGPU kernel on a view with more than ${MAX_RANK} non-trivial axes`,
    );
  }
  const words = new Uint32Array(10 + 10 * views.length + extra.length);
  words[0] = n;
  words[1] = dims.length;
  dims.forEach((d, i) => (words[2 + i] = d));
  const asInt = new Int32Array(words.buffer);
  views.forEach((v, k) => {
    const base = 10 + 10 * k;
    words[base] = v.offset;
    const contiguous = dims.length === 0 || (dims.length === 1 && strides[k][0] === 1);
    words[base + 1] = contiguous ? 1 : 0;
    strides[k].forEach((s, i) => (asInt[base + 2 + i] = s));
  });
  words.set(extra, 10 + 10 * views.length);
  return words;
}

/** Workgroup grid for n invocations of 64-wide workgroups (2-D past the dimension limit). */
export function grid(n: number, limit: number): [number, number] {
  const groups = Math.ceil(n / 64);
  if (groups <= limit) return [groups, 1];
  const x = limit;
  return [x, Math.ceil(groups / x)];
}

/** Grid for an elementwise kernel, whose invocations each handle ELEMENTS_PER_INVOCATION outputs. */
export function elementwiseGrid(n: number, limit: number): [number, number] {
  return grid(Math.ceil(n / ELEMENTS_PER_INVOCATION), limit);
}
