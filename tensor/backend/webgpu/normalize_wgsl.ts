// WGSL for fused layer normalisation: the forward pass and the gradient with respect to
// x. One invocation per row (rows of a transformer are short: D = 128…1024), which
// passes over its row a few times: the mean, the variance (two passes, as the CPU
// oracle), then the outputs. Inputs are contiguous; read from textures on CPU adapters,
// a texel (4 values) at a time where rows are 4-aligned ("vec4" variants, which also
// store 4 outputs at once).
//
// Parameter words: 0 rows R, 1 row length D, 2 x offset, 3 g offset (gradient),
// 4 weight offset, 5 bias offset, 6 eps (f32 bits).

import { LINEAR_INDEX, paramsBlock, textureInput } from "./wgsl_common.ts";

/** Which variant of a layer-norm kernel to build. */
export interface LayerNormVariant {
  /** "forward" computes y; "grad" computes dL/dx from x and g = dL/dy. */
  kind: "forward" | "grad";
  hasWeight: boolean;
  /** Forward only. */
  hasBias: boolean;
  /** x (and g) read from textures (else storage buffers). */
  textured: boolean;
  /** D % 4 = 0 and every offset 4-aligned: texel loads and vec4 stores. */
  vec4: boolean;
}

/** An input as `name_at(i)` and `name_quad(t)` (elements 4t … 4t+3). */
function input(name: string, binding: number, textured: boolean): string {
  if (textured) {
    return `${textureInput(name, binding)}
fn ${name}_quad(t: u32) -> vec4<f32> { return ${name}_texel(t); }`;
  }
  return /* wgsl */ `
@group(0) @binding(${binding}) var<storage, read> ${name}: array<f32>;
fn ${name}_at(i: u32) -> f32 { return ${name}[i]; }
fn ${name}_quad(t: u32) -> vec4<f32> {
  return vec4<f32>(${name}[4u * t], ${name}[4u * t + 1u], ${name}[4u * t + 2u], ${name}[4u * t + 3u]);
}`;
}

/** The layer-norm kernel of a variant (see the header for its parameters). */
export function layerNormSource(v: LayerNormVariant): string {
  const grad = v.kind === "grad";
  const bindings: string[] = [input("x", 0, v.textured)];
  let next = 1;
  if (grad) bindings.push(input("g", next++, v.textured));
  if (v.hasWeight) {
    bindings.push(`@group(0) @binding(${next++}) var<storage, read> weight: array<f32>;`);
  }
  if (!grad && v.hasBias) {
    bindings.push(`@group(0) @binding(${next++}) var<storage, read> bias: array<f32>;`);
  }
  bindings.push(
    `@group(0) @binding(${next++}) var<storage, read_write> ${
      v.vec4 ? "out4: array<vec4<f32>>" : "out1: array<f32>"
    };`,
  );
  // The loop body sees j (element index in the row, or first of 4) and reads through
  // `X`/`G` (a scalar or a vec4 of 4 consecutive elements) and `W`/`B` likewise.
  const T = v.vec4 ? "vec4<f32>" : "f32";
  const steps = v.vec4 ? "D / 4u" : "D";
  const X = v.vec4 ? "x_quad(xq + j)" : "x_at(xb + j)";
  const G = v.vec4 ? "g_quad(gq + j)" : "g_at(gb + j)";
  const W = !v.hasWeight
    ? `${T}(1.0)`
    : v.vec4
    ? "vec4<f32>(weight[wb + 4u * j], weight[wb + 4u * j + 1u], weight[wb + 4u * j + 2u], weight[wb + 4u * j + 3u])"
    : "weight[wb + j]";
  const B = v.vec4
    ? "vec4<f32>(bias[bb + 4u * j], bias[bb + 4u * j + 1u], bias[bb + 4u * j + 2u], bias[bb + 4u * j + 3u])"
    : "bias[bb + j]";
  const total = (e: string) => (v.vec4 ? `dot(${e}, vec4<f32>(1.0))` : e);
  const store = (e: string) =>
    v.vec4 ? `out4[row * (D / 4u) + j] = ${e};` : `out1[row * D + j] = ${e};`;
  const body = grad
    ? /* wgsl */ `
  // h = g·weight; dx = rstd · (h − mean(h) − x̂ · mean(h·x̂))
  var sumH = 0.0;
  var sumHX = 0.0;
  for (var j = 0u; j < ${steps}; j++) {
    let h = ${G} * ${W};
    sumH += ${total("h")};
    sumHX += ${total(`h * ((${X} - mean) * rstd)`)};
  }
  let meanH = sumH / f32(D);
  let meanHX = sumHX / f32(D);
  for (var j = 0u; j < ${steps}; j++) {
    let xhat = (${X} - mean) * rstd;
    ${store(`rstd * (${G} * ${W} - meanH - xhat * meanHX)`)}
  }`
    : /* wgsl */ `
  for (var j = 0u; j < ${steps}; j++) {
    ${store(`(${X} - mean) * rstd${v.hasWeight ? ` * ${W}` : ""}${v.hasBias ? ` + ${B}` : ""}`)}
  }`;
  return /* wgsl */ `
${bindings.join("\n")}
${paramsBlock(next)}
${LINEAR_INDEX}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = linearIndex(wid, nwg, lid);
  if (row >= P(0u)) { return; }
  let D = P(1u);
  let xb = P(2u) + row * D;
  let gb = P(3u) + row * D;
  let xq = xb / 4u;
  let gq = gb / 4u;
  let wb = P(4u);
  let bb = P(5u);
  let eps = Pf(6u);
  var rowSum = 0.0;
  for (var j = 0u; j < ${steps}; j++) { rowSum += ${total(X)}; }
  let mean = rowSum / f32(D);
  var squares = 0.0;
  for (var j = 0u; j < ${steps}; j++) {
    let c = ${X} - mean;
    squares += ${total("c * c")};
  }
  let rstd = 1.0 / sqrt(squares / f32(D) + eps);
  ${body}
}
`;
}
