// Elementwise functions of one tensor, each with its derivative beside it, and `cast`.
//
// Every VJP is written with differentiable ops, so gradients of gradients work.
// Integer inputs to a real-valued function (exp of an int32 tensor) are first cast to
// float32, as in NumPy and JAX. Step functions (sign, floor, ceil, round) have zero
// derivative almost everywhere; they are simply not recorded, so gradients stop there.

import type { UnaryOp } from "./backend.ts";
import { asTensor, fromKernel, type TensorLike } from "./_core.ts";
import { checkDType, type DType, isFloatDType } from "./dtype.ts";
import { isRecording, record } from "./recorder.ts";
import type { Tensor } from "./tensor.ts";
import { add, div, greater, mul, sub } from "./binary.ts";

type Derivative = (g: Tensor, x: Tensor, out: Tensor) => Tensor;

/** Runs a unary kernel and records its VJP (unless `derivative` is null). */
function applyUnary(
  op: UnaryOp,
  input: TensorLike,
  derivative: Derivative | null,
  keepIntegers = false,
): Tensor {
  let x = asTensor(input);
  if (!keepIntegers && !isFloatDType(x.dtype)) x = cast(x, "float32");
  if (x.dtype === "bool") x = cast(x, "int32");
  const backend = x.storage.backend;
  const out = fromKernel(backend, backend.unary(op, x, x.dtype), x.shape, x.dtype);
  if (derivative === null) return out;
  return record(op, [x], out, (g) => [derivative(g, x, out)]);
}

/**
 * Converts elements to another dtype: floats to int32 truncate toward zero (NaN, ±∞ and
 * values outside int32's range are backend-specific, as in C: round or clip first), anything
 * to bool tests for non-zero (NaN is true), bool to numbers gives 0 or 1.
 *
 * @param x the tensor
 * @param dtype the target dtype
 * @returns `x` itself when it already has that dtype, else a converted copy
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cast, tensor, toArray } from "@tessella/tessella";
 * assert.deepEqual(await toArray(cast(tensor([1.7, -1.7]), "int32")), new Int32Array([1, -1]));
 * ```
 */
export function cast(x: Tensor, dtype: DType): Tensor {
  checkDType(dtype, "cast");
  if (x.dtype === dtype) return x;
  const backend = x.storage.backend;
  const out = fromKernel(backend, backend.unary("copy", x, dtype), x.shape, dtype);
  // Between float types the derivative is the identity (cast back); otherwise none.
  return record("cast", [x], out, (g) => [isFloatDType(x.dtype) ? cast(g, x.dtype) : null]);
}

/** Elementwise −x. */
export function neg(x: TensorLike): Tensor {
  return applyUnary("neg", x, (g) => neg(g), true); // d/dx (−x) = −1
}

/** Elementwise |x|. */
export function abs(x: TensorLike): Tensor {
  return applyUnary("abs", x, (g, x) => mul(g, sign(x)), true); // d/dx |x| = sign(x)
}

/**
 * Elementwise e^x.
 *
 * @param x the exponent
 * @returns a tensor of the same shape
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { exp, tensor, toArray } from "@tessella/tessella";
 * const [y] = await toArray(exp(tensor(0)));
 * assert.equal(y, 1);
 * ```
 */
export function exp(x: TensorLike): Tensor {
  return applyUnary("exp", x, (g, _x, out) => mul(g, out)); // d/dx e^x = e^x: the output
}

/** Elementwise natural logarithm. */
export function log(x: TensorLike): Tensor {
  return applyUnary("log", x, (g, x) => div(g, x)); // d/dx ln x = 1/x
}

/** Elementwise ln(1 + x), accurate for tiny x. */
export function log1p(x: TensorLike): Tensor {
  return applyUnary("log1p", x, (g, x) => div(g, add(x, 1))); // 1/(1 + x)
}

/** Elementwise √x. */
export function sqrt(x: TensorLike): Tensor {
  return applyUnary("sqrt", x, (g, _x, out) => div(g, mul(out, 2))); // 1/(2√x)
}

/** Elementwise 1/√x. */
export function rsqrt(x: TensorLike): Tensor {
  // d/dx x^(−1/2) = −½ x^(−3/2) = −½ · out / x
  return applyUnary("rsqrt", x, (g, x, out) => mul(g, mul(div(out, x), -0.5)));
}

/** Elementwise x². */
export function square(x: TensorLike): Tensor {
  return applyUnary("square", x, (g, x) => mul(g, mul(x, 2)), true); // 2x
}

/** Elementwise 1/x. */
export function reciprocal(x: TensorLike): Tensor {
  return applyUnary("reciprocal", x, (g, _x, out) => neg(mul(g, square(out)))); // −1/x²
}

/** Elementwise sine. */
export function sin(x: TensorLike): Tensor {
  return applyUnary("sin", x, (g, x) => mul(g, cos(x)));
}

/** Elementwise cosine. */
export function cos(x: TensorLike): Tensor {
  return applyUnary("cos", x, (g, x) => neg(mul(g, sin(x))));
}

/** Elementwise hyperbolic tangent. */
export function tanh(x: TensorLike): Tensor {
  return applyUnary("tanh", x, (g, _x, out) => mul(g, sub(1, square(out)))); // 1 − tanh²
}

/** Elementwise logistic sigmoid 1/(1 + e^(−x)). */
export function sigmoid(x: TensorLike): Tensor {
  return applyUnary("sigmoid", x, (g, _x, out) => mul(g, mul(out, sub(1, out)))); // σ(1 − σ)
}

/** Elementwise max(x, 0). */
export function relu(x: TensorLike): Tensor {
  // Derivative 1 where x > 0, else 0 (0 at the kink, as PyTorch and JAX).
  return applyUnary("relu", x, (g, x) => mul(g, cast(greater(x, 0), g.dtype)), true);
}

/** Elementwise error function erf(x) = 2/√π ∫₀ˣ e^(−t²) dt. */
export function erf(x: TensorLike): Tensor {
  // d/dx erf(x) = 2/√π · e^(−x²)
  return applyUnary("erf", x, (g, x) => mul(g, mul(exp(neg(square(x))), 1.1283791670955126)));
}

/**
 * Gaussian error linear unit. Exact form x·Φ(x) = ½x(1 + erf(x/√2)) by default (BEiT,
 * PyTorch `nn.GELU()`), or the tanh approximation with `{ approximate: "tanh" }`.
 *
 * @param x the input
 * @param options `approximate`: `"none"` (default) or `"tanh"`
 * @returns a tensor of the same shape
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gelu, tensor, toArray } from "@tessella/tessella";
 * const [y] = await toArray(gelu(tensor(1)));
 * assert.ok(Math.abs(y - 0.8413447) < 1e-6);
 * ```
 */
export function gelu(x: TensorLike, options: { approximate?: "none" | "tanh" } = {}): Tensor {
  const approximate = options.approximate ?? "none";
  if (approximate === "tanh") return applyUnary("geluTanh", x, geluTanhDerivative);
  if (approximate !== "none") {
    throw new Error(`Cannot gelu: approximate must be "none" or "tanh" (got "${approximate}")`);
  }
  // d/dx xΦ(x) = Φ(x) + x·φ(x), with φ(x) = e^(−x²/2)/√(2π): one kernel (geluDerivative),
  // or, while recording gradients of gradients, ops (the kernel has no derivative).
  return applyUnary("gelu", x, (g, x) => {
    if (!isRecording()) return mul(g, applyUnary("geluDerivative", x, null));
    const cdf = mul(add(erf(mul(x, Math.SQRT1_2)), 1), 0.5);
    const pdf = mul(exp(mul(square(x), -0.5)), 0.3989422804014327);
    return mul(g, add(cdf, mul(x, pdf)));
  });
}

/** d/dx ½x(1 + tanh u), u = c(x + 0.044715x³): ½(1 + t) + ½x(1 − t²)·c(1 + 3·0.044715x²). */
function geluTanhDerivative(g: Tensor, x: Tensor): Tensor {
  const c = 0.7978845608028654; // √(2/π)
  const x2 = square(x);
  const t = tanh(mul(mul(x, add(mul(x2, 0.044715), 1)), c));
  const du = mul(add(mul(x2, 3 * 0.044715), 1), c);
  const d = add(mul(add(t, 1), 0.5), mul(mul(mul(x, sub(1, square(t))), du), 0.5));
  return mul(g, d);
}

/** Elementwise sign: −1, 0 or 1 (zero derivative: not recorded). */
export function sign(x: TensorLike): Tensor {
  return applyUnary("sign", x, null, true);
}

/** Elementwise floor (zero derivative: not recorded). */
export function floor(x: TensorLike): Tensor {
  return applyUnary("floor", x, null, true);
}

/** Elementwise ceiling (zero derivative: not recorded). */
export function ceil(x: TensorLike): Tensor {
  return applyUnary("ceil", x, null, true);
}

/** Elementwise rounding, halves to even as NumPy (`round(2.5) = 2`); not recorded. */
export function round(x: TensorLike): Tensor {
  return applyUnary("round", x, null, true);
}

/** Elementwise logical not: a bool tensor, true where `x` is zero / false (NaN counts as true). */
export function logicalNot(x: TensorLike): Tensor {
  const t = asTensor(x);
  const backend = t.storage.backend;
  return fromKernel(backend, backend.unary("logicalNot", t, "bool"), t.shape, "bool");
}

/** Elementwise test for finite values (not NaN, not ±∞): a bool tensor. */
export function isFinite(x: TensorLike): Tensor {
  const t = asTensor(x);
  const backend = t.storage.backend;
  return fromKernel(backend, backend.unary("isFinite", t, "bool"), t.shape, "bool");
}
