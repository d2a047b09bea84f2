// Elementwise functions of two tensors (arithmetic, comparisons, logic), `where` and `clip`.
//
// Broadcasting happens before the primitive: both operands are promoted to a common
// dtype and `expand`ed to the common shape (free stride-0 views whose VJP sums the
// gradient back down). So every primitive here sees two equal shapes, and its VJP is one
// line per input.

import type { BinaryOp } from "./backend.ts";
import { asTensor, checkSameBackend, fromKernel, scalarOn, type TensorLike } from "./_core.ts";
import { type DType, promoteDTypes } from "./dtype.ts";
import { record } from "./recorder.ts";
import { broadcastShapes } from "./shape.ts";
import { Tensor } from "./tensor.ts";
import { expand } from "./movement.ts";
import { cast, log, neg } from "./unary.ts";

/**
 * Promotes two operands to one dtype and broadcasts them to one shape.
 * `minDType` lifts the result (e.g. true division needs at least float32).
 */
function prepare(
  op: string,
  a: TensorLike,
  b: TensorLike,
  minDType?: DType,
): [Tensor, Tensor] {
  let x = a instanceof Tensor ? a : asTensor(a, b instanceof Tensor ? b : undefined);
  let y = asTensor(b, x);
  checkSameBackend(op, [x, y]);
  let dtype = promoteDTypes(x.dtype, y.dtype);
  if (minDType !== undefined) dtype = promoteDTypes(dtype, minDType);
  x = cast(x, dtype);
  y = cast(y, dtype);
  const shape = broadcastShapes(x.shape, y.shape, op);
  return [expand(x, shape), expand(y, shape)];
}

/** Runs a binary kernel on two prepared (same dtype, same shape) tensors. */
function kernel(op: BinaryOp, x: Tensor, y: Tensor, outDtype: DType = x.dtype): Tensor {
  const backend = x.storage.backend;
  return fromKernel(backend, backend.binary(op, x, y, outDtype), x.shape, outDtype);
}

/** Arithmetic on bool operands counts them as int32 0/1, as NumPy's sum of bools does. */
function arithmetic(op: string, a: TensorLike, b: TensorLike, minDType?: DType): [Tensor, Tensor] {
  const [x, y] = prepare(op, a, b, minDType);
  return x.dtype === "bool" ? [cast(x, "int32"), cast(y, "int32")] : [x, y];
}

/**
 * Elementwise a + b, with NumPy broadcasting.
 *
 * @param a a tensor or number
 * @param b a tensor or number
 * @returns the sum, shaped as the broadcast of both shapes
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { add, tensor, toArray } from "@tessella/tessella";
 * const y = add(tensor([[1], [2]]), tensor([10, 20, 30])); // [2, 1] + [3] → [2, 3]
 * assert.deepEqual(await toArray(y), new Float32Array([11, 21, 31, 12, 22, 32]));
 * ```
 */
export function add(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = arithmetic("add", a, b);
  return record("add", [x, y], kernel("add", x, y), (g) => [g, g]);
}

/** Elementwise a − b, with broadcasting. */
export function sub(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = arithmetic("sub", a, b);
  return record("sub", [x, y], kernel("sub", x, y), (g) => [g, neg(g)]);
}

/** Elementwise a · b, with broadcasting. */
export function mul(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = arithmetic("mul", a, b);
  return record("mul", [x, y], kernel("mul", x, y), (g) => [mul(g, y), mul(g, x)]);
}

/** Elementwise true division a / b (integer operands give float32), with broadcasting. */
export function div(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = arithmetic("div", a, b, "float32");
  const out = kernel("div", x, y);
  // d/dx (x/y) = 1/y;  d/dy (x/y) = −x/y² = −out/y
  return record("div", [x, y], out, (g) => [div(g, y), neg(mul(g, div(out, y)))]);
}

/** Elementwise a^b (float), with broadcasting. */
export function pow(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = arithmetic("pow", a, b, "float32");
  const out = kernel("pow", x, y);
  return record("pow", [x, y], out, (g) => [
    // d/dx x^y = y·x^(y−1), taken as 0 where y = 0 (so 0^0 has slope 0, as JAX)
    mul(g, where(equal(y, 0), 0, mul(y, pow(x, sub(y, 1))))),
    // d/dy x^y = ln(x)·x^y, with ln(0) replaced by 0 (as JAX)
    mul(g, mul(out, log(where(equal(x, 0), 1, x)))),
  ]);
}

/** Share of the gradient that goes to `a` in max/min: 1 where a wins, ½ on ties. */
function winnerWeight(a: Tensor, b: Tensor, aWins: Tensor): Tensor {
  return where(aWins, 1, where(equal(a, b), 0.5, 0));
}

/** Elementwise maximum (NaN propagates), with broadcasting. */
export function maximum(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = prepare("maximum", a, b);
  return record("maximum", [x, y], kernel("maximum", x, y), (g) => {
    const w = cast(winnerWeight(x, y, greater(x, y)), g.dtype);
    return [mul(g, w), mul(g, sub(1, w))];
  });
}

/** Elementwise minimum (NaN propagates), with broadcasting. */
export function minimum(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = prepare("minimum", a, b);
  return record("minimum", [x, y], kernel("minimum", x, y), (g) => {
    const w = cast(winnerWeight(x, y, less(x, y)), g.dtype);
    return [mul(g, w), mul(g, sub(1, w))];
  });
}

function compare(op: BinaryOp, a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = prepare(op, a, b);
  return kernel(op, x, y, "bool");
}

/** Elementwise a == b as a bool tensor. */
export const equal = (a: TensorLike, b: TensorLike): Tensor => compare("equal", a, b);

/** Elementwise a != b as a bool tensor (NaN differs from everything, itself included). */
export const notEqual = (a: TensorLike, b: TensorLike): Tensor => compare("notEqual", a, b);

/** Elementwise a < b as a bool tensor. */
export const less = (a: TensorLike, b: TensorLike): Tensor => compare("less", a, b);

/** Elementwise a ≤ b as a bool tensor. */
export const lessEqual = (a: TensorLike, b: TensorLike): Tensor => compare("lessEqual", a, b);

/** Elementwise a > b as a bool tensor. */
export const greater = (a: TensorLike, b: TensorLike): Tensor => compare("greater", a, b);

/** Elementwise a ≥ b as a bool tensor. */
export const greaterEqual = (a: TensorLike, b: TensorLike): Tensor => compare("greaterEqual", a, b);

/** Elementwise logical and as a bool tensor (non-zero is true, NaN included). */
export const logicalAnd = (a: TensorLike, b: TensorLike): Tensor => compare("logicalAnd", a, b);

/** Elementwise logical or as a bool tensor (non-zero is true, NaN included). */
export const logicalOr = (a: TensorLike, b: TensorLike): Tensor => compare("logicalOr", a, b);

/**
 * Picks elementwise from `a` where `cond` is true and from `b` elsewhere; all three
 * broadcast together.
 *
 * @param cond a bool tensor (other dtypes count non-zero as true, NaN included)
 * @param a values where true
 * @param b values where false
 * @returns a tensor of the promoted dtype of `a` and `b`
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { greater, tensor, toArray, where } from "@tessella/tessella";
 * const x = tensor([-1, 2, -3]);
 * assert.deepEqual(await toArray(where(greater(x, 0), x, 0)), new Float32Array([0, 2, 0]));
 * ```
 */
export function where(cond: TensorLike, a: TensorLike, b: TensorLike): Tensor {
  let c = asTensor(cond);
  if (c.dtype !== "bool") c = cast(c, "bool");
  // With two plain-number branches, the first becomes a float32 scalar on the
  // condition's backend, and the second follows it.
  const first = a instanceof Tensor || b instanceof Tensor
    ? a
    : scalarOn(c.storage.backend, Number(a), "float32");
  let [x, y] = prepare("where", first, b);
  checkSameBackend("where", [c, x]);
  const shape = broadcastShapes(c.shape, x.shape, "where");
  c = expand(c, shape);
  x = expand(x, shape);
  y = expand(y, shape);
  const backend = x.storage.backend;
  const out = fromKernel(backend, backend.where(c, x, y), shape, x.dtype);
  // The gradient flows to whichever input was picked.
  return record("where", [c, x, y], out, (g) => [null, where(c, g, 0), where(c, 0, g)]);
}

/**
 * Limits values to `[min, max]` (either bound may be null), as `jnp.clip`.
 *
 * @param x the tensor
 * @param min lower bound, or null for none
 * @param max upper bound, or null for none
 * @returns `minimum(maximum(x, min), max)`
 */
export function clip(
  x: TensorLike,
  min: TensorLike | null,
  max: TensorLike | null,
): Tensor {
  let out = asTensor(x);
  if (min !== null) out = maximum(out, min);
  if (max !== null) out = minimum(out, max);
  return out;
}
