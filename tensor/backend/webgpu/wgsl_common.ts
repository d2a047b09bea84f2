// WGSL shared by the kernels: the parameter block, strided view indexing, and accurate
// float32 math.
//
// Why our own math: WGSL's built-ins are allowed to be loose and some are (on llvmpipe
// tanh(1e-6) is 1.3 % off and log(1 + 1e-6) 4.6 %); WGSL has no erf, log1p or expm1.
// So: log1p from the atanh series 2(s + s³/3 + …), s = x/(2 + x), near 0; log through
// log1p near 1; expm1 by its Taylor series near 0; tanh from expm1; erf by its Taylor
// series near 0 and by the Numerical Recipes erfc approximation (fractional error below
// 1.2e-7) elsewhere; GELU from erfc so that its negative tail keeps relative precision;
// NaN tests on bit patterns, because a compiler may fold `x != x` to false.

import type { DType } from "../../dtype.ts";
import {
  ERF_TAYLOR_COEFFICIENTS,
  ERFC_COEFFICIENTS,
  EXPM1_TAYLOR_COEFFICIENTS,
} from "../../special_math.ts";
import { TEXTURE_ROW } from "./context.ts";

/** The WGSL scalar type that stores a dtype (bool is stored as one u32 per element). */
export function storageType(dtype: DType): string {
  switch (dtype) {
    case "float32":
      return "f32";
    case "int32":
      return "i32";
    case "bool":
      return "u32";
    case "float64":
      throw new Error(
        "Cannot use float64 on WebGPU: WGSL has no 64-bit floats; cast to float32 first",
      );
  }
}

/** The parameter block: u32 words at a dynamic offset of the uniform arena. */
export function paramsBlock(binding: number): string {
  return /* wgsl */ `
struct Params { w: array<vec4<u32>, 32> }
@group(0) @binding(${binding}) var<uniform> params: Params;
fn P(i: u32) -> u32 { return params.w[i / 4u][i % 4u]; }
fn Pi(i: u32) -> i32 { return bitcast<i32>(P(i)); }
fn Pf(i: u32) -> f32 { return bitcast<f32>(P(i)); }
`;
}

/** A storage-buffer binding of an array (`read_write` for outputs). */
export function storage(
  binding: number,
  name: string,
  type: string,
  access: "read" | "read_write" = "read",
): string {
  return `@group(0) @binding(${binding}) var<storage, ${access}> ${name}: array<${type}>;`;
}

/**
 * A kernel with one invocation per index below `count` (a WGSL u32 expression): its
 * `bindings` (the parameter block follows them), LINEAR_INDEX and `helpers`, then `body`
 * with the invocation's index named `index`.
 */
export function perIndexKernel(kernel: {
  bindings: readonly string[];
  helpers?: readonly string[];
  count: string;
  index: string;
  body: string;
}): string {
  return /* wgsl */ `
${kernel.bindings.join("\n")}
${paramsBlock(kernel.bindings.length)}
${LINEAR_INDEX}
${(kernel.helpers ?? []).join("\n")}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let ${kernel.index} = linearIndex(wid, nwg, lid);
  if (${kernel.index} >= ${kernel.count}) { return; }
${kernel.body}
}
`;
}

/** Outputs per invocation in elementwise kernels (see params.ts `elementwiseGrid`). */
export const ELEMENTS_PER_INVOCATION = 4;

/** The linear invocation index over a (possibly 2-D) grid of 64-wide workgroups. */
export const LINEAR_INDEX = /* wgsl */ `
const ELEMENTS: u32 = ${ELEMENTS_PER_INVOCATION}u;
fn linearIndex(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.x + wid.y * nwg.x) * 64u + lid;
}
`;

/**
 * Strided views in the parameter block. Layout (words): 0 n, 1 rank, 2–9 shape;
 * view k at 10 + 10k: offset, mode, 8 strides (i32). Modes (params.ts): 1 contiguous,
 * 2 a contiguous block broadcast (words 2, 3: d, m; index offset + ⌊i/d⌋ mod m), 3 one
 * value broadcast, 0 strided.
 */
export const VIEW_INDEX = /* wgsl */ `
fn viewIndex(i: u32, k: u32) -> u32 {
  let base = 10u + 10u * k;
  let mode = P(base + 1u);
  if (mode == 1u) { return P(base) + i; }
  if (mode == 3u) { return P(base); }
  if (mode == 2u) { return P(base) + (i / P(base + 2u)) % P(base + 3u); }
  var rem = i;
  var at = i32(P(base));
  for (var d = i32(P(1u)) - 1; d >= 0; d--) {
    let size = P(2u + u32(d));
    at += i32(rem % size) * Pi(base + 2u + u32(d));
    rem = rem / size;
  }
  return u32(at);
}
`;

/** A float literal (numbers with a decimal point, so WGSL infers f32 rather than i32). */
function float(c: number | string): string {
  if (typeof c === "string") return c;
  const text = String(c);
  return /[.e]/.test(text) ? text : `${text}.0`;
}

/**
 * WGSL lines evaluating a polynomial in `x` by Horner's rule into `var p`, coefficients
 * from the highest power down (numbers, or WGSL expressions as strings).
 */
function horner(x: string, coefficients: readonly (number | string)[], indent: string): string {
  const step = (c: number | string) =>
    typeof c === "number" && c < 0 ? `- ${float(-c)}` : `+ ${float(c)}`;
  return [
    `var p = ${float(coefficients[0])};`,
    ...coefficients.slice(1).map((c) => `p = p * ${x} ${step(c)};`),
  ].join(`\n${indent}`);
}

/** Accurate float32 special functions (names start with `t_`). */
export const MATH = /* wgsl */ `
fn t_isnan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn t_isfinite(x: f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u; }
// Non-zero (NaN included) is true, as IEEE comparisons and PyTorch's bool() have it.
fn t_truthy(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) != 0u; }
// NaN and ∞ come from a variable: a constant expression that evaluates to either is a
// shader-creation error in WGSL (Chrome's compiler enforces it; Deno's does not).
fn t_nan() -> f32 { var bits = 0x7fc00000u; return bitcast<f32>(bits); }
fn t_inf() -> f32 { var bits = 0x7f800000u; return bitcast<f32>(bits); }

fn t_log1p(x: f32) -> f32 {
  if (t_isnan(x)) { return x; }
  if (x < -0.3 || x > 0.6) {
    if (x == -1.0) { return -t_inf(); }
    if (x < -1.0) { return t_nan(); }
    return log(1.0 + x);
  }
  // log(1 + x) = 2·atanh(s) = 2(s + s³/3 + s⁵/5 + …), s = x/(2 + x), |s| < 0.24
  let s = x / (2.0 + x);
  let s2 = s * s;
  ${horner("s2", [17, 15, 13, 11, 9, 7, 5, 3].map((k) => `1.0 / ${k}.0`).concat("1.0"), "  ")}
  return 2.0 * s * p;
}

fn t_log(x: f32) -> f32 {
  if (x >= 0.7 && x <= 1.6) { return t_log1p(x - 1.0); } // x − 1 is exact here
  if (t_isnan(x) || x < 0.0) { return t_nan(); }
  if (x == 0.0) { return -t_inf(); }
  if (x == t_inf()) { return x; }
  return log(x);
}

fn t_exp(x: f32) -> f32 {
  if (x > 88.72284) { return t_inf(); }
  if (x < -103.97) { return 0.0; }
  return exp(x);
}

fn t_expm1(x: f32) -> f32 {
  if (abs(x) < 0.5) {
    // Taylor series to x¹⁰/10!: truncation below 3e-10 relative
    ${horner("x", EXPM1_TAYLOR_COEFFICIENTS, "    ")}
    return p * x;
  }
  return t_exp(x) - 1.0;
}

fn t_tanh(x: f32) -> f32 {
  if (t_isnan(x)) { return x; }
  let a = abs(x);
  var r: f32;
  if (a < 0.55) {
    let e = t_expm1(2.0 * a);
    r = e / (e + 2.0);
  } else if (a > 9.1) {
    r = 1.0;
  } else {
    r = 1.0 - 2.0 / (t_exp(2.0 * a) + 1.0);
  }
  return select(r, -r, x < 0.0);
}

fn t_sigmoid(x: f32) -> f32 {
  if (x >= 0.0) { return 1.0 / (1.0 + t_exp(-x)); }
  let e = t_exp(x);
  return e / (1.0 + e);
}

// erfc(x) for x ≥ 0 (Numerical Recipes' erfcc: fractional error < 1.2e-7)
fn t_erfc_pos(x: f32) -> f32 {
  let t = 1.0 / (1.0 + 0.5 * x);
  ${horner("t", ERFC_COEFFICIENTS, "  ")}
  return t * t_exp(p - x * x);
}

fn t_erfc(x: f32) -> f32 {
  if (t_isnan(x)) { return x; }
  if (x >= 0.0) { return t_erfc_pos(x); }
  return 2.0 - t_erfc_pos(-x);
}

fn t_erf(x: f32) -> f32 {
  if (t_isnan(x)) { return x; }
  let a = abs(x);
  if (a < 0.5) {
    // 2/√π (x − x³/3 + x⁵/10 − x⁷/42 + x⁹/216 − x¹¹/1320 + x¹³/9360)
    let x2 = x * x;
    ${horner("x2", ERF_TAYLOR_COEFFICIENTS, "    ")}
    return 1.1283791670955126 * x * p;
  }
  let r = 1.0 - t_erfc_pos(a);
  return select(r, -r, x < 0.0);
}

fn t_gelu(x: f32) -> f32 {
  // xΦ(x) with Φ(x) = ½ erfc(−x/√2): the negative tail keeps its relative precision
  if (x < 0.0) { return 0.5 * x * t_erfc_pos(-x * 0.70710678118654752); }
  return x * (1.0 - 0.5 * t_erfc_pos(x * 0.70710678118654752));
}

fn t_gelu_derivative(x: f32) -> f32 {
  // Φ(x) + x·φ(x), Φ as in t_gelu, φ(x) = e^(−x²/2)/√(2π)
  var cdf = 1.0 - 0.5 * t_erfc_pos(x * 0.70710678118654752);
  if (x < 0.0) { cdf = 0.5 * t_erfc_pos(-x * 0.70710678118654752); }
  return cdf + x * t_exp(-0.5 * x * x) * 0.3989422804014327;
}

fn t_gelu_tanh(x: f32) -> f32 {
  // ½x(1 + tanh u) = x·σ(2u), u = √(2/π)(x + 0.044715x³): no cancellation for x ≪ 0
  let u = 0.7978845608028654 * (x + 0.044715 * x * x * x);
  return x * t_sigmoid(2.0 * u);
}

fn t_pow(x: f32, y: f32) -> f32 {
  if (y == 0.0) { return 1.0; }
  if (t_isnan(x) || t_isnan(y)) { return t_nan(); }
  let ax = abs(x);
  var r: f32;
  if (ax == 0.0) {
    r = select(t_inf(), 0.0, y > 0.0);
  } else {
    r = exp2(y * log2(ax));
  }
  if ((bitcast<u32>(x) & 0x80000000u) != 0u) {
    // A negative base (−0 included) needs an integer exponent, whose parity gives the sign,
    // except ±0 and −∞: for any y that is not an integer, (−0)^y and (−∞)^y are +0 or +∞,
    // as C's pow.
    if (fract(y) != 0.0) { return select(t_nan(), r, ax == 0.0 || ax == t_inf()); }
    if (fract(y * 0.5) != 0.0) { r = -r; }
  }
  return r;
}

fn t_max(a: f32, b: f32) -> f32 {
  if (t_isnan(a) || t_isnan(b)) { return t_nan(); }
  return max(a, b);
}

fn t_min(a: f32, b: f32) -> f32 {
  if (t_isnan(a) || t_isnan(b)) { return t_nan(); }
  return min(a, b);
}

fn t_sign(x: f32) -> f32 {
  if (t_isnan(x)) { return x; }
  return select(select(0.0, 1.0, x > 0.0), -1.0, x < 0.0);
}
`;

/**
 * Declares float32 input `name` at `binding` as a texture filled by GpuContext.textureOf,
 * with `name_at(i)` reading its element i and `name_texel(t)` elements 4t … 4t + 3 (the
 * layout is described there).
 */
export function textureInput(name: string, binding: number): string {
  return /* wgsl */ `
@group(0) @binding(${binding}) var ${name}: texture_2d<f32>;
fn ${name}_texel(t: u32) -> vec4<f32> {
  return textureLoad(${name}, vec2<u32>(t & ${TEXTURE_ROW - 1}u, t >> ${
    Math.log2(TEXTURE_ROW)
  }u), 0);
}
fn ${name}_at(i: u32) -> f32 { return ${name}_texel(i >> 2u)[i & 3u]; }
`;
}
