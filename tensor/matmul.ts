// Matrix product with NumPy's matmul semantics: batch axes broadcast, 1-D operands are
// promoted to matrices and the added axis removed again.
//
//   [..., M, K] @ [..., K, N] → [..., M, N]
//
// VJP (per batch): dA = dOut · Bᵀ, dB = Aᵀ · dOut. The transposes are free views;
// broadcast batch axes are summed back by expand's VJP.
//
// linear(x, W, b) = x·Wᵀ + b, a layer's product, adds the bias in the product kernel.

import { checkSameBackend, fromKernel } from "./_core.ts";
import { add } from "./binary.ts";
import { isFloatDType, promoteDTypes } from "./dtype.ts";
import { record } from "./recorder.ts";
import { broadcastShapes, fmtShape, sizeOf } from "./shape.ts";
import type { Tensor } from "./tensor.ts";
import { expand, matrixTranspose, reshape, squeeze, unsqueeze } from "./movement.ts";
import { sum } from "./reduce.ts";
import { cast } from "./unary.ts";

/** The primitive: both operands ≥ 2-D with identical batch axes. */
function batchedMatmul(a: Tensor, b: Tensor): Tensor {
  const backend = a.storage.backend;
  const shape = [...a.shape.slice(0, -1), b.shape[b.rank - 1]];
  const out = fromKernel(backend, backend.matmul(a, b), shape, a.dtype);
  return record("matmul", [a, b], out, (g) => [
    matmul(g, matrixTranspose(b)),
    matmul(matrixTranspose(a), g),
  ]);
}

/**
 * Matrix product of two float tensors, with batch broadcasting (NumPy `matmul`).
 *
 * @param a `[..., M, K]` (or `[K]`)
 * @param b `[..., K, N]` (or `[K]`)
 * @returns `[..., M, N]`
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { matmul, tensor, toArray } from "@tessella/tessella";
 * const y = matmul(tensor([[1, 2], [3, 4]]), tensor([[1], [1]]));
 * assert.deepEqual(y.shape, [2, 1]);
 * assert.deepEqual(await toArray(y), new Float32Array([3, 7]));
 * ```
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  checkSameBackend("matmul", [a, b]);
  if (!isFloatDType(a.dtype) || !isFloatDType(b.dtype)) {
    throw new TypeError(
      `Cannot matmul tensors: expected float dtypes (got ${a.dtype} and ${b.dtype})`,
    );
  }
  if (a.rank === 0 || b.rank === 0) {
    throw new Error(
      `Cannot matmul tensors of shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)}: ` +
        `operands must have at least one axis`,
    );
  }
  const dtype = promoteDTypes(a.dtype, b.dtype);
  // NumPy: a vector on the left is a row [1, K], on the right a column [K, 1].
  if (a.rank === 1 && b.rank === 1) return reshape(matmul(unsqueeze(a, 0), unsqueeze(b, -1)), []);
  if (a.rank === 1) return squeeze(matmul(unsqueeze(a, 0), b), { axis: -2 });
  if (b.rank === 1) return squeeze(matmul(a, unsqueeze(b, -1)), { axis: -1 });
  const k = a.shape[a.rank - 1];
  if (k !== b.shape[b.rank - 2]) {
    throw new Error(
      `Cannot matmul tensors: inner dimensions differ (${k} vs ${b.shape[b.rank - 2]}) ` +
        `for shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`,
    );
  }
  const x = cast(a, dtype);
  const y = cast(b, dtype);
  // A stack of rows times one matrix: fold the batch into M, so that the weight
  // gradient is one [K, N] product instead of a batch of them summed afterwards.
  if (y.rank === 2 && x.rank > 2) {
    const rows = reshape(x, [sizeOf(x.shape.slice(0, -1)), k]);
    const out = batchedMatmul(rows, y);
    return reshape(out, [...x.shape.slice(0, -1), y.shape[1]]);
  }
  const batch = broadcastShapes(x.shape.slice(0, -2), y.shape.slice(0, -2), "matmul");
  return batchedMatmul(
    expand(x, [...batch, ...x.shape.slice(-2)]),
    expand(y, [...batch, ...y.shape.slice(-2)]),
  );
}

/**
 * A linear map x·Wᵀ + b (PyTorch `F.linear`), the bias added by the product kernel
 * itself rather than by a second pass over the output.
 *
 * @param x `[..., K]`
 * @param weight `[N, K]`
 * @param bias `[N]`, or null for none
 * @returns `[..., N]`
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { linear, tensor, toArray } from "@tessella/tessella";
 * const y = linear(tensor([[1, 2]]), tensor([[1, 0], [1, 1]]), tensor([0.5, -1]));
 * assert.deepEqual(await toArray(y), new Float32Array([1.5, 2]));
 * ```
 */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  const product = () => matmul(x, matrixTranspose(weight));
  if (bias === null) return product();
  const n = weight.shape[0];
  const k = weight.shape[1];
  const fused = x.rank >= 1 && weight.rank === 2 && bias.rank === 1 && bias.shape[0] === n &&
    x.shape[x.rank - 1] === k && k > 0 && isFloatDType(x.dtype) && weight.dtype === x.dtype &&
    bias.dtype === x.dtype && weight.storage.backend === x.storage.backend &&
    bias.storage.backend === x.storage.backend;
  if (!fused) return add(product(), bias); // matmul and add report any mismatch
  const rows = reshape(x, [sizeOf(x.shape.slice(0, -1)), k]); // [R, K]
  const backend = x.storage.backend;
  const out = fromKernel(
    backend,
    backend.matmul(rows, matrixTranspose(weight), bias),
    [rows.shape[0], n],
    x.dtype,
  );
  const y = record("linear", [rows, weight, bias], out, (g) => [
    matmul(g, weight), // dx = g·W
    matmul(matrixTranspose(g), rows), // dW = gᵀ·x
    sum(g, { axis: 0 }), // db = Σ_rows g
  ]);
  return reshape(y, [...x.shape.slice(0, -1), n]);
}
