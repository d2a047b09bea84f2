// Describing views to the WebAssembly kernels: loop nests collapsed to a few axes.

import type { Shape } from "../../shape.ts";

/** A loop nest: sizes per axis, and per operand the element stride along each axis. */
export interface LoopNest {
  dims: number[];
  strides: number[][];
}

/**
 * Collapses the loop nest of `shape` walked by several operands: size-1 axes go, and an
 * axis merges into the one before it wherever every operand steps through both as one
 * (outer stride = inner stride · inner size). The result is padded in front with size-1
 * axes to exactly `rank` axes, or is null when more than `rank` remain.
 *
 * @param shape the iteration shape
 * @param strides each operand's element strides over `shape`
 * @param rank the number of axes the kernel takes
 */
export function collapse(
  shape: Shape,
  strides: readonly (readonly number[])[],
  rank: number,
): LoopNest | null {
  const dims: number[] = [];
  const out: number[][] = strides.map(() => []);
  shape.forEach((d, axis) => {
    if (d === 1) return;
    const last = dims.length - 1;
    if (last >= 0 && strides.every((s, k) => out[k][last] === s[axis] * d)) {
      dims[last] *= d;
      strides.forEach((s, k) => (out[k][last] = s[axis]));
    } else {
      dims.push(d);
      strides.forEach((s, k) => out[k].push(s[axis]));
    }
  });
  if (dims.length > rank) return null;
  while (dims.length < rank) {
    dims.unshift(1);
    out.forEach((s) => s.unshift(0));
  }
  return { dims, strides: out };
}
