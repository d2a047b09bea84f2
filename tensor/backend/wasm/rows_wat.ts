// Row kernels in WebAssembly SIMD: layer normalisation and softmax over the last axis of
// contiguous rows of D, and their input gradients. Tasks are rows. Row statistics (sums,
// means, variances) accumulate in float64 lanes, as the JavaScript kernels do; the
// per-element arithmetic is float32. Legend: D row length · x̂ = (x − mean)·rstd.
//
//   layer_norm       y = x̂ · weight + bias,  rstd = 1/√(Σ(x − mean)²/D + eps)
//   layer_norm_grad  h = g · weight,  dx = rstd · (h − Σh/D − x̂ · Σ(h·x̂)/D)
//   softmax          y = e^(x − max) / Σ e^(x − max)   (e is staged in the output row)
//   softmax_grad     dx = y · (g − Σ g·y)
// Elements past the last multiple of four go through the same v128 arithmetic on a
// vector holding them, so the split of a row into fours never changes a value.

import { ROWS as R } from "./layouts.ts";
import { exp } from "./math_wat.ts";
import {
  get,
  inc,
  KERNEL_PARAMS,
  locals,
  param,
  paramF32,
  promoteHigh,
  promoteLow,
  Scope,
  set,
  sumLanes,
  whileLoop,
} from "./wat.ts";

const ZERO = "(v128.const i32x4 0 0 0 0)";

/** Four elements of row pointer `p` at byte offset `$at`. */
const four = (p: string) => `(v128.load (i32.add ${get(p)} ${get("at")}))`;
/** One element of row pointer `p` at `$at`, splatted to four lanes. */
const one = (p: string) => `(f32x4.splat (f32.load (i32.add ${get(p)} ${get("at")})))`;
/** One element of row pointer `p` at `$at`, as float64. */
const one64 = (p: string) => `(f64.promote_f32 (f32.load (i32.add ${get(p)} ${get("at")})))`;

/** Loops `$at` over a row: four elements per step while they last, then one per step. */
function overRow(label: string, fourStep: string, oneStep: string): string {
  return `
      ${set("at", "(i32.const 0)")}
      ${
    whileLoop(
      `${label}4`,
      `(i32.le_u (i32.add ${get("at")} (i32.const 16)) ${get("bytes")})`,
      `${fourStep} ${inc("at", 16)}`,
    )
  }
      ${
    whileLoop(`${label}1`, `(i32.lt_u ${get("at")} ${get("bytes")})`, `${oneStep} ${inc("at", 4)}`)
  }`;
}

/** Writes `value` (v128) to the output row: four lanes, or lane 0 for a single element. */
const storeFour = (value: string) => `(v128.store (i32.add ${get("po")} ${get("at")}) ${value})`;
const storeOne = (value: string) =>
  `(f32.store (i32.add ${get("po")} ${get("at")}) (f32x4.extract_lane 0 ${value}))`;

/** `$total` = Σ of the f64x2 accumulators `$lo`, `$hi` and the one-at-a-time part `$total`. */
const combine = (total: string, lo: string, hi: string) =>
  set(total, `(f64.add (f64.add ${sumLanes(get(lo))} ${sumLanes(get(hi))}) ${get(total)})`);

/** Mean and rstd of the row at `$px`: `$mean`, `$rstd` (f64), `$meanV`, `$rstdV` (f32x4). */
function rowStats(): string {
  return `
      ${set("lo", ZERO)} ${set("hi", ZERO)} ${set("s1", "(f64.const 0)")}
      ${
    overRow(
      "mean",
      `${set("v", four("px"))}
       ${set("lo", `(f64x2.add ${get("lo")} ${promoteLow(get("v"))})`)}
       ${set("hi", `(f64x2.add ${get("hi")} ${promoteHigh(get("v"))})`)}`,
      set("s1", `(f64.add ${get("s1")} ${one64("px")})`),
    )
  }
      ${combine("s1", "lo", "hi")}
      ${set("mean", `(f64.div ${get("s1")} ${get("d")})`)}
      ${set("mean2", `(f64x2.splat ${get("mean")})`)}
      ${set("lo", ZERO)} ${set("hi", ZERO)} ${set("s2", "(f64.const 0)")}
      ${
    overRow(
      "var",
      `${set("v", four("px"))}
       ${set("t", `(f64x2.sub ${promoteLow(get("v"))} ${get("mean2")})`)}
       ${set("lo", `(f64x2.add ${get("lo")} (f64x2.mul ${get("t")} ${get("t")}))`)}
       ${set("t", `(f64x2.sub ${promoteHigh(get("v"))} ${get("mean2")})`)}
       ${set("hi", `(f64x2.add ${get("hi")} (f64x2.mul ${get("t")} ${get("t")}))`)}`,
      `${set("x", `(f64.sub ${one64("px")} ${get("mean")})`)}
       ${set("s2", `(f64.add ${get("s2")} (f64.mul ${get("x")} ${get("x")}))`)}`,
    )
  }
      ${combine("s2", "lo", "hi")}
      ${
    set(
      "rstd",
      `(f64.div (f64.const 1) (f64.sqrt (f64.add (f64.div ${get("s2")} ${
        get("d")
      }) (f64.promote_f32 ${paramF32(R.eps)}))))`,
    )
  }
      ${set("rstd2", `(f64x2.splat ${get("rstd")})`)}
      ${set("meanV", `(f32x4.splat (f32.demote_f64 ${get("mean")}))`)}
      ${set("rstdV", `(f32x4.splat (f32.demote_f64 ${get("rstd")}))`)}`;
}

/** A row kernel: `body` runs for each row r in [start, end) with the row pointers set. */
function rowsKernel(name: string, body: string, scope = new Scope()): string {
  return `
  (func (export "${name}") ${KERNEL_PARAMS}
    ${scope.locals()}
    ${locals("i32", "r", "bytes", "rowStart", "px", "pg", "po", "at", "pw", "pb")}
    ${
    locals(
      "v128",
      "v",
      "h",
      "lo",
      "hi",
      "lo2",
      "hi2",
      "t",
      "u",
      "meanV",
      "rstdV",
      "mean2",
      "rstd2",
      "c1",
      "c2",
    )
  }
    ${locals("f64", "d", "mean", "rstd", "s1", "s2", "x", "y")}
    ${scope.init()}
    ${set("bytes", `(i32.shl ${param(R.d)} (i32.const 2))`)}
    ${set("d", `(f64.convert_i32_u ${param(R.d)})`)}
    ${set("pw", param(R.weight))} ${set("pb", param(R.bias))}
    ${set("r", get("start"))}
    ${
    whileLoop(
      "rows",
      `(i32.lt_u ${get("r")} ${get("end")})`,
      `
      ${set("rowStart", `(i32.mul ${get("r")} ${get("bytes")})`)}
      ${set("px", `(i32.add ${param(R.x)} ${get("rowStart")})`)}
      ${set("pg", `(i32.add ${param(R.g)} ${get("rowStart")})`)}
      ${set("po", `(i32.add ${param(R.out)} ${get("rowStart")})`)}
      ${body}
      ${inc("r", 1)}`,
    )
  })`;
}

function layerNorm(): string {
  // y = x̂·weight + bias, with `load` reading four elements or one
  const y = (load: (p: string) => string) => `
       ${set("v", `(f32x4.mul (f32x4.sub ${load("px")} ${get("meanV")}) ${get("rstdV")})`)}
       (if ${get("pw")} (then ${set("v", `(f32x4.mul ${get("v")} ${load("pw")})`)}))
       (if ${get("pb")} (then ${set("v", `(f32x4.add ${get("v")} ${load("pb")})`)}))`;
  return rowsKernel(
    "layer_norm",
    `${rowStats()}
      ${overRow("out", `${y(four)} ${storeFour(get("v"))}`, `${y(one)} ${storeOne(get("v"))}`)}`,
  );
}

function layerNormGrad(): string {
  // h = g·weight (or g), in float32
  const h = (load: (p: string) => string) =>
    set(
      "h",
      `(if (result v128) ${get("pw")} (then (f32x4.mul ${load("pg")} ${load("pw")})) (else ${
        load("pg")
      }))`,
    );
  // x̂ in float64 from a f64x2 of x
  const xhat2 = (x: string) => `(f64x2.mul (f64x2.sub ${x} ${get("mean2")}) ${get("rstd2")})`;
  const sumsFour = `${h(four)} ${set("v", four("px"))}
       ${set("t", promoteLow(get("h")))} ${set("u", xhat2(promoteLow(get("v"))))}
       ${set("lo", `(f64x2.add ${get("lo")} ${get("t")})`)}
       ${set("lo2", `(f64x2.add ${get("lo2")} (f64x2.mul ${get("t")} ${get("u")}))`)}
       ${set("t", promoteHigh(get("h")))} ${set("u", xhat2(promoteHigh(get("v"))))}
       ${set("hi", `(f64x2.add ${get("hi")} ${get("t")})`)}
       ${set("hi2", `(f64x2.add ${get("hi2")} (f64x2.mul ${get("t")} ${get("u")}))`)}`;
  const sumsOne = `${h(one)}
       ${set("y", `(f64.promote_f32 (f32x4.extract_lane 0 ${get("h")}))`)}
       ${set("s1", `(f64.add ${get("s1")} ${get("y")})`)}
       ${
    set(
      "s2",
      `(f64.add ${get("s2")} (f64.mul ${get("y")} (f64.mul (f64.sub ${one64("px")} ${
        get("mean")
      }) ${get("rstd")})))`,
    )
  }`;
  // dx = rstd·(h − Σh/D − x̂·Σ(h·x̂)/D)
  const dx = (load: (p: string) => string) =>
    `${h(load)}
       ${set("v", `(f32x4.mul (f32x4.sub ${load("px")} ${get("meanV")}) ${get("rstdV")})`)}
       ${
      set(
        "v",
        `(f32x4.mul ${get("rstdV")} (f32x4.sub (f32x4.sub ${get("h")} ${get("c1")}) (f32x4.mul ${
          get("v")
        } ${get("c2")})))`,
      )
    }`;
  return rowsKernel(
    "layer_norm_grad",
    `${rowStats()}
      ${set("lo", ZERO)} ${set("hi", ZERO)} ${set("lo2", ZERO)} ${set("hi2", ZERO)}
      ${set("s1", "(f64.const 0)")} ${set("s2", "(f64.const 0)")}
      ${overRow("sums", sumsFour, sumsOne)}
      ${combine("s1", "lo", "hi")} ${combine("s2", "lo2", "hi2")}
      ${set("c1", `(f32x4.splat (f32.demote_f64 (f64.div ${get("s1")} ${get("d")})))`)}
      ${set("c2", `(f32x4.splat (f32.demote_f64 (f64.div ${get("s2")} ${get("d")})))`)}
      ${overRow("out", `${dx(four)} ${storeFour(get("v"))}`, `${dx(one)} ${storeOne(get("v"))}`)}`,
  );
}

function softmax(): string {
  const scope = new Scope();
  return rowsKernel(
    "softmax",
    `
      ;; the row's maximum (NaN propagates: a row with a NaN is NaN)
      ${set("v", `(f32x4.splat (f32.const -inf))`)}
      ${
      overRow(
        "max",
        set("v", `(f32x4.max ${get("v")} ${four("px")})`),
        set("v", `(f32x4.max ${get("v")} ${one("px")})`),
      )
    }
      ${
      set(
        "c1",
        `(f32x4.splat (f32.max (f32.max (f32x4.extract_lane 0 ${get("v")}) (f32x4.extract_lane 1 ${
          get("v")
        })) (f32.max (f32x4.extract_lane 2 ${get("v")}) (f32x4.extract_lane 3 ${get("v")}))))`,
      )
    }
      ;; e = exp(x − max) into the output row, Σe in float64
      ${set("lo", ZERO)} ${set("hi", ZERO)} ${set("s1", "(f64.const 0)")}
      ${
      overRow(
        "exp",
        `${set("t", `(f32x4.sub ${four("px")} ${get("c1")})`)} ${exp(scope, "v", get("t"))}
         ${storeFour(get("v"))}
         ${set("lo", `(f64x2.add ${get("lo")} ${promoteLow(get("v"))})`)}
         ${set("hi", `(f64x2.add ${get("hi")} ${promoteHigh(get("v"))})`)}`,
        `${set("t", `(f32x4.sub ${one("px")} ${get("c1")})`)} ${exp(scope, "v", get("t"))}
         ${storeOne(get("v"))}
         ${
          set("s1", `(f64.add ${get("s1")} (f64.promote_f32 (f32x4.extract_lane 0 ${get("v")})))`)
        }`,
      )
    }
      ${combine("s1", "lo", "hi")}
      ${set("c2", `(f32x4.splat (f32.demote_f64 ${get("s1")}))`)}
      ${
      overRow(
        "div",
        storeFour(`(f32x4.div ${four("po")} ${get("c2")})`),
        storeOne(`(f32x4.div ${one("po")} ${get("c2")})`),
      )
    }`,
    scope,
  );
}

function softmaxGrad(): string {
  // x holds y (the softmax output), g the cotangent
  return rowsKernel(
    "softmax_grad",
    `
      ${set("lo", ZERO)} ${set("hi", ZERO)} ${set("s1", "(f64.const 0)")}
      ${
      overRow(
        "dot",
        `${set("v", four("px"))} ${set("h", four("pg"))}
         ${
          set(
            "lo",
            `(f64x2.add ${get("lo")} (f64x2.mul ${promoteLow(get("v"))} ${promoteLow(get("h"))}))`,
          )
        }
         ${
          set(
            "hi",
            `(f64x2.add ${get("hi")} (f64x2.mul ${promoteHigh(get("v"))} ${
              promoteHigh(get("h"))
            }))`,
          )
        }`,
        set("s1", `(f64.add ${get("s1")} (f64.mul ${one64("px")} ${one64("pg")}))`),
      )
    }
      ${combine("s1", "lo", "hi")}
      ${set("c1", `(f32x4.splat (f32.demote_f64 ${get("s1")}))`)}
      ${
      overRow(
        "out",
        storeFour(`(f32x4.mul ${four("px")} (f32x4.sub ${four("pg")} ${get("c1")}))`),
        storeOne(`(f32x4.mul ${one("px")} (f32x4.sub ${one("pg")} ${get("c1")}))`),
      )
    }`,
  );
}

/** All row kernels, as WAT function definitions. */
export function rowKernels(): string {
  return layerNorm() + layerNormGrad() + softmax() + softmaxGrad();
}
