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

/**
 * Whether strides walk a shape in row-major order without gaps: the elements are the
 * `sizeOf(shape)` consecutive ones from the view's offset (size-1 axes may have any stride).
 */
export function isRowMajor(shape: Shape, strides: readonly number[]): boolean {
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] === 1) continue;
    if (strides[i] !== expected) return false;
    expected *= shape[i];
  }
  return true;
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

/**
 * Strides that give a view of shape `target` over the same elements, in the same
 * row-major order, as a view `(shape, strides)`; null where no view can (the elements
 * must then be copied). NumPy's rule: split both shapes into runs of axes with equal
 * products; each run of the old shape must be contiguous within itself (stride[i] =
 * stride[i+1]·shape[i+1], axes of size 1 ignored), and the new axes of the run take
 * strides from the run's innermost stride.
 */
export function reshapeStrides(
  shape: Shape,
  strides: readonly number[],
  target: Shape,
): number[] | null {
  if (sizeOf(shape) === 0) return contiguousStrides(target);
  const oldDims: number[] = [];
  const oldStrides: number[] = [];
  shape.forEach((d, i) => {
    if (d !== 1) {
      oldDims.push(d);
      oldStrides.push(strides[i]);
    }
  });
  const out = new Array<number>(target.length).fill(1);
  let oi = 0; // first old axis of the run
  let ni = 0; // first new axis of the run
  while (oi < oldDims.length && ni < target.length) {
    let oj = oi + 1; // one past the run's last old axis
    let nj = ni + 1;
    let oldSize = oldDims[oi];
    let newSize = target[ni];
    while (oldSize !== newSize) {
      if (newSize < oldSize) newSize *= target[nj++];
      else oldSize *= oldDims[oj++];
    }
    for (let k = oi; k < oj - 1; k++) {
      if (oldStrides[k] !== oldDims[k + 1] * oldStrides[k + 1]) return null;
    }
    out[nj - 1] = oldStrides[oj - 1];
    for (let k = nj - 1; k > ni; k--) out[k - 1] = out[k] * target[k];
    oi = oj;
    ni = nj;
  }
  return out; // axes of size 1 past the last run keep stride 1
}
