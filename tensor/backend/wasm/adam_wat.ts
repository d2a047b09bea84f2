// The fused AdamW step in WebAssembly SIMD (see Backend.adamStep), over n contiguous
// elements; tasks are elements. In float32, per element:
//   m' = b1·m + (1 − b1)·g
//   v' = b2·v + (1 − b2)·g²
//   update = −lr·((m'/c1) / (√(v'/c2) + eps) + wd·p)
// written to out[0, n) (update), out[n, 2n) (m') and out[2n, 3n) (v'). The last elements
// go through the same v128 arithmetic as the rest, one per vector.

import { ADAM as A } from "./layouts.ts";
import { get, inc, KERNEL_PARAMS, locals, param, paramF32, set, whileLoop } from "./wat.ts";

/** The step on v128 operands; leaves the update, m' and v' in $upd, $mu, $nu. */
function step(load: (p: string) => string): string {
  const k = (name: string) => get(name);
  return `
      ${set("g", load("pg"))}
      ${
    set(
      "mu",
      `(f32x4.add (f32x4.mul ${k("b1")} ${load("pm")}) (f32x4.mul ${k("omb1")} ${get("g")}))`,
    )
  }
      ${
    set(
      "nu",
      `(f32x4.add (f32x4.mul ${k("b2")} ${load("pv")}) (f32x4.mul ${k("omb2")} (f32x4.mul ${
        get("g")
      } ${get("g")})))`,
    )
  }
      ${
    set(
      "upd",
      `(f32x4.add
        (f32x4.div (f32x4.div ${get("mu")} ${k("c1")}) (f32x4.add (f32x4.sqrt (f32x4.div ${
        get("nu")
      } ${k("c2")})) ${k("eps")}))
        (f32x4.mul ${k("wd")} ${load("pp")}))`,
    )
  }
      ${set("upd", `(f32x4.neg (f32x4.mul ${k("lr")} ${get("upd")}))`)}`;
}

/** The AdamW kernel, as a WAT function definition. */
export function adamKernels(): string {
  const constants = ["b1", "b2", "omb1", "omb2", "c1", "c2", "eps", "lr", "wd"];
  const fields = [A.b1, A.b2, A.oneMinusB1, A.oneMinusB2, A.c1, A.c2, A.eps, A.lr, A.wd];
  const four = (p: string) => `(v128.load ${get(p)})`;
  const one = (p: string) => `(f32x4.splat (f32.load ${get(p)}))`;
  const pointers = ["po", "pg", "pm", "pv", "pp"];
  const advance = (bytes: number) => pointers.map((p) => inc(p, bytes)).join(" ");
  return `
  (func (export "adam_step") ${KERNEL_PARAMS}
    ${locals("i32", "i", "n3", ...pointers)}
    ${locals("v128", "g", "mu", "nu", "upd", ...constants)}
    ${constants.map((c, i) => set(c, `(f32x4.splat ${paramF32(fields[i])})`)).join(" ")}
    ;; n·4 bytes: the distance from the update to m' and from m' to v' in the output
    ${set("n3", `(i32.shl ${param(A.n)} (i32.const 2))`)}
    ${
    pointers.map((p, i) =>
      set(
        p,
        `(i32.add ${param([A.out, A.g, A.m, A.v, A.p][i])} (i32.shl ${
          get("start")
        } (i32.const 2)))`,
      )
    ).join(" ")
  }
    ${set("i", get("start"))}
    ${
    whileLoop(
      "four",
      `(i32.le_u (i32.add ${get("i")} (i32.const 4)) ${get("end")})`,
      `${step(four)}
       (v128.store ${get("po")} ${get("upd")})
       (v128.store (i32.add ${get("po")} ${get("n3")}) ${get("mu")})
       (v128.store (i32.add ${get("po")} (i32.shl ${get("n3")} (i32.const 1))) ${get("nu")})
       ${advance(16)} ${inc("i", 4)}`,
    )
  }
    ${
    whileLoop(
      "one",
      `(i32.lt_u ${get("i")} ${get("end")})`,
      `${step(one)}
       (f32.store ${get("po")} (f32x4.extract_lane 0 ${get("upd")}))
       (f32.store (i32.add ${get("po")} ${get("n3")}) (f32x4.extract_lane 0 ${get("mu")}))
       (f32.store (i32.add ${get("po")} (i32.shl ${
        get("n3")
      } (i32.const 1))) (f32x4.extract_lane 0 ${get("nu")}))
       ${advance(4)} ${inc("i", 1)}`,
    )
  })`;
}
