// Scalar special functions in float64, for the CPU backend and the PRNG.
//
// JavaScript has no erf, so we build one that is accurate to ~1e-15 relative error:
// the float64 gradient checks compare against finite differences at 1e-6 relative
// tolerance, so the oracle's own functions must be far better than that.
//
//   erf(x)  = 2/√π Σ_n (-1)^n x^(2n+1) / (n! (2n+1))          (Taylor series, |x| < 2.5)
//   erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …))))   (continued fraction, x ≥ 2.5)

const TWO_OVER_SQRT_PI = 1.1283791670955126; // 2/√π
const INV_SQRT_PI = 0.5641895835477563; // 1/√π
const SQRT_HALF = 0.7071067811865476; // 1/√2
const INV_SQRT_2PI = 0.3989422804014327; // 1/√(2π)

/** Taylor coefficients of erf/(2/√π): (−1)^n / (n!·(2n + 1)), n = 0 … 59. */
const ERF_TAYLOR = (() => {
  const c = new Float64Array(60);
  let factorial = 1;
  for (let n = 0; n < 60; n++) {
    if (n > 0) factorial *= n;
    c[n] = (n % 2 === 0 ? 1 : -1) / (factorial * (2 * n + 1));
  }
  return c;
})();

/**
 * Taylor series of erf around 0, for |x| < 2.5, by Horner's rule in x² with just enough
 * terms that the first one left out is below 1e-17 of the sum.
 */
function erfSeries(x: number): number {
  const x2 = x * x;
  const terms = x2 < 0.25 ? 14 : x2 < 2.25 ? 30 : 52;
  let p = 0;
  for (let n = terms - 1; n >= 0; n--) p = p * x2 + ERF_TAYLOR[n];
  return TWO_OVER_SQRT_PI * x * p;
}

/** erfc(x) for x ≥ 2.5 by Lentz's evaluation of the Laplace continued fraction. */
function erfcContinuedFraction(x: number): number {
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let n = 1; n < 500; n++) {
    const a = n / 2;
    d = x + a * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = x + a / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return (Math.exp(-x * x) * INV_SQRT_PI) / f;
}

/**
 * The error function erf(x) = 2/√π ∫₀ˣ e^(−t²) dt, to about 1e-15 relative error.
 *
 * @param x any number
 * @returns erf(x) in [−1, 1]
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { erfScalar } from "@tessella/tessella";
 * assert.ok(Math.abs(erfScalar(1) - 0.8427007929497149) < 1e-15);
 * ```
 */
export function erfScalar(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax < 2.5) return erfSeries(x);
  const value = 1 - erfcContinuedFraction(ax);
  return x < 0 ? -value : value;
}

/** The complementary error function erfc(x) = 1 − erf(x), accurate in the far tail. */
export function erfcScalar(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x >= 2.5) return erfcContinuedFraction(x);
  if (x <= -2.5) return 2 - erfcContinuedFraction(-x);
  return 1 - erfSeries(x);
}

/**
 * The inverse error function: the x with erf(x) = y, for y in (−1, 1).
 *
 * Starts from Giles' single-precision approximation ("Approximating the erfinv function",
 * GPU Computing Gems, 2011; ~1e-7 relative error) and polishes with one Halley step on
 * f(x) = erf(x) − y, where f' = 2/√π e^(−x²) and f'' = −2x f', so a step is
 * x ← x − f / (f' + x f). Halley's cubic convergence takes 1e-7 to below float64
 * rounding. In the tails the residual is taken from erfc to keep its digits.
 */
export function erfinvScalar(y: number): number {
  if (Number.isNaN(y) || y < -1 || y > 1) return NaN;
  if (y === 1) return Infinity;
  if (y === -1) return -Infinity;
  if (y === 0) return 0;
  let w = -Math.log((1 - y) * (1 + y));
  let p: number;
  if (w < 5) {
    w -= 2.5;
    p = 2.81022636e-8;
    p = 3.43273939e-7 + p * w;
    p = -3.5233877e-6 + p * w;
    p = -4.39150654e-6 + p * w;
    p = 0.00021858087 + p * w;
    p = -0.00125372503 + p * w;
    p = -0.00417768164 + p * w;
    p = 0.246640727 + p * w;
    p = 1.50140941 + p * w;
  } else {
    w = Math.sqrt(w) - 3;
    p = -0.000200214257;
    p = 0.000100950558 + p * w;
    p = 0.00134934322 + p * w;
    p = -0.00367342844 + p * w;
    p = 0.00573950773 + p * w;
    p = -0.0076224613 + p * w;
    p = 0.00943887047 + p * w;
    p = 1.00167406 + p * w;
    p = 2.83297682 + p * w;
  }
  const sign = y < 0 ? -1 : 1;
  const ay = Math.abs(y);
  let x = Math.abs(p * y);
  // One Halley step: Giles' ~1e-7 start becomes ~1e-21, below float64 rounding.
  const f = ay > 0.9 ? (1 - ay) - erfcScalar(x) : erfScalar(x) - ay;
  const fPrime = TWO_OVER_SQRT_PI * Math.exp(-x * x);
  if (f !== 0 && fPrime !== 0) x -= f / (fPrime + x * f);
  return sign * x;
}

/** GELU, exact form: x·Φ(x) = ½·x·erfc(−x/√2) (erfc keeps precision for negative x). */
export function geluScalar(x: number): number {
  return 0.5 * x * erfcScalar(-x * SQRT_HALF);
}

/** d/dx GELU(x) = Φ(x) + x·φ(x), φ(x) = e^(−x²/2)/√(2π) (one kernel for gelu's VJP). */
export function geluDerivativeScalar(x: number): number {
  return 0.5 * erfcScalar(-x * SQRT_HALF) + x * Math.exp(-0.5 * x * x) * INV_SQRT_2PI;
}

/** GELU, tanh approximation: ½·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
export function geluTanhScalar(x: number): number {
  const inner = 0.7978845608028654 * (x + 0.044715 * x * x * x);
  return 0.5 * x * (1 + Math.tanh(inner));
}

/** The logistic sigmoid 1/(1 + e^(−x)), written so that neither branch overflows. */
export function sigmoidScalar(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/** Rounds half to even, as NumPy and PyTorch do (`round(2.5) = 2`). */
export function roundHalfEvenScalar(x: number): number {
  if (!Number.isFinite(x)) return x;
  if (Math.abs(x % 1) === 0.5) return 2 * Math.round(x / 2);
  return Math.round(x);
}

/**
 * Numerical Recipes' erfcc: erfc(x) = t·exp(p(t) − x²) for x ≥ 0, t = 1/(1 + x/2), with p's
 * coefficients from the highest power down (fractional error below 1.2e-7). The WebGPU
 * kernels evaluate the same polynomial.
 */
export const ERFC_COEFFICIENTS: readonly number[] = [
  0.17087277,
  -0.82215223,
  1.48851587,
  -1.13520398,
  0.27886807,
  -0.18628806,
  0.09678418,
  0.37409196,
  1.00002368,
  -1.26551223,
];

/** Taylor coefficients of erf(x)/(2x/√π) in x² (used for |x| < 0.5), highest degree first. */
export const ERF_TAYLOR_COEFFICIENTS: readonly number[] = [
  1 / 9360,
  -1 / 1320,
  1 / 216,
  -1 / 42,
  1 / 10,
  -1 / 3,
  1,
];

/** Taylor coefficients of (eˣ − 1)/x to x⁹/10! (used for |x| < 0.5), highest degree first. */
export const EXPM1_TAYLOR_COEFFICIENTS: readonly number[] = [
  1 / 3628800,
  1 / 362880,
  1 / 40320,
  1 / 5040,
  1 / 720,
  1 / 120,
  1 / 24,
  1 / 6,
  1 / 2,
  1,
];

/** p(x) by Horner's rule, coefficients from the highest power down. */
function polynomial(coefficients: readonly number[], x: number): number {
  let p = coefficients[0];
  for (let i = 1; i < coefficients.length; i++) p = p * x + coefficients[i];
  return p;
}

/** erfc(x) for x ≥ 0 with fractional error below 1.2e-7 (see ERFC_COEFFICIENTS). */
function erfcPositiveFloat32(x: number): number {
  const t = 1 / (1 + 0.5 * x);
  return t * Math.exp(polynomial(ERFC_COEFFICIENTS, t) - x * x);
}

/**
 * erf to float32 accuracy (~1.2e-7 relative), the same algorithm as the WebGPU kernels:
 * a 7-term Taylor series for |x| < 0.5, 1 − erfcc(|x|) beyond. Five times cheaper than
 * erfScalar; used for float32 tensors.
 */
export function erfFloat32Scalar(x: number): number {
  if (Number.isNaN(x)) return x;
  const a = Math.abs(x);
  if (a < 0.5) {
    return TWO_OVER_SQRT_PI * x * polynomial(ERF_TAYLOR_COEFFICIENTS, x * x);
  }
  const r = 1 - erfcPositiveFloat32(a);
  return x < 0 ? -r : r;
}

/** Exact GELU to float32 accuracy (see erfFloat32Scalar). */
export function geluFloat32Scalar(x: number): number {
  if (x < 0) return 0.5 * x * erfcPositiveFloat32(-x * SQRT_HALF);
  return x * (1 - 0.5 * erfcPositiveFloat32(x * SQRT_HALF));
}

/** d/dx GELU to float32 accuracy: Φ as in geluFloat32Scalar, plus x·φ(x). */
export function geluDerivativeFloat32Scalar(x: number): number {
  const cdf = x < 0
    ? 0.5 * erfcPositiveFloat32(-x * SQRT_HALF)
    : 1 - 0.5 * erfcPositiveFloat32(x * SQRT_HALF);
  return cdf + x * Math.exp(-0.5 * x * x) * INV_SQRT_2PI;
}
