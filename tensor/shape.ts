// Shape arithmetic shared by all ops: sizes, row-major strides, NumPy broadcasting and
// axis normalisation. Pure functions over plain number arrays.

/** A tensor shape: one non-negative integer per axis; `[]` is a scalar. */
export type Shape = readonly number[];

/** Formats a shape the way error messages show it: `[2, 3]`. */
export function fmtShape(shape: Shape): string {
  return `[${shape.join(", ")}]`;
}

/** Number of elements of a shape (1 for a scalar). */
export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major (C order) strides, in elements, of a contiguous tensor of this shape. */
export function contiguousStrides(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

/** Whether two shapes are equal axis by axis. */
export function shapesEqual(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Checks that every entry is a non-negative integer; `op` names the caller in the error. */
export function checkShape(shape: Shape, op: string): number[] {
  if (!Array.isArray(shape)) {
    throw new Error(`Cannot ${op}: shape must be an array of integers (got ${String(shape)})`);
  }
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new Error(
        `Cannot ${op}: shape entries must be non-negative integers (got ${fmtShape(shape)})`,
      );
    }
  }
  return [...shape];
}

/**
 * The broadcast shape of two shapes (NumPy rules): align on the right; each pair of
 * sizes must be equal or one of them 1.
 */
export function broadcastShapes(a: Shape, b: Shape, op: string): number[] {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(
        `Cannot ${op} tensors: shapes ${fmtShape(a)} and ${fmtShape(b)} do not broadcast ` +
          `(axis ${i - rank}: ${da} vs ${db})`,
      );
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Maps a possibly negative axis into `[0, rank)`, or throws naming the op. */
export function normalizeAxis(axis: number, rank: number, op: string): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    throw new Error(
      `Cannot ${op}: axis ${axis} is out of range for a tensor of rank ${rank}`,
    );
  }
  return axis < 0 ? axis + rank : axis;
}

/**
 * Normalises an `axis` option: undefined means every axis; duplicates are an error.
 * Returns the axes sorted ascending.
 */
export function normalizeAxes(
  axis: number | readonly number[] | undefined,
  rank: number,
  op: string,
): number[] {
  if (axis === undefined) return Array.from({ length: rank }, (_, i) => i);
  const list = typeof axis === "number" ? [axis] : [...axis];
  const axes = list.map((a) => normalizeAxis(a, rank, op));
  if (new Set(axes).size !== axes.length) {
    throw new Error(`Cannot ${op}: repeated axis in [${list.join(", ")}]`);
  }
  return axes.sort((x, y) => x - y);
}
