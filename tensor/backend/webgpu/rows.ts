// The row op family on WebGPU: layer normalisation and softmax over the last axis and
// their gradients, one invocation per row (the kernels are in normalize_wgsl.ts).

import { sizeOf } from "../../shape.ts";
import type { View } from "../../tensor.ts";
import type { BindingKind } from "./context.ts";
import { denseInput, elementwiseTuning } from "./elementwise.ts";
import { layerNormSource, ROW_PARAMS, type RowLayout, softmaxSource } from "./normalize_wgsl.ts";
import { grid } from "./params.ts";
import { checkDType, readsTextures, type Runtime } from "./runtime.ts";

/**
 * A row kernel: one invocation per row of the last axis, over one or two row inputs of the
 * same shape (x; or y/x and a cotangent g) and optional `[D]` parameters (weight, bias).
 * Inputs that are not contiguous are copied first.
 */
function rowKernel(
  rt: Runtime,
  name: string,
  inputs: readonly View[],
  params: { weight?: View | null; bias?: View | null; eps?: number },
  source: (layout: RowLayout) => string,
): GPUBuffer {
  const x = inputs[0];
  checkDType(x.dtype);
  const n = sizeOf(x.shape);
  const d = x.shape[x.shape.length - 1];
  const out = rt.alloc(n);
  if (n === 0) return out;
  const temporaries: GPUBuffer[] = [];
  const dense = (v: View | null | undefined) => (v ? denseInput(rt, v, temporaries) : null);
  const rowInputs = inputs.map((v) => denseInput(rt, v, temporaries));
  const [ws, bs] = [dense(params.weight), dense(params.bias)];
  const layout: RowLayout = {
    textured: readsTextures(rt, elementwiseTuning.inputs, n, rowInputs.map((r) => r.buffer)),
    vec4: d % 4 === 0 && [...rowInputs, ws, bs].every((r) => r === null || r.offset % 4 === 0),
  };
  const rows = n / d;
  const parameters = [ws, bs].filter((r) => r !== null);
  rt.run(
    `${name}:${layout.textured}:${layout.vec4}`,
    [
      ...rowInputs.map(() => (layout.textured ? "texture" : "read") as BindingKind),
      ...parameters.map(() => "read" as const),
      "write",
    ],
    () => source(layout),
    [
      ...rowInputs.map((r, i) => layout.textured ? rt.ctx.textureOf(r.buffer, `x${i}`) : r.buffer),
      ...parameters.map((r) => r!.buffer),
      out,
    ],
    ROW_PARAMS.pack({
      rows,
      d,
      inputOffsets: rowInputs.map((r) => r.offset),
      weightOffset: ws?.offset ?? 0,
      biasOffset: bs?.offset ?? 0,
      eps: params.eps ?? 0,
    }),
    grid(rows, rt.limit),
  );
  for (const t of temporaries) rt.ctx.release(t);
  return out;
}

/** Layer normalisation over the last axis, with optional weight and bias. */
export function layerNorm(
  rt: Runtime,
  x: View,
  weight: View | null,
  bias: View | null,
  eps: number,
): GPUBuffer {
  const kind = { kind: "forward", hasWeight: weight !== null, hasBias: bias !== null } as const;
  return rowKernel(
    rt,
    `layernorm:forward:${kind.hasWeight}:${kind.hasBias}`,
    [x],
    { weight, bias, eps },
    (layout) => layerNormSource({ ...kind, ...layout }),
  );
}

/** The gradient of layer normalisation with respect to x. */
export function layerNormGrad(
  rt: Runtime,
  x: View,
  weight: View | null,
  g: View,
  eps: number,
): GPUBuffer {
  const kind = { kind: "grad", hasWeight: weight !== null, hasBias: false } as const;
  return rowKernel(
    rt,
    `layernorm:grad:${kind.hasWeight}`,
    [x, g],
    { weight, eps },
    (layout) => layerNormSource({ ...kind, ...layout }),
  );
}

/** Softmax over the last axis. */
export function softmax(rt: Runtime, x: View): GPUBuffer {
  return rowKernel(
    rt,
    "softmax",
    [x],
    {},
    (layout) => softmaxSource({ kind: "forward", ...layout }),
  );
}

/** The gradient of softmax (from its output y and the cotangent g). */
export function softmaxGrad(rt: Runtime, y: View, g: View): GPUBuffer {
  return rowKernel(
    rt,
    "softmax:grad",
    [y, g],
    {},
    (layout) => softmaxSource({ kind: "grad", ...layout }),
  );
}
