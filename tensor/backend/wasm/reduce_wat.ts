// Reductions in WebAssembly SIMD: sums, accumulated in float64 (as the JavaScript kernels
// do) then rounded to float32 once, and maxima, minima and their indices.
//
//   sum_rows     tasks = outputs o. out[o] = Σ_i x[row(o) + i·stride], i < count, where
//                row(o) walks up to three outer axes with strides (REDUCE n1, n2, x0…x2).
//                Rows with stride 1 go four floats per step into two f64x2 accumulators.
//   sum_columns  tasks = columns c. out[c] = Σ_i x[c + i·stride], i < count: the bias
//                gradient Σ_rows g of a [rows, C] matrix, read row by row, 8 columns per
//                pass so each row's read is a run of 32 bytes.
// Each output sums its elements in one fixed order, whatever the task split.
//
//   max_rows, min_rows, argmax_rows, argmin_rows  rows as in sum_rows (see each below).

import { REDUCE as R } from "./layouts.ts";
import {
  get,
  inc,
  KERNEL_PARAMS,
  locals,
  param,
  promoteHigh,
  promoteLow,
  set,
  sumLanes,
  whileLoop,
} from "./wat.ts";

/** Sets `$px` to the first element of output `$o`'s row (up to three outer axes). */
function rowStart(): string {
  return `
      ${set("i2", `(i32.rem_u ${get("o")} ${get("n2")})`)}
      ${set("r", `(i32.div_u ${get("o")} ${get("n2")})`)}
      ${set("i1", `(i32.rem_u ${get("r")} ${get("n1")})`)}
      ${set("i0", `(i32.div_u ${get("r")} ${get("n1")})`)}
      ${
    set(
      "px",
      `(i32.add ${param(R.x)} (i32.shl (i32.add (i32.mul ${get("i0")} ${
        param(R.x0)
      }) (i32.add (i32.mul ${get("i1")} ${param(R.x1)}) (i32.mul ${get("i2")} ${
        param(R.x2)
      }))) (i32.const 2)))`,
    )
  }
`;
}

/** Declarations and setup shared by the row kernels: outer sizes, count, stride in bytes. */
const ROW_LOCALS = `${
  locals("i32", "o", "r", "i0", "i1", "i2", "n1", "n2", "count", "stride", "px", "q")
}`;
const rowSetup = () =>
  `${set("n1", param(R.n1))} ${set("n2", param(R.n2))} ${set("count", param(R.count))}
    ${set("stride", `(i32.shl ${param(R.stride)} (i32.const 2))`)}`;

/**
 * A row kernel `name`: for every output `$o` of the task's range, `$px` set to its row's
 * first element, then `perRow` (which stores the output).
 */
function rowsKernel(name: string, extraLocals: string, perRow: string): string {
  return `
  (func (export "${name}") ${KERNEL_PARAMS}
    ${ROW_LOCALS} ${extraLocals}
    ${rowSetup()}
    ${set("o", get("start"))}
    ${
    whileLoop(
      "outputs",
      `(i32.lt_u ${get("o")} ${get("end")})`,
      `${rowStart()}
      ${perRow}
      ${inc("o", 1)}`,
    )
  })`;
}

function sumRows(): string {
  return rowsKernel(
    "sum_rows",
    `${locals("v128", "v", "lo", "hi")} ${locals("f64", "tail")}`,
    `${set("lo", "(v128.const i32x4 0 0 0 0)")} ${set("hi", "(v128.const i32x4 0 0 0 0)")}
      ${set("tail", "(f64.const 0)")}
      ${set("q", get("count"))}
      (if (i32.eq ${get("stride")} (i32.const 4)) (then
        ${
      whileLoop(
        "four",
        `(i32.ge_u ${get("q")} (i32.const 4))`,
        `${set("v", `(v128.load ${get("px")})`)}
           ${set("lo", `(f64x2.add ${get("lo")} ${promoteLow(get("v"))})`)}
           ${set("hi", `(f64x2.add ${get("hi")} ${promoteHigh(get("v"))})`)}
           ${inc("px", 16)} ${inc("q", -4)}`,
      )
    }))
      ${
      whileLoop(
        "one",
        get("q"),
        `${set("tail", `(f64.add ${get("tail")} (f64.promote_f32 (f32.load ${get("px")})))`)}
           ${inc("px", get("stride"))} ${inc("q", -1)}`,
      )
    }
      (f32.store (i32.add ${param(R.out)} (i32.shl ${get("o")} (i32.const 2)))
        (f32.demote_f64 (f64.add (f64.add ${sumLanes(get("lo"))} ${sumLanes(get("hi"))}) ${
      get("tail")
    })))`,
  );
}

/** sum_columns (see the header): float64 lanes demoted and stored four at a time. */
function sumColumns(): string {
  const acc = ["a0", "a1", "a2", "a3"];
  const demote = (lo: string, hi: string) =>
    `(i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (f32x4.demote_f64x2_zero ${lo}) (f32x4.demote_f64x2_zero ${hi}))`;
  return `
  (func (export "sum_columns") ${KERNEL_PARAMS}
    ${locals("i32", "c", "count", "stride", "px", "q", "po")}
    ${locals("v128", "v", ...acc)} ${locals("f64", "s")}
    ${set("count", param(R.count))}
    ${set("stride", `(i32.shl ${param(R.stride)} (i32.const 2))`)}
    ${set("c", get("start"))}
    ${
    whileLoop(
      "eights",
      `(i32.le_u (i32.add ${get("c")} (i32.const 8)) ${get("end")})`,
      `
      ${acc.map((a) => set(a, "(v128.const i32x4 0 0 0 0)")).join(" ")}
      ${set("px", `(i32.add ${param(R.x)} (i32.shl ${get("c")} (i32.const 2)))`)}
      ${set("q", get("count"))}
      ${
        whileLoop(
          "rows",
          get("q"),
          `${set("v", `(v128.load ${get("px")})`)}
           ${set("a0", `(f64x2.add ${get("a0")} ${promoteLow(get("v"))})`)}
           ${set("a1", `(f64x2.add ${get("a1")} ${promoteHigh(get("v"))})`)}
           ${set("v", `(v128.load offset=16 ${get("px")})`)}
           ${set("a2", `(f64x2.add ${get("a2")} ${promoteLow(get("v"))})`)}
           ${set("a3", `(f64x2.add ${get("a3")} ${promoteHigh(get("v"))})`)}
           ${inc("px", get("stride"))} ${inc("q", -1)}`,
        )
      }
      ${set("po", `(i32.add ${param(R.out)} (i32.shl ${get("c")} (i32.const 2)))`)}
      (v128.store ${get("po")} ${demote(get("a0"), get("a1"))})
      (v128.store offset=16 ${get("po")} ${demote(get("a2"), get("a3"))})
      ${inc("c", 8)}`,
    )
  }
    ;; the last columns one at a time, in the same order over rows
    ${
    whileLoop(
      "ones",
      `(i32.lt_u ${get("c")} ${get("end")})`,
      `
      ${set("s", "(f64.const 0)")}
      ${set("px", `(i32.add ${param(R.x)} (i32.shl ${get("c")} (i32.const 2)))`)}
      ${set("q", get("count"))}
      ${
        whileLoop(
          "rows1",
          get("q"),
          `${set("s", `(f64.add ${get("s")} (f64.promote_f32 (f32.load ${get("px")})))`)}
           ${inc("px", get("stride"))} ${inc("q", -1)}`,
        )
      }
      (f32.store (i32.add ${param(R.out)} (i32.shl ${get("c")} (i32.const 2))) (f32.demote_f64 ${
        get("s")
      }))
      ${inc("c", 1)}`,
    )
  }
  )`;
}

/**
 * max_rows, min_rows: the largest (smallest) element of each row; a NaN makes the row's
 * result NaN (f32x4.max and f32.max propagate it), an empty row gives ∓inf. Order does not
 * matter to a maximum, so four lanes at a time where the row is contiguous.
 */
function extremeRows(op: "max" | "min"): string {
  const start = op === "max" ? "-inf" : "inf";
  return rowsKernel(
    `${op}_rows`,
    `${locals("v128", "v")} ${locals("f32", "best")}`,
    `${set("v", `(f32x4.splat (f32.const ${start}))`)}
      ${set("q", get("count"))}
      (if (i32.eq ${get("stride")} (i32.const 4)) (then
        ${
      whileLoop(
        "four",
        `(i32.ge_u ${get("q")} (i32.const 4))`,
        `${set("v", `(f32x4.${op} ${get("v")} (v128.load ${get("px")}))`)} ${inc("px", 16)} ${
          inc("q", -4)
        }`,
      )
    }))
      ${
      set(
        "best",
        `(f32.${op} (f32.${op} (f32x4.extract_lane 0 ${get("v")}) (f32x4.extract_lane 1 ${
          get("v")
        }))
            (f32.${op} (f32x4.extract_lane 2 ${get("v")}) (f32x4.extract_lane 3 ${get("v")})))`,
      )
    }
      ${
      whileLoop(
        "one",
        get("q"),
        `${set("best", `(f32.${op} ${get("best")} (f32.load ${get("px")}))`)}
           ${inc("px", get("stride"))} ${inc("q", -1)}`,
      )
    }
      (f32.store (i32.add ${param(R.out)} (i32.shl ${get("o")} (i32.const 2))) ${get("best")})`,
  );
}

/**
 * argmax_rows, argmin_rows: the index (int32) of the first largest (smallest) element of
 * each row, a NaN counting as the extreme (NumPy's rule); one element at a time.
 */
function argExtremeRows(op: "max" | "min"): string {
  const beats = op === "max" ? "f32.gt" : "f32.lt";
  return rowsKernel(
    `arg${op}_rows`,
    `${locals("i32", "at", "i")} ${locals("f32", "best", "value")}`,
    `${set("at", "(i32.const 0)")}
      (if ${get("count")} (then
        ${set("best", `(f32.load ${get("px")})`)}
        ${set("i", "(i32.const 1)")}
        ${
      whileLoop(
        "scan",
        `(i32.and (i32.lt_u ${get("i")} ${get("count")}) (f32.eq ${get("best")} ${get("best")}))`,
        `${inc("px", get("stride"))}
           ${set("value", `(f32.load ${get("px")})`)}
           (if (i32.or (f32.ne ${get("value")} ${get("value")}) (${beats} ${get("value")} ${
          get("best")
        }))
             (then ${set("best", get("value"))} ${set("at", get("i"))}))
           ${inc("i", 1)}`,
      )
    }))
      (i32.store (i32.add ${param(R.out)} (i32.shl ${get("o")} (i32.const 2))) ${get("at")})`,
  );
}

/** Every reduction kernel, as WAT function definitions. */
export function reduceKernels(): string {
  return sumRows() + sumColumns() + extremeRows("max") + extremeRows("min") +
    argExtremeRows("max") + argExtremeRows("min");
}
