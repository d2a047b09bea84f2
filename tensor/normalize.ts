// Normalisations: layerNorm, l2Normalize and cosineSimilarity, composed from reductions
// and elementwise ops.
// Legend: N leading positions · D normalised (last) axis

import { add, div, maximum, mul, sub } from "./binary.ts";
import { mean, norm, sum } from "./reduce.ts";
import type { Tensor } from "./tensor.ts";
import { rsqrt, square } from "./unary.ts";

/**
 * Layer normalisation over the last axis (Ba et al. 2016, PyTorch `F.layer_norm`):
 * y = (x − mean) / √(var + eps) · weight + bias, with the biased variance.
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
  const mu = mean(x, { axis: -1, keepDims: true }); // [..., 1]
  const centred = sub(x, mu); // [..., D]
  const variance = mean(square(centred), { axis: -1, keepDims: true }); // [..., 1]
  let y = mul(centred, rsqrt(add(variance, eps)));
  if (weight !== null) y = mul(y, weight);
  if (bias !== null) y = add(y, bias);
  return y;
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
 * Cosine similarity along an axis: a·b / (max(‖a‖, eps) · max(‖b‖, eps)).
 *
 * @param a a tensor
 * @param b a tensor broadcastable with `a`
 * @param options `axis` (default −1), `eps` (default 1e-8)
 * @returns the similarities (the axis is removed)
 */
export function cosineSimilarity(
  a: Tensor,
  b: Tensor,
  options: { axis?: number; eps?: number } = {},
): Tensor {
  const axis = options.axis ?? -1;
  const eps = options.eps ?? 1e-8;
  const dot = sum(mul(a, b), { axis });
  const na = maximum(norm(a, { axis }), eps);
  const nb = maximum(norm(b, { axis }), eps);
  return div(dot, mul(na, nb));
}
