// CPU kernels for elementwise ops: one scalar function per op, applied over views.
// Values are computed in float64 and rounded when stored into the output array
// (a Float32Array store rounds to nearest float32; an Int32Array store truncates).

import type { BinaryOp, UnaryOp } from "../../backend.ts";
import { allocArray, type DType, type TypedArray } from "../../dtype.ts";
import {
  erfFloat32Scalar,
  erfScalar,
  geluDerivativeFloat32Scalar,
  geluDerivativeScalar,
  geluFloat32Scalar,
  geluScalar,
  geluTanhScalar,
  roundHalfEvenScalar,
  sigmoidScalar,
} from "../../special_math.ts";
import { sizeOf } from "../../shape.ts";
import type { View } from "../../tensor.ts";
import { arrayOf, elementOffsets } from "./strided.ts";

type Fn1 = (x: number) => number;
type Fn2 = (a: number, b: number) => number;

const UNARY: Record<UnaryOp, Fn1> = {
  copy: (x) => x,
  neg: (x) => -x,
  abs: Math.abs,
  exp: Math.exp,
  log: Math.log,
  log1p: Math.log1p,
  sqrt: Math.sqrt,
  rsqrt: (x) => 1 / Math.sqrt(x),
  square: (x) => x * x,
  reciprocal: (x) => 1 / x,
  sin: Math.sin,
  cos: Math.cos,
  tanh: Math.tanh,
  sigmoid: sigmoidScalar,
  relu: (x) => (x > 0 ? x : Number.isNaN(x) ? x : 0),
  gelu: geluScalar,
  geluTanh: geluTanhScalar,
  geluDerivative: geluDerivativeScalar,
  erf: erfScalar,
  sign: Math.sign,
  floor: Math.floor,
  ceil: Math.ceil,
  round: roundHalfEvenScalar,
  logicalNot: (x) => (x === 0 ? 1 : 0),
  isFinite: (x) => (Number.isFinite(x) ? 1 : 0),
};

const BINARY: Record<BinaryOp, Fn2> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: Math.pow,
  maximum: Math.max, // NaN-propagating, as NumPy's maximum
  minimum: Math.min,
  equal: (a, b) => (a === b ? 1 : 0),
  notEqual: (a, b) => (a !== b ? 1 : 0),
  less: (a, b) => (a < b ? 1 : 0),
  lessEqual: (a, b) => (a <= b ? 1 : 0),
  greater: (a, b) => (a > b ? 1 : 0),
  greaterEqual: (a, b) => (a >= b ? 1 : 0),
  logicalAnd: (a, b) => (a !== 0 && b !== 0 ? 1 : 0),
  logicalOr: (a, b) => (a !== 0 || b !== 0 ? 1 : 0),
};

/** int32 products must wrap like 32-bit hardware, which a float64 product cannot do. */
const INT_MUL: Fn2 = Math.imul;

/** Casting to bool is "is non-zero" (NaN counts as non-zero, as in NumPy). */
const TO_BOOL: Fn1 = (x) => (x !== 0 ? 1 : 0);

/**
 * Walks the output in rows: the views' shapes are collapsed (adjacent axes that every
 * view steps through contiguously merge), then `row(start, offsets, length, steps)` is
 * called once per row of the last collapsed axis, with each view's storage offset at the
 * row's start and its step along the row. Most tensors collapse to one or two axes, so a
 * whole contiguous tensor is a single row.
 */
export function forEachRow(
  views: readonly View[],
  row: (start: number, offsets: number[], length: number, steps: number[]) => void,
): void {
  const shape: number[] = [];
  const strides: number[][] = views.map(() => []);
  views[0].shape.forEach((d, axis) => {
    if (d === 1) return;
    const last = shape.length - 1;
    if (last >= 0 && views.every((v, k) => strides[k][last] === v.strides[axis] * d)) {
      shape[last] *= d;
      views.forEach((v, k) => (strides[k][last] = v.strides[axis]));
    } else {
      shape.push(d);
      views.forEach((v, k) => strides[k].push(v.strides[axis]));
    }
  });
  const n = shape.reduce((x, y) => x * y, 1);
  if (n === 0) return;
  const rank = shape.length;
  const length = rank === 0 ? 1 : shape[rank - 1];
  const steps = strides.map((s) => (rank === 0 ? 0 : s[rank - 1]));
  const offsets = views.map((v) => v.offset);
  const index = new Array<number>(Math.max(0, rank - 1)).fill(0);
  for (let start = 0; start < n; start += length) {
    row(start, offsets, length, steps);
    for (let d = rank - 2; d >= 0; d--) {
      index[d]++;
      views.forEach((_, k) => (offsets[k] += strides[k][d]));
      if (index[d] < shape[d]) break;
      views.forEach((_, k) => (offsets[k] -= strides[k][d] * shape[d]));
      index[d] = 0;
    }
  }
}

type RowLoop = (
  out: TypedArray,
  o: number,
  a: TypedArray,
  ia: number,
  sa: number,
  b: TypedArray,
  ib: number,
  sb: number,
  n: number,
) => void;

/** Hand-written row loops for the commonest ops, so the hot loop has no function call. */
const FAST_ROWS: Partial<Record<BinaryOp, RowLoop>> = {
  add: (out, o, a, ia, sa, b, ib, sb, n) => {
    for (let i = 0; i < n; i++, ia += sa, ib += sb) out[o + i] = a[ia] + b[ib];
  },
  sub: (out, o, a, ia, sa, b, ib, sb, n) => {
    for (let i = 0; i < n; i++, ia += sa, ib += sb) out[o + i] = a[ia] - b[ib];
  },
  mul: (out, o, a, ia, sa, b, ib, sb, n) => {
    for (let i = 0; i < n; i++, ia += sa, ib += sb) out[o + i] = a[ia] * b[ib];
  },
  div: (out, o, a, ia, sa, b, ib, sb, n) => {
    for (let i = 0; i < n; i++, ia += sa, ib += sb) out[o + i] = a[ia] / b[ib];
  },
};

/** float32 versions of the costly functions: float32 accuracy at a fraction of the cost. */
const UNARY_FLOAT32: Partial<Record<UnaryOp, Fn1>> = {
  erf: erfFloat32Scalar,
  gelu: geluFloat32Scalar,
  geluDerivative: geluDerivativeFloat32Scalar,
};

type UnaryRow = (
  out: TypedArray,
  o: number,
  x: TypedArray,
  ix: number,
  sx: number,
  n: number,
) => void;

/** Hand-written row loops for the commonest unary ops (no call per element). */
const FAST_UNARY: Partial<Record<UnaryOp, UnaryRow>> = {
  neg: (out, o, x, ix, sx, n) => {
    for (let i = 0; i < n; i++, ix += sx) out[o + i] = -x[ix];
  },
  square: (out, o, x, ix, sx, n) => {
    for (let i = 0; i < n; i++, ix += sx) out[o + i] = x[ix] * x[ix];
  },
  exp: (out, o, x, ix, sx, n) => {
    for (let i = 0; i < n; i++, ix += sx) out[o + i] = Math.exp(x[ix]);
  },
  sqrt: (out, o, x, ix, sx, n) => {
    for (let i = 0; i < n; i++, ix += sx) out[o + i] = Math.sqrt(x[ix]);
  },
  reciprocal: (out, o, x, ix, sx, n) => {
    for (let i = 0; i < n; i++, ix += sx) out[o + i] = 1 / x[ix];
  },
  abs: (out, o, x, ix, sx, n) => {
    for (let i = 0; i < n; i++, ix += sx) out[o + i] = Math.abs(x[ix]);
  },
};

/** `out[i] = op(x[i])`. */
export function unary(op: UnaryOp, x: View, outDtype: DType): TypedArray {
  const f = op === "copy" && outDtype === "bool" && x.dtype !== "bool"
    ? TO_BOOL
    : (outDtype === "float32" ? UNARY_FLOAT32[op] : undefined) ?? UNARY[op];
  const out = allocArray(outDtype, sizeOf(x.shape));
  const src = arrayOf(x);
  if (op === "copy" && f !== TO_BOOL) {
    forEachRow([x], (o, [ix], n, [sx]) => {
      for (let i = 0; i < n; i++, ix += sx) out[o + i] = src[ix];
    });
    return out;
  }
  const fast = FAST_UNARY[op];
  if (fast) {
    forEachRow([x], (o, [ix], n, [sx]) => fast(out, o, src, ix, sx, n));
    return out;
  }
  forEachRow([x], (o, [ix], n, [sx]) => {
    for (let i = 0; i < n; i++, ix += sx) out[o + i] = f(src[ix]);
  });
  return out;
}

/** `out[i] = op(a[i], b[i])` for two views of the same shape. */
export function binary(op: BinaryOp, a: View, b: View, outDtype: DType): TypedArray {
  const out = allocArray(outDtype, sizeOf(a.shape));
  const srcA = arrayOf(a);
  const srcB = arrayOf(b);
  const fast = outDtype === "int32" && op === "mul" ? undefined : FAST_ROWS[op];
  if (fast) {
    forEachRow([a, b], (o, [ia, ib], n, [sa, sb]) => fast(out, o, srcA, ia, sa, srcB, ib, sb, n));
    return out;
  }
  const f = op === "mul" && outDtype === "int32" ? INT_MUL : BINARY[op];
  forEachRow([a, b], (o, [ia, ib], n, [sa, sb]) => {
    for (let i = 0; i < n; i++, ia += sa, ib += sb) out[o + i] = f(srcA[ia], srcB[ib]);
  });
  return out;
}

/** `out[i] = cond[i] ? a[i] : b[i]` for three views of the same shape. */
export function where(cond: View, a: View, b: View): TypedArray {
  const n = sizeOf(a.shape);
  const out = allocArray(a.dtype, n);
  const c = arrayOf(cond);
  const srcA = arrayOf(a);
  const srcB = arrayOf(b);
  const offC = elementOffsets(cond.shape, cond.strides, cond.offset);
  const offA = elementOffsets(a.shape, a.strides, a.offset);
  const offB = elementOffsets(b.shape, b.strides, b.offset);
  for (let i = 0; i < n; i++) out[i] = c[offC[i]] !== 0 ? srcA[offA[i]] : srcB[offB[i]];
  return out;
}

/** A buffer of `size` copies of `value`. */
export function fill(size: number, value: number, dtype: DType): TypedArray {
  const out = allocArray(dtype, size);
  out.fill(dtype === "bool" ? TO_BOOL(value) : value);
  return out;
}
