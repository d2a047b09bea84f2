// Indexing kernels in WebAssembly: gather (take along an axis) and scatterAdd, for
// 4-byte elements. Indices may be negative (counted from the end, as NumPy); an index
// out of range sets the parameter block's `bad` word and is skipped, and the backend then
// reruns the op in JavaScript, which reports it.
//
//   gather       tasks = elements of the index (and output): out[p] = x[p with p[axis] :=
//                index[p]], walked as an elementwise kernel whose x has stride 0 on the axis.
//   scatter_add  tasks = positions of the index without the axis: for each, walk the axis
//                in order, out[…, index[…, j], …] += updates[…, j, …]. Positions that
//                differ off the axis write different outputs, so tasks never collide, and
//                every output receives its additions in index order whatever the split.

import { GATHER as G, SCATTER as S } from "./layouts.ts";
import { advance, walkRuns } from "./elementwise_wat.ts";
import { get, i32, inc, KERNEL_PARAMS, locals, param, set, whileLoop } from "./wat.ts";

/** `$i` wrapped into [0, size) when negative; sets `bad` and `$ok` = 0 when out of range. */
function checkIndex(badField: number): string {
  return `
        (if (i32.lt_s ${get("idx")} (i32.const 0)) (then ${inc("idx", get("size"))}))
        ${set("ok", `(i32.lt_u ${get("idx")} ${get("size")})`)}
        (if (i32.eqz ${
    get("ok")
  }) (then (i32.store offset=${badField} (local.get $p) (i32.const 1))))`;
}

function gather(): string {
  const one = `${set("idx", `(i32.load ${get("p_y")})`)}
        ${checkIndex(G.bad)}
        (if ${get("ok")} (then
          (i32.store ${get("p_out")}
            (i32.load (i32.add ${get("p_x")} (i32.mul ${get("idx")} ${get("axisStride")}))))))
        ${advance(["out", "x", "y"], "step")} ${inc("len", -1)}`;
  return `
  (func (export "gather") ${KERNEL_PARAMS}
    ${locals("i32", "idx", "ok", "size", "axisStride")}
    ${
    walkRuns(
      ["out", "x", "y"],
      4,
      `${set("size", param(G.axisSize))}
      ${set("axisStride", `(i32.shl ${param(G.axisStride)} (i32.const 2))`)}
      ${whileLoop("one", get("len"), one)}`,
    )
  })`;
}

function scatterAdd(): string {
  const base = (operand: "out" | "updates" | "index") =>
    set(
      `p_${operand}`,
      `(i32.add ${param(S[operand])} (i32.shl (i32.add (i32.mul ${get("i0")} ${
        param(S[`${operand}0`])
      }) (i32.add (i32.mul ${get("i1")} ${param(S[`${operand}1`])}) (i32.mul ${get("i2")} ${
        param(S[`${operand}2`])
      }))) (i32.const 2)))`,
    );
  return `
  (func (export "scatter_add") ${KERNEL_PARAMS}
    ${locals("i32", "o", "r", "i0", "i1", "i2", "n1", "n2", "j", "idx", "ok", "size")}
    ${locals("i32", "p_out", "p_updates", "p_index", "outStep", "updatesStep", "indexStep", "at")}
    ${set("n1", param(S.n1))} ${set("n2", param(S.n2))} ${set("size", param(S.axisSize))}
    ${set("outStep", `(i32.shl ${param(S.outStep)} (i32.const 2))`)}
    ${set("updatesStep", `(i32.shl ${param(S.updatesStep)} (i32.const 2))`)}
    ${set("indexStep", `(i32.shl ${param(S.indexStep)} (i32.const 2))`)}
    ${set("o", get("start"))}
    ${
    whileLoop(
      "positions",
      `(i32.lt_u ${get("o")} ${get("end")})`,
      `
      ${set("i2", `(i32.rem_u ${get("o")} ${get("n2")})`)}
      ${set("r", `(i32.div_u ${get("o")} ${get("n2")})`)}
      ${set("i1", `(i32.rem_u ${get("r")} ${get("n1")})`)}
      ${set("i0", `(i32.div_u ${get("r")} ${get("n1")})`)}
      ${base("out")} ${base("updates")} ${base("index")}
      ${set("j", i32(0))}
      ${
        whileLoop(
          "axis",
          `(i32.lt_u ${get("j")} ${param(S.length)})`,
          `${set("idx", `(i32.load ${get("p_index")})`)}
           ${checkIndex(S.bad)}
           (if ${get("ok")} (then
             ${set("at", `(i32.add ${get("p_out")} (i32.mul ${get("idx")} ${get("outStep")}))`)}
             (f32.store ${get("at")} (f32.add (f32.load ${get("at")}) (f32.load ${
            get("p_updates")
          })))))
           ${inc("p_updates", get("updatesStep"))} ${inc("p_index", get("indexStep"))} ${
            inc("j", 1)
          }`,
        )
      }
      ${inc("o", 1)}`,
    )
  })`;
}

/** The indexing kernels, as WAT function definitions. */
export function indexingKernels(): string {
  return gather() + scatterAdd();
}
