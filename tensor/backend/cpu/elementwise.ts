// CPU kernels for elementwise ops: one scalar function per op, applied over views.
// Values are computed in float64 and rounded when stored into the output array
// (a Float32Array store rounds to nearest float32; an Int32Array store truncates).

import type { BinaryOp, UnaryOp } from "../../backend.ts";
import { allocArray, type DType, type TypedArray } from "../../dtype.ts";
import {
  erfScalar,
  geluScalar,
  geluTanhScalar,
  roundHalfEvenScalar,
  sigmoidScalar,
} from "../../special_math.ts";
import { sizeOf } from "../../shape.ts";
import type { View } from "../../tensor.ts";
import { arrayOf, elementOffsets, isDense } from "./strided.ts";

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

/** Storage indices of a view's elements, or null when they are simply offset + i. */
function offsetsOrNull(x: View): Int32Array | null {
  return isDense(x) ? null : elementOffsets(x.shape, x.strides, x.offset);
}

/** `out[i] = op(x[i])`. */
export function unary(op: UnaryOp, x: View, outDtype: DType): TypedArray {
  const f = op === "copy" && outDtype === "bool" && x.dtype !== "bool" ? TO_BOOL : UNARY[op];
  const n = sizeOf(x.shape);
  const out = allocArray(outDtype, n);
  const src = arrayOf(x);
  const offsets = offsetsOrNull(x);
  if (offsets === null) {
    const base = x.offset;
    for (let i = 0; i < n; i++) out[i] = f(src[base + i]);
  } else {
    for (let i = 0; i < n; i++) out[i] = f(src[offsets[i]]);
  }
  return out;
}

/** `out[i] = op(a[i], b[i])` for two views of the same shape. */
export function binary(op: BinaryOp, a: View, b: View, outDtype: DType): TypedArray {
  const f = op === "mul" && outDtype === "int32" ? INT_MUL : BINARY[op];
  const n = sizeOf(a.shape);
  const out = allocArray(outDtype, n);
  const srcA = arrayOf(a);
  const srcB = arrayOf(b);
  const offA = offsetsOrNull(a);
  const offB = offsetsOrNull(b);
  if (offA === null && offB === null) {
    const baseA = a.offset;
    const baseB = b.offset;
    for (let i = 0; i < n; i++) out[i] = f(srcA[baseA + i], srcB[baseB + i]);
  } else {
    for (let i = 0; i < n; i++) {
      const va = offA === null ? srcA[a.offset + i] : srcA[offA[i]];
      const vb = offB === null ? srcB[b.offset + i] : srcB[offB[i]];
      out[i] = f(va, vb);
    }
  }
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
