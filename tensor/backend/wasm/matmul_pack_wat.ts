// Packing the operands of a matrix product (see matmul_wat.ts for the product and the
// legend): B into panels of 8 columns (a kernel of its own, run before the product), and
// a task's rows of A into blocks of 4 rows for each pass over k (code inlined into the
// product kernel, which owns the locals it uses).

import { MATMUL as L } from "./layouts.ts";
import { get, i32, inc, KERNEL_PARAMS, locals, param, set, whileLoop } from "./wat.ts";

/** The packing kernel for B. */
export function packB(): string {
  return `
  (func (export "matmul_pack_b") ${KERNEL_PARAMS}
    ${
    locals(
      "i32",
      "t",
      "panels",
      "batch",
      "panel",
      "k",
      "n",
      "bRow",
      "bCol",
      "src",
      "dst",
      "cols",
      "kk",
      "jj",
      "at",
    )
  }
    ${set("k", param(L.k))} ${set("n", param(L.n))}
    ${set("bRow", `(i32.shl ${param(L.bRow)} (i32.const 2))`)}
    ${set("bCol", `(i32.shl ${param(L.bCol)} (i32.const 2))`)}
    ${set("panels", `(i32.shr_u (i32.add ${get("n")} (i32.const 7)) (i32.const 3))`)}
    ${set("t", get("start"))}
    ${
    whileLoop(
      "tasks",
      `(i32.lt_u ${get("t")} ${get("end")})`,
      `
      ${set("batch", `(i32.div_u ${get("t")} ${get("panels")})`)}
      ${set("panel", `(i32.rem_u ${get("t")} ${get("panels")})`)}
      ;; B[batch][0, 8·panel] and packedB[batch][panel]
      ${
        set(
          "src",
          `(i32.add ${param(L.b)} (i32.add (i32.shl (i32.load (i32.add ${
            param(L.batchB)
          } (i32.shl ${get("batch")} (i32.const 2)))) (i32.const 2)) (i32.mul (i32.shl ${
            get("panel")
          } (i32.const 3)) ${get("bCol")})))`,
        )
      }
      ${
        set(
          "dst",
          `(i32.add ${param(L.packedB)} (i32.shl (i32.mul ${get("t")} ${get("k")}) (i32.const 5)))`,
        )
      }
      ${set("cols", `(i32.sub ${get("n")} (i32.shl ${get("panel")} (i32.const 3)))`)}
      ${set("kk", i32(0))}
      (if (i32.and (i32.ge_u ${get("cols")} (i32.const 8)) (i32.eq ${get("bCol")} (i32.const 4)))
        (then
          ;; eight consecutive floats per k: two v128 copies
          ${
        whileLoop(
          "rows_fast",
          `(i32.lt_u ${get("kk")} ${get("k")})`,
          `(v128.store ${get("dst")} (v128.load ${get("src")}))
           (v128.store offset=16 ${get("dst")} (v128.load offset=16 ${get("src")}))
           ${inc("src", get("bRow"))} ${inc("dst", 32)} ${inc("kk", 1)}`,
        )
      })
        (else
          ${
        whileLoop(
          "rows",
          `(i32.lt_u ${get("kk")} ${get("k")})`,
          `${set("jj", i32(0))} ${set("at", get("src"))}
           ${
            whileLoop(
              "cols",
              `(i32.lt_u ${get("jj")} (i32.const 8))`,
              `(f32.store ${get("dst")} (if (result f32) (i32.lt_s ${get("jj")} ${get("cols")})
                 (then (f32.load ${get("at")})) (else (f32.const 0))))
               ${inc("at", get("bCol"))} ${inc("dst", 4)} ${inc("jj", 1)}`,
            )
          }
           ${inc("src", get("bRow"))} ${inc("kk", 1)}`,
        )
      }))
      ${inc("t", 1)}`,
    )
  })`;
}

/** Lanes of two v128 as one shuffle: lane l < 4 of `a`, lane l − 4 of `b`. */
function shuffle32(a: string, b: string, lanes: number[]): string {
  const bytes = lanes.flatMap((l) => [0, 1, 2, 3].map((i) => 4 * l + i));
  return `(i8x16.shuffle ${bytes.join(" ")} ${a} ${b})`;
}

/**
 * Packs this pass's part of the task's rows of A, columns kc0 … kc0 + depth, into
 * packedA[ib][depth][4] (rows past M are zero). Full blocks of 4 rows whose columns are
 * contiguous load four rows of four and transpose them in registers; whose rows are
 * contiguous (Aᵀ read in place, as gᵀ in a weight gradient) copy one v128 per k.
 */
export function packA(): string {
  // the 4×4 transpose of r0…r3 (rows i … i + 3, columns kk … kk + 3) into four stores
  const transpose = `
               ${set("t0", shuffle32(get("r0"), get("r1"), [0, 4, 1, 5]))}
               ${set("t1", shuffle32(get("r2"), get("r3"), [0, 4, 1, 5]))}
               ${set("t2", shuffle32(get("r0"), get("r1"), [2, 6, 3, 7]))}
               ${set("t3", shuffle32(get("r2"), get("r3"), [2, 6, 3, 7]))}
               (v128.store ${get("dst")} ${shuffle32(get("t0"), get("t1"), [0, 1, 4, 5])})
               (v128.store offset=16 ${get("dst")} ${shuffle32(get("t0"), get("t1"), [2, 3, 6, 7])})
               (v128.store offset=32 ${get("dst")} ${shuffle32(get("t2"), get("t3"), [0, 1, 4, 5])})
               (v128.store offset=48 ${get("dst")} ${
    shuffle32(get("t2"), get("t3"), [2, 3, 6, 7])
  })`;
  const rowAt = (r: number) =>
    `(v128.load (i32.add ${get("src")} (i32.mul ${i32(r)} ${get("aRow")})))`;
  const oneColumn = (guarded: boolean) => {
    const element = `(f32.load ${get("at")})`;
    const value = guarded
      ? `(if (result f32) (i32.lt_u (i32.add (i32.shl ${get("ib")} (i32.const 2)) ${get("ii")}) ${
        get("rows")
      }) (then ${element}) (else (f32.const 0)))`
      : element;
    return `${set("ii", i32(0))} ${set("at", get("src"))}
               ${
      whileLoop(
        "pack4",
        `(i32.lt_u ${get("ii")} (i32.const 4))`,
        `(f32.store ${get("dst")} ${value}) ${inc("at", get("aRow"))} ${inc("dst", 4)} ${
          inc("ii", 1)
        }`,
      )
    }
               ${inc("src", get("aCol"))} ${inc("kk", 1)}`;
  };
  return `
           ;; packedA[ib][0 … depth)[4] from A[i0 + 4·ib …][kc0 …]
           ${set("dst", get("packedA"))}
           ${set("ib", i32(0))}
           ${
    whileLoop(
      "packA",
      `(i32.lt_u ${get("ib")} ${get("blocks4")})`,
      `${set("kk", i32(0))}
           ${
        set(
          "src",
          `(i32.add ${get("aBase")} (i32.add (i32.mul (i32.shl ${get("ib")} (i32.const 2)) ${
            get("aRow")
          }) (i32.mul ${get("kc0")} ${get("aCol")})))`,
        )
      }
           (if (i32.le_u (i32.shl (i32.add ${get("ib")} (i32.const 1)) (i32.const 2)) ${
        get("rows")
      })
             (then
               (if (i32.eq ${get("aRow")} (i32.const 4))
                 (then ;; four rows side by side: one load per k
                   ${
        whileLoop(
          "packT",
          `(i32.lt_u ${get("kk")} ${get("depth")})`,
          `(v128.store ${get("dst")} (v128.load ${get("src")}))
                    ${inc("src", get("aCol"))} ${inc("dst", 16)} ${inc("kk", 1)}`,
        )
      })
                 (else
                   (if (i32.eq ${get("aCol")} (i32.const 4)) (then ;; rows of contiguous k
                     ${
        whileLoop(
          "pack16",
          `(i32.le_u (i32.add ${get("kk")} (i32.const 4)) ${get("depth")})`,
          `${set("r0", rowAt(0))} ${set("r1", rowAt(1))} ${set("r2", rowAt(2))} ${
            set("r3", rowAt(3))
          }
               ${transpose}
               ${inc("src", 16)} ${inc("dst", 64)} ${inc("kk", 4)}`,
        )
      }))
                   ${
        whileLoop("packRest", `(i32.lt_u ${get("kk")} ${get("depth")})`, oneColumn(false))
      })))
             (else
               ${
        whileLoop("packEdge", `(i32.lt_u ${get("kk")} ${get("depth")})`, oneColumn(true))
      }))
           ${inc("ib", 1)}`,
    )
  }`;
}
