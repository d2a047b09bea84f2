// WGSL for elementwise kernels: fill, unary (and casts), binary, where, and the strided
// region copy used by concat and unslice. One invocation per output element; inputs are
// read through their strides (VIEW_INDEX), so views never need copying first.

import type { BinaryOp, UnaryOp } from "../../backend.ts";
import type { DType } from "../../dtype.ts";
import { paramLayout } from "./params.ts";
import {
  LINEAR_INDEX,
  MATH,
  paramsBlock,
  perIndexKernel,
  storage,
  storageType,
  textureInput,
  VIEW_INDEX,
} from "./wgsl_common.ts";

// Each invocation handles ELEMENTS consecutive outputs: on llvmpipe this amortises the
// per-invocation overhead (measured 2.4× faster for a plain add).

/** The type arithmetic is done in: f32 for floats, i32 for int32 and bool. */
function computeType(dtype: DType): "f32" | "i32" {
  return dtype === "float32" ? "f32" : "i32";
}

/**
 * How each input view is addressed, from its mode word (params.ts): 1 contiguous, 2 a
 * contiguous block broadcast over leading and trailing axes, 3 one value broadcast,
 * 0 strided, 4 strided with rows a multiple of ELEMENTS long (one walk per invocation). Kernels are compiled per combination, so the common cases cost no more than
 * an add (or a division for 2) instead of a walk over the axes.
 */
export type ViewModes = readonly number[];

/** Index expression of view k at output index i (parameters hoisted by `hoisted`). */
function at(k: number, modes: ViewModes): string {
  switch (modes[k]) {
    case 1:
      return `off${k} + i`;
    case 2:
      return `off${k} + (i / d${k}) % m${k}`;
    case 3:
      return `off${k}`;
    case 4:
      return `u32(i32(w${k}) + i32(j) * s${k})`;
    default:
      return `viewIndex(i, ${k}u)`;
  }
}

/**
 * The "texel" path (every view contiguous and 4-aligned, or one value): per input, what is
 * fetched once per invocation, and the value used for output j.
 */
function texelRead(name: string, k: number, modes: ViewModes): { fetch: string; value: string } {
  return modes[k] === 3
    ? { fetch: `let t${k} = ${name}_at(off${k});`, value: `t${k}` }
    : { fetch: `let t${k} = ${name}_texel((off${k} + first) >> 2u);`, value: `t${k}[j]` };
}

/** Hoisted parameters of the views: offsets, and the block sizes of mode 2. */
function hoisted(modes: ViewModes): string {
  return modes.map((mode, k) => {
    const base = 10 + 10 * k;
    if (mode === 0) return "";
    if (mode === 4) {
      return `let w${k} = viewIndex(first, ${k}u); let s${k} = Pi(${base + 1}u + P(1u));`;
    }
    const off = `let off${k} = P(${base}u);`;
    return mode === 2 ? `${off} let d${k} = P(${base + 2}u); let m${k} = P(${base + 3}u);` : off;
  }).join(" ");
}

/** Converts a stored value (`v` of dtype's storage type) to the compute type. */
function load(expr: string, dtype: DType): string {
  return dtype === "bool" ? `i32(${expr})` : expr;
}

/** Converts a compute-type value to the output's storage type. */
function store(expr: string, from: "f32" | "i32", to: DType): string {
  // Non-zero is true, NaN included: compilers may drop NaN from `x != 0.0`, so floats test
  // their bits.
  if (to === "bool") {
    return `select(0u, 1u, ${from === "f32" ? `t_truthy(${expr})` : `${expr} != 0`})`;
  }
  const target = storageType(to);
  return target === from ? expr : `${target}(${expr})`;
}

const UNARY_F32: Record<UnaryOp, string> = {
  copy: "v",
  neg: "-v",
  abs: "abs(v)",
  exp: "t_exp(v)",
  log: "t_log(v)",
  log1p: "t_log1p(v)",
  sqrt: "select(sqrt(v), t_nan(), v < 0.0)",
  rsqrt: "select(1.0 / sqrt(v), t_nan(), v < 0.0)",
  square: "v * v",
  reciprocal: "1.0 / v",
  sin: "sin(v)",
  cos: "cos(v)",
  tanh: "t_tanh(v)",
  sigmoid: "t_sigmoid(v)",
  relu: "select(select(0.0, v, v > 0.0), v, t_isnan(v))",
  gelu: "t_gelu(v)",
  geluTanh: "t_gelu_tanh(v)",
  geluDerivative: "t_gelu_derivative(v)",
  erf: "t_erf(v)",
  sign: "t_sign(v)",
  floor: "floor(v)",
  ceil: "ceil(v)",
  round: "round(v)", // WGSL rounds halves to even, as NumPy
  logicalNot: "select(0.0, 1.0, !t_truthy(v))",
  isFinite: "select(0.0, 1.0, t_isfinite(v))",
};

const UNARY_I32: Partial<Record<UnaryOp, string>> = {
  copy: "v",
  neg: "-v",
  abs: "abs(v)",
  square: "v * v",
  relu: "max(v, 0)",
  sign: "select(select(0, 1, v > 0), -1, v < 0)",
  floor: "v",
  ceil: "v",
  round: "v",
  logicalNot: "select(0, 1, v == 0)",
  isFinite: "1",
};

/**
 * How a kernel reads its inputs: "storage" buffers through their views; "texture" copies
 * of the buffers (float32, GpuContext.textureOf) through their views; "texel" the same
 * copies when every view is contiguous and starts at a multiple of 4 (so one texel fetch
 * gives an invocation's ELEMENTS (= 4) consecutive inputs) or is one broadcast value.
 */
export type InputPath = "storage" | "texture" | "texel";

/**
 * Declaration of input `name` at `binding` and how to read its element at an index:
 * a storage buffer, or (`textured`, float32 only) a texture filled by GpuContext.textureOf.
 */
function input(
  name: string,
  binding: number,
  dtype: DType,
  textured: boolean,
): { name: string; decl: string; at: (index: string) => string } {
  if (textured) return { name, decl: textureInput(name, binding), at: (i) => `${name}_at(${i})` };
  return {
    name,
    decl: `@group(0) @binding(${binding}) var<storage, read> ${name}: array<${
      storageType(dtype)
    }>;`,
    at: (i) => `${name}[${i}]`,
  };
}

/**
 * An elementwise kernel: its bindings (`decls`, the parameter block at binding `params`),
 * then ELEMENTS outputs per invocation; `prologue` runs once per invocation (hoisted view
 * words, texel fetches), `body` once per output index `i` below n.
 */
function elementwiseProgram(
  decls: readonly string[],
  params: number,
  prologue: string,
  body: string,
  math: boolean,
): string {
  return /* wgsl */ `
${decls.join("\n")}
${paramsBlock(params)}
${LINEAR_INDEX}
${VIEW_INDEX}
${math ? MATH : ""}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let first = linearIndex(wid, nwg, lid) * ELEMENTS;
  let n = P(0u);
  ${prologue}
  for (var j = 0u; j < ELEMENTS; j++) {
    let i = first + j;
    if (i >= n) { return; }
    ${body}
  }
}
`;
}

/** The output binding of an elementwise kernel. */
function output(binding: number, type: string): string {
  return storage(binding, "out", type, "read_write");
}

/** `out[i] = op(x[i])`, converting from `inDtype` to `outDtype`. */
export function unarySource(
  op: UnaryOp,
  inDtype: DType,
  outDtype: DType,
  modes: ViewModes = [0],
  path: InputPath = "storage",
): string {
  const textured = path !== "storage";
  const type = computeType(inDtype);
  const expr = (type === "f32" ? UNARY_F32 : UNARY_I32)[op];
  if (expr === undefined) {
    throw new Error(`Internal error: no WebGPU kernel for ${op} on ${inDtype}`);
  }
  const x = input("x", 0, inDtype, textured);
  const texel = path === "texel";
  const v = texel ? texelRead("x", 0, modes).value : load(x.at(at(0, modes)), inDtype);
  return elementwiseProgram(
    [x.decl, output(1, storageType(outDtype))],
    2,
    `${hoisted(modes)}\n  ${texel ? texelRead("x", 0, modes).fetch : ""}`,
    `let v = ${v};\n    out[i] = ${store(expr, type, outDtype)};`,
    true,
  );
}

function binaryExpr(op: BinaryOp, type: "f32" | "i32"): string {
  const one = type === "f32" ? "1.0" : "1";
  const zero = type === "f32" ? "0.0" : "0";
  const test = (cond: string) => `select(${zero}, ${one}, ${cond})`;
  switch (op) {
    case "add":
      return "a + b";
    case "sub":
      return "a - b";
    case "mul":
      return "a * b";
    case "div":
      return "a / b";
    case "pow":
      return type === "f32" ? "t_pow(a, b)" : "i32(t_pow(f32(a), f32(b)))";
    case "maximum":
      return type === "f32" ? "t_max(a, b)" : "max(a, b)";
    case "minimum":
      return type === "f32" ? "t_min(a, b)" : "min(a, b)";
    case "equal":
      return test("a == b");
    case "notEqual":
      // NaN differs from everything, itself included (an ordered != would say false).
      return test(type === "f32" ? "!(a == b) || t_isnan(a) || t_isnan(b)" : "a != b");
    case "less":
      return test("a < b");
    case "lessEqual":
      return test("a <= b");
    case "greater":
      return test("a > b");
    case "greaterEqual":
      return test("a >= b");
    case "logicalAnd":
      return test(type === "f32" ? "t_truthy(a) && t_truthy(b)" : "a != 0 && b != 0");
    case "logicalOr":
      return test(type === "f32" ? "t_truthy(a) || t_truthy(b)" : "a != 0 || b != 0");
  }
}

/** `out[i] = op(a[i], b[i])` for two same-dtype views of the output's shape. */
export function binarySource(
  op: BinaryOp,
  inDtype: DType,
  outDtype: DType,
  modes: ViewModes = [0, 0],
  path: InputPath = "storage",
): string {
  const textured = path !== "storage";
  const type = computeType(inDtype);
  const inputs = [input("xa", 0, inDtype, textured), input("xb", 1, inDtype, textured)];
  const texel = path === "texel";
  const read = (k: number) =>
    texel ? texelRead(inputs[k].name, k, modes) : {
      fetch: "",
      value: load(inputs[k].at(at(k, modes)), inDtype),
    };
  return elementwiseProgram(
    [...inputs.map((x) => x.decl), output(2, storageType(outDtype))],
    3,
    `${hoisted(modes)}\n  ${read(0).fetch} ${read(1).fetch}`,
    `let a = ${read(0).value};\n    let b = ${read(1).value};\n    out[i] = ${
      store(binaryExpr(op, type), type, outDtype)
    };`,
    true,
  );
}

/** `out[i] = cond[i] ? a[i] : b[i]`. */
export function whereSource(dtype: DType, modes: ViewModes = [0, 0, 0]): string {
  const st = storageType(dtype);
  return elementwiseProgram(
    [
      "@group(0) @binding(0) var<storage, read> cond: array<u32>;",
      `@group(0) @binding(1) var<storage, read> xa: array<${st}>;`,
      `@group(0) @binding(2) var<storage, read> xb: array<${st}>;`,
      output(3, st),
    ],
    4,
    hoisted(modes),
    `out[i] = select(xb[${at(2, modes)}], xa[${at(1, modes)}], cond[${at(0, modes)}] != 0u);`,
    false,
  );
}

/** The fill kernel's parameters: how many words, and the value's bit pattern. */
export const FILL_PARAMS = paramLayout({ n: "u32", bits: "u32" });

/** `out[i] = value`, with FILL_PARAMS (its n is word 0, as every elementwise kernel's). */
export function fillSource(): string {
  return elementwiseProgram(
    [output(0, "u32")],
    1,
    "",
    `out[i] = ${FILL_PARAMS.read("bits")};`,
    false,
  );
}

/**
 * Writes view x into `out` through a second, strided view of `out`: element i of x's
 * shape goes to `out[viewIndex(i, 1)]`. Used by concat (a slab of the output) and
 * unslice (positions start + i·step).
 */
export function placeSource(dtype: DType, modes: ViewModes = [0, 0]): string {
  const st = storageType(dtype);
  return elementwiseProgram(
    [`@group(0) @binding(0) var<storage, read> x: array<${st}>;`, output(1, st)],
    2,
    hoisted(modes),
    `out[${at(1, modes)}] = x[${at(0, modes)}];`,
    false,
  );
}

/**
 * The AdamW step's parameters: n, the offsets of g, m, v and p, and the constants; 1 − b1
 * and 1 − b2 are taken on the host in float64 (1 − f32(0.999) in float32 is 1.3e-5 off).
 */
export const ADAM_PARAMS = paramLayout({
  n: "u32",
  offsets: ["u32", 4],
  b1: "f32",
  b2: "f32",
  c1: "f32",
  c2: "f32",
  eps: "f32",
  learningRate: "f32",
  weightDecay: "f32",
  oneMinusB1: "f32",
  oneMinusB2: "f32",
});

/**
 * One fused AdamW step (Backend.adamStep): out = [update | m' | v'], one invocation per
 * element, with ADAM_PARAMS.
 */
export function adamStepSource(): string {
  const layout = ADAM_PARAMS;
  const at = (k: number) => layout.read("offsets", `${k}u`);
  return perIndexKernel({
    bindings: [
      ...["g", "m", "v", "p"].map((name, k) => storage(k, name, "f32")),
      storage(4, "out", "f32", "read_write"),
    ],
    count: layout.read("n"),
    index: "i",
    body: /* wgsl */ `
  let n = ${layout.read("n")};
  let gi = g[${at(0)} + i];
  let mu = ${layout.read("b1")} * m[${at(1)} + i] + ${layout.read("oneMinusB1")} * gi;
  let nu = ${layout.read("b2")} * v[${at(2)} + i] + ${layout.read("oneMinusB2")} * (gi * gi);
  let step = mu / ${layout.read("c1")} / (sqrt(nu / ${layout.read("c2")}) + ${layout.read("eps")}) +
    ${layout.read("weightDecay")} * p[${at(3)} + i];
  out[i] = -${layout.read("learningRate")} * step;
  out[n + i] = mu;
  out[2u * n + i] = nu;`,
  });
}
