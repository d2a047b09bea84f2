// Normalisations: layerNorm (a fused kernel on each backend), l2Normalize and
// cosineSimilarity (composed from reductions and elementwise ops).
// Legend: N leading positions · D normalised (last) axis

import { fromKernel } from "./_core.ts";
import { add, div, maximum, mul, sub } from "./binary.ts";
import { isFloatDType } from "./dtype.ts";
import { broadcastTo } from "./movement.ts";
import { isRecording, record } from "./recorder.ts";
import { mean, norm, sum } from "./reduce.ts";
import { broadcastShapes } from "./shape.ts";
import type { Tensor } from "./tensor.ts";
import { rsqrt, square } from "./unary.ts";

/**
 * Layer normalisation over the last axis (Ba et al. 2016, PyTorch `F.layer_norm`):
 * y = (x − mean) / √(var + eps) · weight + bias, with the biased variance.
 *
 * One fused kernel computes it (a composition of ~11 reductions and elementwise ops
 * would pass over the data that many times). Its gradient: one kernel for x; for the
 * weight, x̂ again (the forward kernel without weight and bias) and a sum; for the bias, a
 * sum. Gradients of gradients go through ops instead.
 *
 * @param x `[..., D]`
 * @param weight `[D]` scale, or null for none
 * @param bias `[D]` shift, or null for none
 * @param options `eps` (default 1e-5, PyTorch's; BEiT uses 1e-6)
 * @returns `[..., D]`
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { layerNorm, mean, tensor, item } from "@tessella/tessella";
 * const y = layerNorm(tensor([[1, 2, 3, 4]]), null, null);
 * assert.ok(Math.abs(await item(mean(y))) < 1e-6);
 * ```
 */
export function layerNorm(
  x: Tensor,
  weight: Tensor | null,
  bias: Tensor | null,
  options: { eps?: number } = {},
): Tensor {
  const eps = options.eps ?? 1e-5;
  const backend = x.storage.backend;
  const d = x.shape[x.rank - 1];
  const fits = (p: Tensor | null) =>
    p === null || (p.rank === 1 && p.shape[0] === d && p.dtype === x.dtype &&
      p.storage.backend === backend);
  if (x.rank === 0 || !isFloatDType(x.dtype) || !fits(weight) || !fits(bias)) {
    return layerNormOps(x, weight, bias, eps); // scalars, integers, broadcast parameters
  }
  const out = fromKernel(backend, backend.layerNorm(x, weight, bias, eps), x.shape, x.dtype);
  const inputs = [x, ...(weight === null ? [] : [weight]), ...(bias === null ? [] : [bias])];
  return record("layerNorm", inputs, out, (g) => {
    const leading = x.shape.slice(0, -1).map((_, i) => i); // axes summed for weight, bias
    const fused = !isRecording();
    const dx = fused
      ? fromKernel(backend, backend.layerNormGrad(x, weight, g, eps), x.shape, x.dtype)
      : layerNormGradOps(x, weight, g, eps);
    const grads = [dx];
    if (weight !== null) {
      const xhat = fused
        ? fromKernel(backend, backend.layerNorm(x, null, null, eps), x.shape, x.dtype)
        : layerNormOps(x, null, null, eps);
      grads.push(sum(mul(g, xhat), { axis: leading })); // dL/dweight = Σ g·x̂
    }
    if (bias !== null) grads.push(sum(g, { axis: leading })); // dL/dbias = Σ g
    return grads;
  });
}

/** layerNorm composed from ops (differentiable, as every op is). */
function layerNormOps(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps: number): Tensor {
  const mu = mean(x, { axis: -1, keepDims: true }); // [..., 1]
  const centred = sub(x, mu); // [..., D]
  const variance = mean(square(centred), { axis: -1, keepDims: true }); // [..., 1]
  let y = mul(centred, rsqrt(add(variance, eps)));
  if (weight !== null) y = mul(y, weight);
  if (bias !== null) y = add(y, bias);
  return y;
}

/**
 * dL/dx of layerNorm from ops: with x̂ = (x − mean)·rstd and h = g·weight,
 * dx = rstd · (h − mean(h) − x̂ · mean(h·x̂)) along the last axis.
 */
function layerNormGradOps(x: Tensor, weight: Tensor | null, g: Tensor, eps: number): Tensor {
  const centred = sub(x, mean(x, { axis: -1, keepDims: true }));
  const rstd = rsqrt(add(mean(square(centred), { axis: -1, keepDims: true }), eps)); // [..., 1]
  const xhat = mul(centred, rstd);
  const h = weight === null ? g : mul(g, weight);
  const meanH = mean(h, { axis: -1, keepDims: true });
  const meanHX = mean(mul(h, xhat), { axis: -1, keepDims: true });
  return mul(rstd, sub(sub(h, meanH), mul(xhat, meanHX)));
}

/**
 * Scales vectors along an axis to unit L2 norm: x / max(‖x‖, eps) (PyTorch
 * `F.normalize`).
 *
 * @param x the tensor
 * @param options `axis` (default −1), `eps` (default 1e-12)
 * @returns the normalised tensor
 */
export function l2Normalize(x: Tensor, options: { axis?: number; eps?: number } = {}): Tensor {
  const axis = options.axis ?? -1;
  const n = norm(x, { axis, keepDims: true });
  return div(x, maximum(n, options.eps ?? 1e-12));
}

/**
 * Cosine similarity along an axis: a·b / (max(‖a‖, eps) · max(‖b‖, eps)). The operands are
 * broadcast against each other first, as in PyTorch, so a size-1 axis of `b` counts as
 * its value repeated: cosineSimilarity([1, 2, 3], [1]) is 6 / (√14 · √3).
 *
 * @param a a tensor
 * @param b a tensor broadcastable with `a`
 * @param options `axis` (default −1, an axis of the broadcast shape), `eps` (default 1e-8)
 * @returns the similarities (the axis is removed)
 */
export function cosineSimilarity(
  a: Tensor,
  b: Tensor,
  options: { axis?: number; eps?: number } = {},
): Tensor {
  const axis = options.axis ?? -1;
  const eps = options.eps ?? 1e-8;
  const shape = broadcastShapes(a.shape, b.shape, "cosineSimilarity");
  a = broadcastTo(a, shape);
  b = broadcastTo(b, shape);
  const dot = sum(mul(a, b), { axis });
  const na = maximum(norm(a, { axis }), eps);
  const nb = maximum(norm(b, { axis }), eps);
  return div(dot, mul(na, nb));
}
