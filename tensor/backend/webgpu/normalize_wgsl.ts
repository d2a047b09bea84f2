// WGSL for the fused row kernels: layer normalisation and softmax over the last axis,
// and their gradients with respect to their inputs. One invocation per row (rows of a
// transformer are short: D = 50…1024), which passes over its row a few times: for layer
// norm the mean, the variance (two passes, as the CPU oracle) and the outputs; for
// softmax the maximum, the sum of exponentials and the outputs. Inputs are contiguous;
// read from textures on CPU adapters, 4 values at a time where rows are 4-aligned (the
// "vec4" layout, which also stores 4 outputs at once).

import { paramLayout } from "./params.ts";
import { MATH, perIndexKernel, storage, textureInput } from "./wgsl_common.ts";

/**
 * The row kernels' parameters: rows R, row length D, the offsets of the row inputs (x, or
 * y for softmax's gradient; then g), of the weight and the bias, and layer norm's eps.
 */
export const ROW_PARAMS = paramLayout({
  rows: "u32",
  d: "u32",
  inputOffsets: ["u32", 2],
  weightOffset: "u32",
  biasOffset: "u32",
  eps: "f32",
});

/** How a row kernel reads its rows. */
export interface RowLayout {
  /** Row inputs read from textures (else storage buffers). */
  textured: boolean;
  /** D % 4 = 0 and every offset 4-aligned: 4 values per load, vec4 stores. */
  vec4: boolean;
}

/** Which layer-norm kernel to build. */
export interface LayerNormVariant extends RowLayout {
  /** "forward" computes y; "grad" computes dL/dx from x and g = dL/dy. */
  kind: "forward" | "grad";
  hasWeight: boolean;
  /** Forward only. */
  hasBias: boolean;
}

/** Which softmax kernel to build: y from x, or dL/dx from y and g = dL/dy. */
export interface SoftmaxVariant extends RowLayout {
  kind: "forward" | "grad";
}

/** A row input as `name_at(i)` and `name_quad(t)` (elements 4t … 4t+3). */
function input(name: string, binding: number, textured: boolean): string {
  if (textured) {
    return `${textureInput(name, binding)}
fn ${name}_quad(t: u32) -> vec4<f32> { return ${name}_texel(t); }`;
  }
  return /* wgsl */ `
${storage(binding, name, "f32")}
fn ${name}_at(i: u32) -> f32 { return ${name}[i]; }
fn ${name}_quad(t: u32) -> vec4<f32> {
  return vec4<f32>(${name}[4u * t], ${name}[4u * t + 1u], ${name}[4u * t + 2u], ${name}[4u * t + 3u]);
}`;
}

/**
 * The expressions a row kernel's loops are written with. A loop runs `for (var j = 0u;
 * j < ${steps}; j++)`; in it `at(name)` is element j of a row input (or, vec4, elements
 * 4j … 4j+3), `param(name)` the same of a `[D]` parameter, `total(e)` the sum of e's
 * components, `store(e)` writes output j.
 */
function rowExpressions(layout: RowLayout) {
  const v = layout.vec4;
  return {
    T: v ? "vec4<f32>" : "f32",
    steps: v ? "D / 4u" : "D",
    at: (
      name: string,
    ) => (v ? `${name}_quad(${name}Base / 4u + j)` : `${name}_at(${name}Base + j)`),
    param: (name: string) =>
      v
        ? `vec4<f32>(${
          [0, 1, 2, 3].map((i) => `${name}[${name}Base + 4u * j + ${i}u]`).join(", ")
        })`
        : `${name}[${name}Base + j]`,
    total: (e: string) => (v ? `dot(${e}, vec4<f32>(1.0))` : e),
    store: (e: string) => (v ? `out4[row * (D / 4u) + j] = ${e};` : `out1[row * D + j] = ${e};`),
  };
}

/**
 * A whole row kernel: `rowInputs` bound first (names, in the order of ROW_PARAMS'
 * inputOffsets), then `[D]` parameters, the output, the parameters; `body` runs per row with `row`,
 * `D`, `<input>Base` and `<param>Base` defined.
 */
function rowProgram(
  layout: RowLayout,
  rowInputs: readonly string[],
  parameters: readonly string[],
  body: string,
): string {
  const bindings = [
    ...rowInputs.map((name, i) => input(name, i, layout.textured)),
    ...parameters.map((name, i) => storage(rowInputs.length + i, name, "f32")),
  ];
  bindings.push(
    layout.vec4
      ? storage(bindings.length, "out4", "vec4<f32>", "read_write")
      : storage(bindings.length, "out1", "f32", "read_write"),
  );
  const p = ROW_PARAMS;
  const bases = [
    ...rowInputs.map((name, i) =>
      `let ${name}Base = ${p.read("inputOffsets", `${i}u`)} + row * D;`
    ),
    ...parameters.map((name) =>
      `let ${name}Base = ${p.read(name === "weight" ? "weightOffset" : "biasOffset")};`
    ),
  ];
  return perIndexKernel({
    bindings,
    helpers: [MATH],
    count: p.read("rows"),
    index: "row",
    body: `  let D = ${p.read("d")};\n  ${bases.join("\n  ")}\n${body}`,
  });
}

/** The layer-norm kernel of a variant (see the header for its parameters). */
export function layerNormSource(v: LayerNormVariant): string {
  const { T, steps, at, param, total, store } = rowExpressions(v);
  const grad = v.kind === "grad";
  const X = at("x");
  const W = v.hasWeight ? param("weight") : `${T}(1.0)`;
  const stats = /* wgsl */ `
  var rowSum = 0.0;
  for (var j = 0u; j < ${steps}; j++) { rowSum += ${total(X)}; }
  let mean = rowSum / f32(D);
  var squares = 0.0;
  for (var j = 0u; j < ${steps}; j++) {
    let c = ${X} - mean;
    squares += ${total("c * c")};
  }
  let rstd = 1.0 / sqrt(squares / f32(D) + ${ROW_PARAMS.read("eps")});`;
  const body = grad
    ? /* wgsl */ `${stats}
  // h = g·weight; dx = rstd · (h − mean(h) − x̂ · mean(h·x̂))
  var sumH = 0.0;
  var sumHX = 0.0;
  for (var j = 0u; j < ${steps}; j++) {
    let h = ${at("g")} * ${W};
    sumH += ${total("h")};
    sumHX += ${total(`h * ((${X} - mean) * rstd)`)};
  }
  let meanH = sumH / f32(D);
  let meanHX = sumHX / f32(D);
  for (var j = 0u; j < ${steps}; j++) {
    let xhat = (${X} - mean) * rstd;
    ${store(`rstd * (${at("g")} * ${W} - meanH - xhat * meanHX)`)}
  }`
    : /* wgsl */ `${stats}
  for (var j = 0u; j < ${steps}; j++) {
    ${
      store(
        `(${X} - mean) * rstd${v.hasWeight ? ` * ${W}` : ""}${
          v.hasBias ? ` + ${param("bias")}` : ""
        }`,
      )
    }
  }`;
  const parameters = [...(v.hasWeight ? ["weight"] : []), ...(!grad && v.hasBias ? ["bias"] : [])];
  return rowProgram(v, grad ? ["x", "g"] : ["x"], parameters, body);
}

/**
 * The softmax kernel of a variant: y = e^(x − max) / Σ e^(x − max) (our accurate exp),
 * or dx = y · (g − Σ g·y) from y and g. The maximum propagates NaN, as the max op.
 */
export function softmaxSource(v: SoftmaxVariant): string {
  const { T, steps, at, total, store } = rowExpressions(v);
  const exp = (e: string) =>
    v.vec4
      ? `vec4<f32>(t_exp(${e}.x), t_exp(${e}.y), t_exp(${e}.z), t_exp(${e}.w))`
      : `t_exp(${e})`;
  const body = v.kind === "grad"
    ? /* wgsl */ `
  var gy = 0.0;
  for (var j = 0u; j < ${steps}; j++) { gy += ${total(`${at("g")} * ${at("y")}`)}; }
  for (var j = 0u; j < ${steps}; j++) {
    ${store(`${at("y")} * (${at("g")} - gy)`)}
  }`
    : /* wgsl */ `
  var m = -t_inf();
  for (var j = 0u; j < ${steps}; j++) {
    let v = ${at("x")};
    ${v.vec4 ? "m = t_max(m, t_max(t_max(v.x, v.y), t_max(v.z, v.w)));" : "m = t_max(m, v);"}
  }
  var s = 0.0;
  for (var j = 0u; j < ${steps}; j++) {
    let e: ${T} = ${exp(`(${at("x")} - m)`)};
    s += ${total("e")};
  }
  for (var j = 0u; j < ${steps}; j++) {
    ${store(`${exp(`(${at("x")} - m)`)} / s`)}
  }`;
  return rowProgram(v, v.kind === "grad" ? ["y", "g"] : ["x"], [], body);
}
