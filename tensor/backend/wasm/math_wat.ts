// Special functions on four float32 lanes, in WebAssembly SIMD, for the kernels that need
// them (exp, erf, gelu and its derivative, softmax). Each is a `(func $name (param v128)
// (result v128))`; the elementwise kernels call it once per four elements and, for the
// last few elements of a row, on a vector holding one element, so a value gets the same
// result wherever it sits in a tensor and whichever thread computes it.
//
//   exp(x) = 2^n · e^r,  n = round(x / ln 2),  r = x − n·ln 2 (Cody–Waite: ln 2 in two
//            parts), e^r by a degree-7 polynomial (Cephes' expf, ~1 ulp); 2^n applied as
//            2^⌊n/2⌋ · 2^(n−⌊n/2⌋), so results that are subnormal or overflow come out right.
//   erfc(a), a ≥ 0: Numerical Recipes' erfcc, t = 1/(1 + a/2),
//            erfc ≈ t · exp(−a² + P(t)), fractional error < 1.2e-7.
//   erf(x):  the Taylor series x·Σ cₙx²ⁿ for |x| < ½, 1 − erfc(|x|) with x's sign beyond.
//   gelu(x) = x·Φ(x), Φ(x) = ½·erfc(−x/√2): for x < 0 as ½·x·erfc(|x|/√2) (no cancellation),
//            else x·(1 − ½·erfc(x/√2)).
//   gelu'(x) = Φ(x) + x·φ(x), φ(x) = e^(−x²/2)/√(2π).
// These are the algorithms of the float32 CPU functions in special_math.ts and of the
// WGSL kernels, in float32 arithmetic.

import { f32x4, get, horner, locals, set } from "./wat.ts";

const LOG2E = 1.4426950408889634;
const LN2_HI = 0.693359375;
const LN2_LO = -2.12194440e-4;
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

/** Numerical Recipes' erfcc polynomial in t, highest degree first. */
const ERFC_POLY = [
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

/** Taylor coefficients of erf(x)/(2x/√π) in x², highest degree first. */
const ERF_TAYLOR = [1 / 9360, -1 / 1320, 1 / 216, -1 / 42, 1 / 10, -1 / 3, 1];

/** The math functions, as WAT `(func …)` definitions. */
export function mathFunctions(): string {
  return `
  ;; e^x on four lanes (NaN → NaN, +inf → +inf, −inf → 0).
  (func $exp (param $x v128) (result v128)
    ${locals("v128", "z", "n", "r", "y")} ${locals("v128", "k", "k1")}
    ;; beyond [−104, 89] e^x is 0 or +inf in float32; the clamp keeps n in range
    ${set("z", `(f32x4.max (f32x4.min ${get("x")} ${f32x4(89)}) ${f32x4(-104)})`)}
    ${set("n", `(f32x4.nearest (f32x4.mul ${get("z")} ${f32x4(LOG2E)}))`)}
    ${set("r", `(f32x4.sub ${get("z")} (f32x4.mul ${get("n")} ${f32x4(LN2_HI)}))`)}
    ${set("r", `(f32x4.sub ${get("r")} (f32x4.mul ${get("n")} ${f32x4(LN2_LO)}))`)}
    ;; e^r ≈ 1 + r + r²·P(r)
    ${set("y", horner(get("r"), EXP_POLY))}
    ${
    set(
      "y",
      `(f32x4.add (f32x4.add (f32x4.mul ${get("y")} (f32x4.mul ${get("r")} ${get("r")})) ${
        get("r")
      }) ${f32x4(1)})`,
    )
  }
    ;; · 2^n as 2^k1 · 2^(n − k1), k1 = ⌊n/2⌋: each factor a normal float32
    ${set("k", "(i32x4.trunc_sat_f32x4_s (local.get $n))")}
    ${set("k1", "(i32x4.shr_s (local.get $k) (i32.const 1))")}
    ${set("k", "(i32x4.sub (local.get $k) (local.get $k1))")}
    (f32x4.mul
      (f32x4.mul ${get("y")} (i32x4.shl (i32x4.add ${
    get("k1")
  } (v128.const i32x4 127 127 127 127)) (i32.const 23)))
      (i32x4.shl (i32x4.add ${get("k")} (v128.const i32x4 127 127 127 127)) (i32.const 23))))

  ;; erfc(a) for a ≥ 0 (Numerical Recipes' erfcc).
  (func $erfc_nonnegative (param $a v128) (result v128)
    ${locals("v128", "t")}
    ${
    set(
      "t",
      `(f32x4.div ${f32x4(1)} (f32x4.add ${f32x4(1)} (f32x4.mul ${f32x4(0.5)} ${get("a")})))`,
    )
  }
    (f32x4.mul ${get("t")}
      (call $exp (f32x4.sub ${horner(get("t"), ERFC_POLY)} (f32x4.mul ${get("a")} ${get("a")})))))

  ;; erf(x): Taylor series below |x| = ½, 1 − erfc(|x|) (with x's sign) beyond.
  (func $erf (param $x v128) (result v128)
    ${locals("v128", "x2", "series", "tail")}
    ${set("x2", `(f32x4.mul ${get("x")} ${get("x")})`)}
    ${
    set(
      "series",
      `(f32x4.mul (f32x4.mul ${f32x4(TWO_OVER_SQRT_PI)} ${get("x")}) ${
        horner(get("x2"), ERF_TAYLOR)
      })`,
    )
  }
    ${set("tail", `(f32x4.sub ${f32x4(1)} (call $erfc_nonnegative (f32x4.abs ${get("x")})))`)}
    ;; copy x's sign onto the tail: erf is odd
    ${
    set(
      "tail",
      `(v128.bitselect ${get("x")} ${
        get("tail")
      } (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000))`,
    )
  }
    (v128.bitselect ${get("series")} ${get("tail")} (f32x4.lt (f32x4.abs ${get("x")}) ${
    f32x4(0.5)
  })))

  ;; gelu(x) = x·Φ(x).
  (func $gelu (param $x v128) (result v128)
    ${locals("v128", "e")}
    ${set("e", `(call $erfc_nonnegative (f32x4.mul (f32x4.abs ${get("x")}) ${f32x4(SQRT_HALF)}))`)}
    (v128.bitselect
      (f32x4.mul (f32x4.mul ${f32x4(0.5)} ${get("x")}) ${get("e")})
      (f32x4.mul ${get("x")} (f32x4.sub ${f32x4(1)} (f32x4.mul ${f32x4(0.5)} ${get("e")})))
      (f32x4.lt ${get("x")} ${f32x4(0)})))

  ;; gelu'(x) = Φ(x) + x·φ(x).
  (func $gelu_derivative (param $x v128) (result v128)
    ${locals("v128", "e", "cdf")}
    ${set("e", `(call $erfc_nonnegative (f32x4.mul (f32x4.abs ${get("x")}) ${f32x4(SQRT_HALF)}))`)}
    ${
    set(
      "cdf",
      `(v128.bitselect (f32x4.mul ${f32x4(0.5)} ${get("e")}) (f32x4.sub ${f32x4(1)} (f32x4.mul ${
        f32x4(0.5)
      } ${get("e")})) (f32x4.lt ${get("x")} ${f32x4(0)}))`,
    )
  }
    (f32x4.add ${get("cdf")}
      (f32x4.mul ${get("x")}
        (f32x4.mul (call $exp (f32x4.mul ${f32x4(-0.5)} (f32x4.mul ${get("x")} ${get("x")})))
          ${f32x4(INV_SQRT_2PI)}))))
`;
}
