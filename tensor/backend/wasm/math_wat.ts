// Special functions on four float32 lanes, in WebAssembly SIMD, for the kernels that need
// them (exp, tanh, erf, gelu and its derivative, softmax). Each generator emits
// statements that set a v128 local to f(x), inlined into the kernel's loop, its constants
// hoisted to the kernel's entry by a Scope (wat.ts). The elementwise kernels apply them
// to four elements at a time and, for the last few elements of a row, to a vector holding
// one element, so a value gets the same result wherever it sits in a tensor and whichever
// thread computes it.
//
//   exp(x) = 2^n · e^r,  n = round(x / ln 2),  r = x − n·ln 2 (Cody–Waite: ln 2 in two
//            parts), e^r by a degree-7 polynomial (Cephes' expf, ~1 ulp); 2^n applied as
//            2^⌊n/2⌋ · 2^(n−⌊n/2⌋), so results that are subnormal or overflow come out right.
//   tanh(x) = sign(x)·t(|x|): t(a) = e/(e + 2) with e = e^(2a) − 1 (by its Taylor series
//            for 2a < ½) below a = 0.55, where 1 − 2/(e^(2a) + 1) would cancel; above, the latter.
//   erfc(a), a ≥ 0: Numerical Recipes' erfcc, t = 1/(1 + a/2),
//            erfc ≈ t · exp(−a² + P(t)), fractional error < 1.2e-7.
//   erf(x):  the Taylor series x·Σ cₙx²ⁿ for |x| < ½, 1 − erfc(|x|) with x's sign beyond.
//   gelu(x) = x·Φ(x), Φ(x) = ½·erfc(−x/√2): for x < 0 as ½·x·erfc(|x|/√2) (no cancellation),
//            else x·(1 − ½·erfc(x/√2)).
//   gelu'(x) = Φ(x) + x·φ(x), φ(x) = e^(−x²/2)/√(2π).
// These are the algorithms of the float32 CPU functions in special_math.ts and of the
// WGSL kernels, in float32 arithmetic.

import {
  ERF_TAYLOR_COEFFICIENTS,
  ERFC_COEFFICIENTS,
  EXPM1_TAYLOR_COEFFICIENTS,
} from "../../special_math.ts";
import { get, horner, type Scope, set } from "./wat.ts";

const LOG2E = 1.4426950408889634;
const LN2_HI = 0.693359375;
const LN2_LO = -2.12194440e-4;
/** 1.5·2^23: adding it rounds a float32 of magnitude < 2^22 to an integer. */
const ROUNDER = 12582912;
/** The bit pattern of ROUNDER (0x4B400000). */
const ROUNDER_BITS = 0x4b400000;
const SQRT_HALF = 0.7071067811865476;
const INV_SQRT_2PI = 0.3989422804014327;
const TWO_OVER_SQRT_PI = 1.1283791670955126;

/** Cephes expf's polynomial for (e^r − 1 − r)/r², highest degree first. */
const EXP_POLY = [
  1.9875691500e-4,
  1.3981999507e-3,
  8.3334519073e-3,
  4.1665795894e-2,
  1.6666665459e-1,
  5.0000001201e-1,
];

/** Four lanes of one i32 constant (integer constants are cheap to rebuild in V8). */
const i32x4 = (v: number) => `(v128.const i32x4 ${v} ${v} ${v} ${v})`;

/** Statements setting local `out` to e^x (NaN → NaN, +inf → +inf, −inf → 0). */
export function exp(s: Scope, out: string, x: string): string {
  const [z, t, n, r, y, k, k1] = ["z", "t", "n", "r", "y", "k", "k1"].map((v) =>
    s.temp(`exp_${v}`)
  );
  return `
    ;; beyond [−104, 89] e^x is 0 or +inf in float32; the clamp keeps n in range. pmin and
    ;; pmax are single instructions, and keep a NaN in x (a comparison with NaN is false).
    ${set(z, `(f32x4.pmax (f32x4.pmin ${x} ${s.f32(89)}) ${s.f32(-104)})`)}
    ;; n = round(z / ln 2): adding 1.5·2^23 rounds to an integer (ties to even) and leaves
    ;; it in the low bits of the sum, so k = bits − bits(1.5·2^23) is n as an integer.
    ${set(t, `(f32x4.add (f32x4.mul ${get(z)} ${s.f32(LOG2E)}) ${s.f32(ROUNDER)})`)}
    ${set(n, `(f32x4.sub ${get(t)} ${s.f32(ROUNDER)})`)}
    ${set(k, `(i32x4.sub ${get(t)} ${i32x4(ROUNDER_BITS)})`)}
    ${set(r, `(f32x4.sub ${get(z)} (f32x4.mul ${get(n)} ${s.f32(LN2_HI)}))`)}
    ${set(r, `(f32x4.sub ${get(r)} (f32x4.mul ${get(n)} ${s.f32(LN2_LO)}))`)}
    ;; e^r ≈ 1 + r + r²·P(r)
    ${set(y, horner(s, get(r), EXP_POLY))}
    ${
    set(
      y,
      `(f32x4.add (f32x4.add (f32x4.mul ${get(y)} (f32x4.mul ${get(r)} ${get(r)})) ${get(r)}) ${
        s.f32(1)
      })`,
    )
  }
    ;; · 2^n as 2^k1 · 2^(k − k1), k1 = ⌊k/2⌋: each factor a normal float32
    ${set(k1, `(i32x4.shr_s ${get(k)} (i32.const 1))`)}
    ${set(k, `(i32x4.sub ${get(k)} ${get(k1)})`)}
    ${
    set(
      out,
      `(f32x4.mul
      (f32x4.mul ${get(y)} (i32x4.shl (i32x4.add ${get(k1)} ${i32x4(127)}) (i32.const 23)))
      (i32x4.shl (i32x4.add ${get(k)} ${i32x4(127)}) (i32.const 23)))`,
    )
  }`;
}

/** Statements setting `out` to tanh(x), x a local read. */
export function tanh(s: Scope, out: string, x: string): string {
  const [a, e, m, small] = ["a", "e", "m", "small"].map((v) => s.temp(`tanh_${v}`));
  return `
    ${set(a, `(f32x4.add (f32x4.abs ${x}) (f32x4.abs ${x}))`)} ;; 2|x|
    ${exp(s, e, get(a))}
    ;; e^(2a) − 1: the Taylor series below 2a = ½, else from the exponential
    ${
    set(
      m,
      `(v128.bitselect (f32x4.mul ${horner(s, get(a), EXPM1_TAYLOR_COEFFICIENTS)} ${
        get(a)
      }) (f32x4.sub ${get(e)} ${s.f32(1)}) (f32x4.lt ${get(a)} ${s.f32(0.5)}))`,
    )
  }
    ${set(small, `(f32x4.div ${get(m)} (f32x4.add ${get(m)} ${s.f32(2)}))`)}
    ${
    set(
      out,
      `(v128.bitselect ${get(small)} (f32x4.sub ${s.f32(1)} (f32x4.div ${s.f32(2)} (f32x4.add ${
        get(e)
      } ${s.f32(1)}))) (f32x4.lt ${get(a)} ${s.f32(1.1)}))`,
    )
  }
    ;; tanh is odd: x's sign on the result
    ${set(out, `(v128.bitselect ${x} ${get(out)} ${i32x4(0x80000000)})`)}`;
}

/** Statements setting `out` to erfc(a) for a ≥ 0 (Numerical Recipes' erfcc); a: a local read. */
function erfcNonnegative(s: Scope, out: string, a: string): string {
  const t = s.temp("erfc_t");
  return `
    ${set(t, `(f32x4.div ${s.f32(1)} (f32x4.add ${s.f32(1)} (f32x4.mul ${s.f32(0.5)} ${a})))`)}
    ${exp(s, out, `(f32x4.sub ${horner(s, get(t), ERFC_COEFFICIENTS)} (f32x4.mul ${a} ${a}))`)}
    ${set(out, `(f32x4.mul ${get(t)} ${get(out)})`)}`;
}

/** Statements setting `out` to erf(x), x a local read. */
export function erf(s: Scope, out: string, x: string): string {
  const [a, series, x2] = ["a", "series", "x2"].map((v) => s.temp(`erf_${v}`));
  return `
    ${set(a, `(f32x4.abs ${x})`)}
    ${set(x2, `(f32x4.mul ${x} ${x})`)}
    ${
    set(
      series,
      `(f32x4.mul (f32x4.mul ${s.f32(TWO_OVER_SQRT_PI)} ${x}) ${
        horner(s, get(x2), ERF_TAYLOR_COEFFICIENTS)
      })`,
    )
  }
    ${erfcNonnegative(s, out, get(a))}
    ${set(out, `(f32x4.sub ${s.f32(1)} ${get(out)})`)}
    ;; x's sign on the tail (erf is odd), the series below |x| = ½
    ${set(out, `(v128.bitselect ${x} ${get(out)} ${i32x4(0x80000000)})`)}
    ${set(out, `(v128.bitselect ${get(series)} ${get(out)} (f32x4.lt ${get(a)} ${s.f32(0.5)}))`)}`;
}

/** Statements setting `out` to Φ(x) (the standard normal CDF) through erfc; x a local read. */
function normalCdf(s: Scope, out: string, x: string): string {
  const e = s.temp("cdf_e");
  return `
    ${set(out, `(f32x4.mul (f32x4.abs ${x}) ${s.f32(SQRT_HALF)})`)}
    ${erfcNonnegative(s, e, get(out))}
    ${set(e, `(f32x4.mul ${s.f32(0.5)} ${get(e)})`)} ;; ½·erfc(|x|/√2) = Φ(−|x|)
    ${
    set(
      out,
      `(v128.bitselect ${get(e)} (f32x4.sub ${s.f32(1)} ${get(e)}) (f32x4.lt ${x} ${s.f32(0)}))`,
    )
  }`;
}

/** Statements setting `out` to gelu(x) = x·Φ(x), x a local read. */
export function gelu(s: Scope, out: string, x: string): string {
  const e = s.temp("gelu_e");
  return `
    ${erfcNonnegative(s, e, `(f32x4.mul (f32x4.abs ${x}) ${s.f32(SQRT_HALF)})`)}
    ${
    set(
      out,
      `(v128.bitselect
      (f32x4.mul (f32x4.mul ${s.f32(0.5)} ${x}) ${get(e)})
      (f32x4.mul ${x} (f32x4.sub ${s.f32(1)} (f32x4.mul ${s.f32(0.5)} ${get(e)})))
      (f32x4.lt ${x} ${s.f32(0)}))`,
    )
  }`;
}

/** Statements setting `out` to gelu'(x) = Φ(x) + x·φ(x), x a local read. */
export function geluDerivative(s: Scope, out: string, x: string): string {
  const pdf = s.temp("gelu_pdf");
  return `
    ${normalCdf(s, out, x)}
    ${exp(s, pdf, `(f32x4.mul ${s.f32(-0.5)} (f32x4.mul ${x} ${x}))`)}
    ${
    set(
      out,
      `(f32x4.add ${get(out)} (f32x4.mul ${x} (f32x4.mul ${get(pdf)} ${s.f32(INV_SQRT_2PI)})))`,
    )
  }`;
}
