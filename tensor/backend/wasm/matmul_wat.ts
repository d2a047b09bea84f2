// Matrix products in WebAssembly SIMD: C[M, N] = A[M, K] · B[K, N] (+ bias[N]) for each
// matrix of a batch. Legend: M, K, N sizes · P = ⌈N/8⌉ panels of 8 columns · MC rows per
// task · KC depth of one pass.
//
// Two kernels, run one after the other (each split over the thread pool):
//   matmul_pack_b  tasks = batch × P. Copies panel j of B (columns 8j…8j+7, zero-padded
//                  past N) into packedB[batch][j][K][8]: one v128 pair per k, whatever
//                  B's strides (a transposed weight Wᵀ is read in place, not copied first).
//                  Skipped when B's rows are contiguous and N a multiple of 8 ("direct"):
//                  the micro-kernel then reads B's rows in place, a row's 8 columns per k
//                  (packing would cost a pass over B: a quarter of a weight gradient's time).
//   matmul         tasks = batch × ⌈M/MC⌉ row blocks × column blocks. Packs the task's MC
//                  rows of A into blocks of 4 rows, [MC/4][K][4] (per-thread scratch), then
//                  for each depth pass of KC, each B panel and each 4-row block of A runs
//                  the micro-kernel: a 4×8 block of C in eight v128 registers, per k one
//                  pair of loads from the panel, four lane-splat loads from A and eight
//                  multiply-adds (fused with relaxed SIMD where available). The panel's
//                  KC×8 floats stay in L1 while all the task's row blocks pass over it.
//                  The first pass stores C (+ bias), later passes add to it.
// Each element of C sums over k in the same order (passes of KC, k ascending) whatever the
// task split, so any number of threads gives bit-identical results.

import { MATMUL as L } from "./layouts.ts";
import { packA, packB } from "./matmul_pack_wat.ts";
import { get, i32, inc, KERNEL_PARAMS, locals, madd, minU, param, set, whileLoop } from "./wat.ts";

/** Rows of A per task (a multiple of 4). */
export const MATMUL_ROWS_PER_TASK = 32;
/** Depth of one pass over k. */
export const MATMUL_DEPTH_PER_PASS = 256;
/** Bytes of per-thread scratch where partial 4×8 blocks of C are staged (at TEMP_ADDRESS). */
export const MATMUL_TEMP_BYTES = 128;
/** Where the per-thread staging areas start (inside the heap's reserved low memory). */
export const MATMUL_TEMP_ADDRESS = 8192;

const ACC = ["c00", "c01", "c10", "c11", "c20", "c21", "c30", "c31"];

/**
 * Stores (or, after the first pass, adds) the eight accumulators at `$cp` (row stride
 * `$cRow` bytes), with the bias at `$bp` added on the first pass when there is one.
 */
function storeFullBlock(): string {
  const rows = [0, 1, 2, 3].map((r) => {
    const lo = get(`c${r}0`);
    const hi = get(`c${r}1`);
    const at = `(i32.add ${get("cp")} (i32.mul ${i32(r)} ${get("cRow")}))`;
    return `
          (if ${get("first")}
            (then
              (v128.store ${at} (f32x4.add ${lo} ${get("bias0")}))
              (v128.store offset=16 ${at} (f32x4.add ${hi} ${get("bias1")})))
            (else
              (v128.store ${at} (f32x4.add (v128.load ${at}) ${lo}))
              (v128.store offset=16 ${at} (f32x4.add (v128.load offset=16 ${at}) ${hi}))))`;
  });
  return rows.join("");
}

/** Stages the accumulators in the thread's temp area and writes the valid rows × columns. */
function storePartialBlock(): string {
  const stage = ACC.map((c, i) =>
    `(v128.store offset=${16 * i} ${get("temp")} (f32x4.add ${get(c)} ${
      get(i % 2 === 0 ? "bias0" : "bias1")
    }))`
  ).join(" ");
  const stageNoBias = ACC.map((c, i) => `(v128.store offset=${16 * i} ${get("temp")} ${get(c)})`)
    .join(" ");
  return `
          (if ${get("first")} (then ${stage}) (else ${stageNoBias}))
          ${set("ii", i32(0))}
          ${
    whileLoop(
      "prow",
      `(i32.lt_u ${get("ii")} ${get("validRows")})`,
      `${set("jj", i32(0))}
       ${set("at", `(i32.add ${get("cp")} (i32.mul ${get("ii")} ${get("cRow")}))`)}
       ${set("from", `(i32.add ${get("temp")} (i32.shl ${get("ii")} (i32.const 5)))`)}
       ${
        whileLoop(
          "pcol",
          `(i32.lt_u ${get("jj")} ${get("validCols")})`,
          `(if ${get("first")}
             (then (f32.store ${get("at")} (f32.load ${get("from")})))
             (else (f32.store ${get("at")} (f32.add (f32.load ${get("at")}) (f32.load ${
            get("from")
          })))))
           ${inc("at", 4)} ${inc("from", 4)} ${inc("jj", 1)}`,
        )
      }
       ${inc("ii", 1)}`,
    )
  }`;
}

/** The micro-kernel loop: 4×8 accumulators over `$depth` ≥ 1 steps from `$ap`, `$bp`. */
function microKernel(fma: boolean): string {
  // One step of k at byte offset a from A's pointer: 2 loads of B (then B's pointer moves
  // to the next k: 32 bytes in a packed panel, a row of B read in place), 4 splats of A.
  const step = (a: number) =>
    `${set("b0", `(v128.load ${get("bp")})`)}
          ${set("b1", `(v128.load offset=16 ${get("bp")})`)}
          ${inc("bp", get("bStep"))}
          ${
      [0, 1, 2, 3].map((r) =>
        `${set("a", `(v128.load32_splat offset=${a + 4 * r} ${get("ap")})`)}
          ${set(`c${r}0`, madd(fma, get("a"), get("b0"), get(`c${r}0`)))}
          ${set(`c${r}1`, madd(fma, get("a"), get("b1"), get(`c${r}1`)))}`
      ).join("\n          ")
    }`;
  return `
          ${ACC.map((c) => set(c, "(v128.const i32x4 0 0 0 0)")).join(" ")}
          ${set("ap", get("aBlock"))} ${set("bp", get("bPanel"))} ${set("q", get("depth"))}
          ;; two steps of k per iteration, then the odd one
          ${
    whileLoop(
      "k",
      `(i32.ge_u ${get("q")} (i32.const 2))`,
      `${step(0)}
          ${step(16)}
          ${inc("ap", 32)} ${inc("q", -2)}`,
    )
  }
          (if ${get("q")} (then ${step(0)}))`;
}

/** The product kernel (see the header). */
function gemm(fma: boolean): string {
  return `
  (func (export "matmul") ${KERNEL_PARAMS}
    ${
    locals(
      "i32",
      "t",
      "m",
      "k",
      "n",
      "panels",
      "rowBlocks",
      "colBlocks",
      "batch",
      "rb",
      "cb",
      "i0",
      "rows",
      "blocks4",
      "jStart",
      "jEnd",
      "aBase",
      "aRow",
      "aCol",
      "packedA",
      "ib",
      "kk",
      "ii",
      "src",
      "dst",
      "kc0",
      "depth",
      "panel",
      "bPanel",
      "aBlock",
      "ap",
      "bp",
      "q",
      "cp",
      "cRow",
      "first",
      "validRows",
      "validCols",
      "temp",
      "at",
      "from",
      "jj",
      "bias",
      "bStep",
      "bBase",
    )
  }
    ${
    locals(
      "v128",
      ...ACC,
      "a",
      "b0",
      "b1",
      "bias0",
      "bias1",
      "r0",
      "r1",
      "r2",
      "r3",
      "t0",
      "t1",
      "t2",
      "t3",
    )
  }
    ${set("m", param(L.m))} ${set("k", param(L.k))} ${set("n", param(L.n))}
    ${set("aRow", `(i32.shl ${param(L.aRow)} (i32.const 2))`)}
    ${set("aCol", `(i32.shl ${param(L.aCol)} (i32.const 2))`)}
    ${set("panels", `(i32.shr_u (i32.add ${get("n")} (i32.const 7)) (i32.const 3))`)}
    ${set("rowBlocks", param(L.rowBlocks))} ${set("colBlocks", param(L.colBlocks))}
    ${set("bias", param(L.bias))}
    ;; B read in place steps a row of B per k; a packed panel, 8 floats
    ${
    set(
      "bStep",
      `(select (i32.shl ${param(L.bRow)} (i32.const 2)) (i32.const 32) ${param(L.directB)})`,
    )
  }
    ${set("cRow", `(i32.shl ${get("n")} (i32.const 2))`)}
    ${
    set(
      "packedA",
      `(i32.add ${param(L.packedA)} (i32.mul ${get("thread")} ${param(L.packedAStride)}))`,
    )
  }
    ${
    set(
      "temp",
      `(i32.add ${i32(MATMUL_TEMP_ADDRESS)} (i32.mul ${get("thread")} ${i32(MATMUL_TEMP_BYTES)}))`,
    )
  }
    ${set("t", get("start"))}
    ${
    whileLoop(
      "tasks",
      `(i32.lt_u ${get("t")} ${get("end")})`,
      `
      ${set("batch", `(i32.div_u ${get("t")} (i32.mul ${get("rowBlocks")} ${get("colBlocks")}))`)}
      ${set("rb", `(i32.rem_u ${get("t")} (i32.mul ${get("rowBlocks")} ${get("colBlocks")}))`)}
      ${set("cb", `(i32.rem_u ${get("rb")} ${get("colBlocks")})`)}
      ${set("rb", `(i32.div_u ${get("rb")} ${get("colBlocks")})`)}
      ${set("i0", `(i32.mul ${get("rb")} ${i32(MATMUL_ROWS_PER_TASK)})`)}
      ${set("rows", `(i32.sub ${get("m")} ${get("i0")})`)}
      ${set("kk", i32(MATMUL_ROWS_PER_TASK))}
      ${set("rows", minU(get("rows"), get("kk")))}
      ${set("blocks4", `(i32.shr_u (i32.add ${get("rows")} (i32.const 3)) (i32.const 2))`)}
      ${set("jStart", `(i32.mul ${get("cb")} ${param(L.colsPerBlock)})`)}
      ${set("jEnd", `(i32.add ${get("jStart")} ${param(L.colsPerBlock)})`)}
      ${set("jEnd", minU(get("jEnd"), get("n")))}

      ${
        set(
          "bBase",
          `(i32.add ${param(L.b)} (i32.shl (i32.load (i32.add ${param(L.batchB)} (i32.shl ${
            get("batch")
          } (i32.const 2)))) (i32.const 2)))`,
        )
      }
      ;; A[batch][i0, 0]
      ${
        set(
          "aBase",
          `(i32.add ${param(L.a)} (i32.add (i32.shl (i32.load (i32.add ${
            param(L.batchA)
          } (i32.shl ${get("batch")} (i32.const 2)))) (i32.const 2)) (i32.mul ${get("i0")} ${
            get("aRow")
          })))`,
        )
      }

      ;; passes over k, then panels of B, then 4-row blocks of A
      ${set("kc0", i32(0))}
      ${
        whileLoop(
          "passes",
          `(i32.lt_u ${get("kc0")} ${get("k")})`,
          `${set("depth", `(i32.sub ${get("k")} ${get("kc0")})`)}
           ${set("kk", i32(MATMUL_DEPTH_PER_PASS))}
           ${set("depth", minU(get("depth"), get("kk")))}
           ${set("first", `(i32.eqz ${get("kc0")})`)}
           ${packA()}
           ${set("panel", `(i32.shr_u ${get("jStart")} (i32.const 3))`)}
           ${
            whileLoop(
              "panels",
              `(i32.lt_u (i32.shl ${get("panel")} (i32.const 3)) ${get("jEnd")})`,
              `
          ;; B[batch][kc0, 8·panel] read in place, or packedB[batch][panel][kc0]
          (if ${param(L.directB)}
            (then ${
                set(
                  "bPanel",
                  `(i32.add ${get("bBase")} (i32.add (i32.mul ${get("kc0")} ${
                    get("bStep")
                  }) (i32.shl ${get("panel")} (i32.const 5))))`,
                )
              })
            (else ${
                set(
                  "bPanel",
                  `(i32.add ${param(L.packedB)} (i32.shl (i32.add (i32.mul (i32.add (i32.mul ${
                    get("batch")
                  } ${get("panels")}) ${get("panel")}) ${get("k")}) ${get("kc0")}) (i32.const 5)))`,
                )
              }))
          ${set("validCols", `(i32.sub ${get("n")} (i32.shl ${get("panel")} (i32.const 3)))`)}
          ${set("kk", i32(8))}
          ${set("validCols", minU(get("validCols"), get("kk")))}
          ;; the bias of these 8 columns (zero when there is none, or past N)
          ${set("bias0", "(v128.const i32x4 0 0 0 0)")} ${
                set("bias1", "(v128.const i32x4 0 0 0 0)")
              }
          (if ${get("bias")} (then
            (if (i32.eq ${get("validCols")} (i32.const 8))
              (then
                ${
                set(
                  "bias0",
                  `(v128.load (i32.add ${get("bias")} (i32.shl ${get("panel")} (i32.const 5))))`,
                )
              }
                ${
                set(
                  "bias1",
                  `(v128.load offset=16 (i32.add ${get("bias")} (i32.shl ${
                    get("panel")
                  } (i32.const 5))))`,
                )
              })
              (else
                ${set("jj", i32(0))}
                ${
                whileLoop(
                  "biasCols",
                  `(i32.lt_u ${get("jj")} ${get("validCols")})`,
                  `(f32.store (i32.add ${get("temp")} (i32.shl ${get("jj")} (i32.const 2)))
                     (f32.load (i32.add ${get("bias")} (i32.shl (i32.add (i32.shl ${
                    get("panel")
                  } (i32.const 3)) ${get("jj")}) (i32.const 2)))))
                   ${inc("jj", 1)}`,
                )
              }
                ${
                whileLoop(
                  "biasZero",
                  `(i32.lt_u ${get("jj")} (i32.const 8))`,
                  `(f32.store (i32.add ${get("temp")} (i32.shl ${
                    get("jj")
                  } (i32.const 2))) (f32.const 0))
                   ${inc("jj", 1)}`,
                )
              }
                ${set("bias0", `(v128.load ${get("temp")})`)}
                ${set("bias1", `(v128.load offset=16 ${get("temp")})`)}))))
          ${set("ib", i32(0))}
          ${
                whileLoop(
                  "blocks",
                  `(i32.lt_u ${get("ib")} ${get("blocks4")})`,
                  `
          ${
                    set(
                      "aBlock",
                      `(i32.add ${get("packedA")} (i32.shl (i32.mul ${get("ib")} ${
                        get("depth")
                      }) (i32.const 4)))`,
                    )
                  }
          ${microKernel(fma)}
          ;; C[batch][i0 + 4·ib][8·panel]
          ${
                    set(
                      "cp",
                      `(i32.add ${param(L.c)} (i32.shl (i32.add (i32.mul (i32.add (i32.mul ${
                        get("batch")
                      } ${get("m")}) (i32.add ${get("i0")} (i32.shl ${get("ib")} (i32.const 2)))) ${
                        get("n")
                      }) (i32.shl ${get("panel")} (i32.const 3))) (i32.const 2)))`,
                    )
                  }
          ${set("validRows", `(i32.sub ${get("rows")} (i32.shl ${get("ib")} (i32.const 2)))`)}
          ${set("kk", i32(4))}
          ${set("validRows", minU(get("validRows"), get("kk")))}
          (if (i32.and (i32.eq ${get("validRows")} (i32.const 4)) (i32.eq ${
                    get("validCols")
                  } (i32.const 8)))
            (then ${storeFullBlock()})
            (else ${storePartialBlock()}))
          ${inc("ib", 1)}`,
                )
              }
          ${inc("panel", 1)}`,
            )
          }
           ${inc("kc0", get("depth"))}`,
        )
      }
      ${inc("t", 1)}`,
    )
  })`;
}

/** Both matmul kernels; `fma` picks relaxed-SIMD fused multiply-adds in the micro-kernel. */
export function matmulKernels(fma: boolean): string {
  return packB() + gemm(fma);
}
