// Elementwise kernels in WebAssembly SIMD: unary and binary float32 ops, and strided
// copies (of 4-byte and of 1-byte elements).
//
// Every kernel walks output elements [start, end) of a shape collapsed to four axes
// [n0, n1, n2, n3] (see layouts.ts ELEMENTWISE). Each operand (out, x, y) has its own
// element strides, so one kernel reads transposed, broadcast (stride 0) and sliced views
// and writes into a strided target (unslice, concat). For each run of the last axis:
//   - when out, x (and y) step by one element, four elements per v128 operation (an
//     operand with stride 0 is one value splatted to four lanes);
//   - otherwise, and for the last 1–3 elements of a run, one element at a time, through
//     the same v128 operation on a vector holding it, so that every element's result is
//     the same whichever path, run split or thread computes it.

import { ELEMENTWISE as E } from "./layouts.ts";
import { erf, exp, gelu, geluDerivative, tanh } from "./math_wat.ts";
import { get, i32, inc, KERNEL_PARAMS, locals, minU, param, Scope, set, whileLoop } from "./wat.ts";

/**
 * A float32 op on four lanes: statements that set local `out` from the operands (local
 * reads), with constants and temporaries from the kernel's scope.
 */
export type VectorOp = (scope: Scope, out: string, ...operands: string[]) => string;

/** An op that is one expression of its operands. */
const expression =
  (f: (scope: Scope, ...operands: string[]) => string): VectorOp => (scope, out, ...operands) =>
    set(out, f(scope, ...operands));

/** Unary float32 ops the WebAssembly backend computes (the rest run in JavaScript). */
export const UNARY_WAT: Readonly<Record<string, VectorOp>> = {
  neg: expression((_, x) => `(f32x4.neg ${x})`),
  abs: expression((_, x) => `(f32x4.abs ${x})`),
  square: expression((_, x) => `(f32x4.mul ${x} ${x})`),
  sqrt: expression((_, x) => `(f32x4.sqrt ${x})`),
  rsqrt: expression((s, x) => `(f32x4.div ${s.f32(1)} (f32x4.sqrt ${x}))`),
  reciprocal: expression((s, x) => `(f32x4.div ${s.f32(1)} ${x})`),
  // max(x, 0) keeps NaN (f32x4.max propagates it), as the reference's relu does.
  relu: expression((s, x) => `(f32x4.max ${x} ${s.f32(0)})`),
  floor: expression((_, x) => `(f32x4.floor ${x})`),
  ceil: expression((_, x) => `(f32x4.ceil ${x})`),
  round: expression((_, x) => `(f32x4.nearest ${x})`), // ties to even, as NumPy
  exp,
  tanh,
  erf,
  gelu,
  geluDerivative,
};

/** Binary float32 ops the WebAssembly backend computes. */
export const BINARY_WAT: Readonly<Record<string, VectorOp>> = {
  add: expression((_, a, b) => `(f32x4.add ${a} ${b})`),
  sub: expression((_, a, b) => `(f32x4.sub ${a} ${b})`),
  mul: expression((_, a, b) => `(f32x4.mul ${a} ${b})`),
  div: expression((_, a, b) => `(f32x4.div ${a} ${b})`),
  maximum: expression((_, a, b) => `(f32x4.max ${a} ${b})`), // NaN-propagating, as NumPy's
  minimum: expression((_, a, b) => `(f32x4.min ${a} ${b})`),
};

/** The export name of the kernel for a unary or binary op. */
export function elementwiseKernelName(kind: "unary" | "binary", op: string): string {
  return `${kind}_${op}`;
}

/** The operands of an elementwise walk (see ELEMENTWISE). */
export type Operand = "out" | "x" | "y";

/**
 * The shared outer walk: for each run of the last axis inside [start, end), sets each
 * operand's pointer `$p_<operand>` to the run's first element and `$len` to its length,
 * then emits `run`. `$s_<operand>` hold the byte steps along the last axis.
 */
export function walkRuns(
  operands: Operand[],
  elementBytes: number,
  run: string,
  scope?: Scope,
): string {
  const shift = Math.log2(elementBytes);
  const pointer = (o: Operand) => {
    const offset = `(i32.add (i32.add (i32.mul ${get("i0")} ${get(`${o}0`)}) (i32.mul ${
      get("i1")
    } ${get(`${o}1`)})) (i32.add (i32.mul ${get("i2")} ${get(`${o}2`)}) (i32.mul ${get("j")} ${
      get(`${o}3`)
    })))`;
    return set(`p_${o}`, `(i32.add ${get(`base_${o}`)} (i32.shl ${offset} ${i32(shift)}))`);
  };
  const fields = (o: Operand) =>
    [0, 1, 2, 3].map((d) => set(`${o}${d}`, param(E[`${o}${d}` as "x0"])));
  return `
    ${locals("i32", "i", "j", "r", "i0", "i1", "i2", "n1", "n2", "n3", "len")}
    ${
    operands.map((o) =>
      locals("i32", `base_${o}`, `p_${o}`, `s_${o}`, `${o}0`, `${o}1`, `${o}2`, `${o}3`)
    ).join(" ")
  }
    ${scope?.locals() ?? ""}
    ${scope?.init() ?? ""}
    ${set("n1", param(E.n1))} ${set("n2", param(E.n2))} ${set("n3", param(E.n3))}
    ${operands.map((o) => set(`base_${o}`, param(E[o]))).join(" ")}
    ${operands.map((o) => fields(o).join(" ")).join("\n    ")}
    ${operands.map((o) => set(`s_${o}`, `(i32.shl ${get(`${o}3`)} ${i32(shift)})`)).join(" ")}
    ${set("i", get("start"))}
    ${
    whileLoop(
      "runs",
      `(i32.lt_u ${get("i")} ${get("end")})`,
      `
      ;; i → (i0, i1, i2, j) in the collapsed shape
      ${set("j", `(i32.rem_u ${get("i")} ${get("n3")})`)}
      ${set("r", `(i32.div_u ${get("i")} ${get("n3")})`)}
      ${set("i2", `(i32.rem_u ${get("r")} ${get("n2")})`)}
      ${set("r", `(i32.div_u ${get("r")} ${get("n2")})`)}
      ${set("i1", `(i32.rem_u ${get("r")} ${get("n1")})`)}
      ${set("i0", `(i32.div_u ${get("r")} ${get("n1")})`)}
      ${operands.map(pointer).join("\n      ")}
      ${set("len", `(i32.sub ${get("n3")} ${get("j")})`)}
      ${set("r", `(i32.sub ${get("end")} ${get("i")})`)}
      ${set("len", minU(get("len"), get("r")))}
      ${inc("i", get("len"))}
      ${run}`,
    )
  }`;
}

/** Advances each operand's pointer by `bytes` (a constant) or by its own step (`"step"`). */
export function advance(operands: Operand[], bytes: number | "step"): string {
  return operands.map((o) => inc(`p_${o}`, bytes === "step" ? get(`s_${o}`) : bytes)).join(" ");
}

/** A unary float32 kernel: out = op(x). */
function unaryKernel(name: string, op: VectorOp): string {
  const scope = new Scope();
  const vector = `${set("va", `(v128.load ${get("p_x")})`)}
        ${op(scope, "vr", get("va"))}
        (v128.store ${get("p_out")} ${get("vr")})`;
  const single = `${set("va", `(f32x4.splat (f32.load ${get("p_x")}))`)}
        ${op(scope, "vr", get("va"))}
        (f32.store ${get("p_out")} (f32x4.extract_lane 0 ${get("vr")}))`;
  const walk = walkRuns(
    ["out", "x"],
    4,
    `
      (if (i32.and (i32.eq ${get("s_out")} ${i32(4)}) (i32.eq ${get("s_x")} ${i32(4)})) (then
        ${
      whileLoop(
        "four",
        `(i32.ge_u ${get("len")} ${i32(4)})`,
        `${vector} ${advance(["out", "x"], 16)} ${inc("len", -4)}`,
      )
    }))
      ${
      whileLoop("one", get("len"), `${single} ${advance(["out", "x"], "step")} ${inc("len", -1)}`)
    }`,
    scope,
  );
  return `
  (func (export "${name}") ${KERNEL_PARAMS}
    ${locals("v128", "va", "vr")}
    ${walk})`;
}

/**
 * A binary float32 kernel: out = op(x, y). Runs where both inputs step by one element, or
 * one steps by one and the other stays (a broadcast value), go four at a time.
 */
function binaryKernel(name: string, op: VectorOp): string {
  const scope = new Scope();
  const both = ["out", "x", "y"] as Operand[];
  const load = (o: Operand) => `(v128.load ${get(`p_${o}`)})`;
  const splat = (o: Operand) => `(f32x4.splat (f32.load ${get(`p_${o}`)}))`;
  const fourLoop = (label: string, x: string, y: string, moving: Operand[]) =>
    whileLoop(
      label,
      `(i32.ge_u ${get("len")} ${i32(4)})`,
      `${set("va", x)} ${set("vb", y)} ${op(scope, "vr", get("va"), get("vb"))}
       (v128.store ${get("p_out")} ${get("vr")}) ${advance(moving, 16)} ${inc("len", -4)}`,
    );
  const single = `${set("va", splat("x"))} ${set("vb", splat("y"))} ${
    op(scope, "vr", get("va"), get("vb"))
  }
       (f32.store ${get("p_out")} (f32x4.extract_lane 0 ${get("vr")}))`;
  const is = (o: Operand, bytes: number) => `(i32.eq ${get(`s_${o}`)} ${i32(bytes)})`;
  const walk = walkRuns(
    both,
    4,
    `
      (if ${is("out", 4)} (then
        (if (i32.and ${is("x", 4)} ${is("y", 4)}) (then
          ${fourLoop("xy", load("x"), load("y"), both)}))
        (if (i32.and ${is("x", 4)} ${is("y", 0)}) (then
          ${set("fixed", splat("y"))}
          ${fourLoop("x", load("x"), get("fixed"), ["out", "x"])}))
        (if (i32.and ${is("x", 0)} ${is("y", 4)}) (then
          ${set("fixed", splat("x"))}
          ${fourLoop("y", get("fixed"), load("y"), ["out", "y"])}))))
      ${whileLoop("one", get("len"), `${single} ${advance(both, "step")} ${inc("len", -1)}`)}`,
    scope,
  );
  return `
  (func (export "${name}") ${KERNEL_PARAMS}
    ${locals("v128", "va", "vb", "vr", "fixed")}
    ${walk})`;
}

/**
 * Strided copies out[…] = x[…] of 4-byte elements (float32, int32: moved as bits) and of
 * bytes (bool). The output may be strided too (unslice, concat write into a slab).
 */
function copyKernels(): string {
  const four = `(v128.store ${get("p_out")} (v128.load ${get("p_x")}))`;
  return `
  (func (export "copy_4") ${KERNEL_PARAMS}
    ${
    walkRuns(
      ["out", "x"],
      4,
      `
      (if (i32.and (i32.eq ${get("s_out")} ${i32(4)}) (i32.eq ${get("s_x")} ${i32(4)})) (then
        ${
        whileLoop(
          "four",
          `(i32.ge_u ${get("len")} ${i32(4)})`,
          `${four} ${advance(["out", "x"], 16)} ${inc("len", -4)}`,
        )
      }))
      ${
        whileLoop(
          "one",
          get("len"),
          `(i32.store ${get("p_out")} (i32.load ${get("p_x")})) ${advance(["out", "x"], "step")} ${
            inc("len", -1)
          }`,
        )
      }`,
    )
  })
  (func (export "copy_1") ${KERNEL_PARAMS}
    ${
    walkRuns(
      ["out", "x"],
      1,
      whileLoop(
        "one",
        get("len"),
        `(i32.store8 ${get("p_out")} (i32.load8_u ${get("p_x")})) ${
          advance(["out", "x"], "step")
        } ${inc("len", -1)}`,
      ),
    )
  })`;
}

/** Every elementwise kernel, as WAT function definitions. */
export function elementwiseKernels(): string {
  return [
    ...Object.entries(UNARY_WAT).map(([op, f]) =>
      unaryKernel(elementwiseKernelName("unary", op), f)
    ),
    ...Object.entries(BINARY_WAT).map(([op, f]) =>
      binaryKernel(elementwiseKernelName("binary", op), f)
    ),
    copyKernels(),
  ].join("\n");
}
