// A deliberately naive, independent NumPy-like reference for the op-table tests: plain
// number arrays and multi-index arithmetic, no views, no strides, no shared code with
// the library. Slow and obviously correct is the point.

/** A reference array: a shape and row-major values. */
export interface Ref {
  shape: number[];
  data: number[];
}

export function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Multi-index of flat position i in `shape` (row-major). */
export function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return idx;
}

/** Flat position of a multi-index in `shape`. */
export function ravel(idx: readonly number[], shape: readonly number[]): number {
  let i = 0;
  for (let d = 0; d < shape.length; d++) i = i * shape[d] + idx[d];
  return i;
}

export function ref(shape: number[], fn: (idx: number[], i: number) => number): Ref {
  return { shape, data: Array.from({ length: size(shape) }, (_, i) => fn(unravel(i, shape), i)) };
}

export function at(r: Ref, idx: readonly number[]): number {
  return r.data[ravel(idx, r.shape)];
}

export function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  return Array.from({ length: n }, (_, i) => {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new Error("not broadcastable");
    return da === 1 ? db : da;
  });
}

/** The element of `r` that broadcasting sends to output index `idx`. */
export function broadcastAt(r: Ref, idx: readonly number[]): number {
  const lead = idx.length - r.shape.length;
  return at(r, r.shape.map((d, i) => (d === 1 ? 0 : idx[lead + i])));
}

export function map1(r: Ref, f: (x: number) => number): Ref {
  return { shape: [...r.shape], data: r.data.map(f) };
}

export function map2(a: Ref, b: Ref, f: (x: number, y: number) => number): Ref {
  const shape = broadcastShape(a.shape, b.shape);
  return ref(shape, (idx) => f(broadcastAt(a, idx), broadcastAt(b, idx)));
}

export function reduce(
  r: Ref,
  axes: number[] | undefined,
  keepDims: boolean,
  init: number,
  f: (acc: number, x: number) => number,
): Ref {
  const all = axes ?? r.shape.map((_, i) => i);
  const norm = all.map((a) => (a < 0 ? a + r.shape.length : a));
  const keptShape = r.shape.map((d, i) => (norm.includes(i) ? 1 : d));
  const out = ref(keptShape, () => init);
  r.data.forEach((v, i) => {
    const idx = unravel(i, r.shape).map((x, d) => (norm.includes(d) ? 0 : x));
    const j = ravel(idx, keptShape);
    out.data[j] = f(out.data[j], v);
  });
  if (!keepDims) out.shape = r.shape.filter((_, i) => !norm.includes(i));
  return out;
}

export function permute(r: Ref, axes: number[]): Ref {
  const shape = axes.map((a) => r.shape[a]);
  return ref(shape, (idx) => {
    const src = new Array<number>(r.shape.length);
    axes.forEach((a, i) => (src[a] = idx[i]));
    return at(r, src);
  });
}

export function matmul(a: Ref, b: Ref): Ref {
  const m = a.shape[a.shape.length - 2];
  const k = a.shape[a.shape.length - 1];
  const n = b.shape[b.shape.length - 1];
  const batch = broadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const pick = (r: Ref, bIdx: number[], i: number, j: number): number => {
    const lead = bIdx.length - (r.shape.length - 2);
    const rb = r.shape.slice(0, -2).map((d, t) => (d === 1 ? 0 : bIdx[lead + t]));
    return at(r, [...rb, i, j]);
  };
  return ref([...batch, m, n], (idx) => {
    const bIdx = idx.slice(0, -2);
    const [i, j] = idx.slice(-2);
    let s = 0;
    for (let p = 0; p < k; p++) s += pick(a, bIdx, i, p) * pick(b, bIdx, p, j);
    return s;
  });
}

/** Python's slice.indices → the list of selected positions. */
export function slicePositions(
  n: number,
  start: number | null,
  stop: number | null,
  step: number,
): number[] {
  const out: number[] = [];
  if (step > 0) {
    let s = start === null ? 0 : start < 0 ? Math.max(start + n, 0) : Math.min(start, n);
    const e = stop === null ? n : stop < 0 ? Math.max(stop + n, 0) : Math.min(stop, n);
    for (; s < e; s += step) out.push(s);
  } else {
    let s = start === null ? n - 1 : start < 0 ? Math.max(start + n, -1) : Math.min(start, n - 1);
    const e = stop === null ? -1 : stop < 0 ? Math.max(stop + n, -1) : Math.min(stop, n - 1);
    for (; s > e; s += step) out.push(s);
  }
  return out;
}

/** Selects positions per axis (a list per axis). */
export function select(r: Ref, positions: number[][]): Ref {
  return ref(positions.map((p) => p.length), (idx) => at(r, idx.map((i, d) => positions[d][i])));
}

export function concat(rs: Ref[], axis: number): Ref {
  const shape = [...rs[0].shape];
  shape[axis] = rs.reduce((n, r) => n + r.shape[axis], 0);
  return ref(shape, (idx) => {
    let i = idx[axis];
    for (const r of rs) {
      if (i < r.shape[axis]) return at(r, idx.map((x, d) => (d === axis ? i : x)));
      i -= r.shape[axis];
    }
    throw new Error("unreachable");
  });
}

export function pad(r: Ref, widths: [number, number][], value: number): Ref {
  const shape = r.shape.map((d, i) => d + widths[i][0] + widths[i][1]);
  return ref(shape, (idx) => {
    const src = idx.map((x, d) => x - widths[d][0]);
    return src.every((x, d) => x >= 0 && x < r.shape[d]) ? at(r, src) : value;
  });
}

export function gather(r: Ref, index: Ref, axis: number): Ref {
  return ref([...index.shape], (idx) => {
    const k = at(index, idx);
    return at(r, idx.map((x, d) => (d === axis ? (k < 0 ? k + r.shape[axis] : k) : x)));
  });
}

export function scatterAdd(r: Ref, index: Ref, updates: Ref, axis: number): Ref {
  const out = { shape: [...r.shape], data: [...r.data] };
  index.data.forEach((k, i) => {
    const idx = unravel(i, index.shape);
    idx[axis] = k < 0 ? k + r.shape[axis] : k;
    out.data[ravel(idx, r.shape)] += updates.data[i];
  });
  return out;
}

/** erf by composite Simpson integration of 2/√π e^(−t²) (independent of the library's series). */
export function erfByQuadrature(x: number): number {
  const n = 2000;
  const h = x / n;
  let s = 1 + Math.exp(-x * x);
  for (let i = 1; i < n; i++) s += (i % 2 === 1 ? 4 : 2) * Math.exp(-((i * h) ** 2));
  return (2 / Math.sqrt(Math.PI)) * (h / 3) * s;
}
