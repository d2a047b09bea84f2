// Losses: cross-entropy with label smoothing and mean squared error.
// Legend: N examples · C classes

import { add, mul, sub } from "./binary.ts";
import { gather } from "./indexing.ts";
import { mean } from "./reduce.ts";
import { reshape } from "./movement.ts";
import { fmtShape } from "./shape.ts";
import { logSoftmax } from "./softmax.ts";
import type { Tensor } from "./tensor.ts";
import { neg, square } from "./unary.ts";

/**
 * Mean cross-entropy of logits against integer labels, with optional label smoothing
 * (PyTorch `F.cross_entropy`): the target distribution is (1 − ε)·onehot(y) + ε/C, so
 * loss_i = −(1 − ε)·log p_i[y_i] − (ε/C)·Σ_c log p_i[c].
 *
 * @param logits `[N, C]`
 * @param labels int32 `[N]` in `[0, C)`
 * @param options `labelSmoothing` ε in [0, 1] (default 0)
 * @returns the 0-d mean loss
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { crossEntropy, tensor, item } from "@tessella/tessella";
 * const loss = crossEntropy(tensor([[0, 0]]), tensor([1], { dtype: "int32" }));
 * assert.ok(Math.abs((await item(loss)) - Math.log(2)) < 1e-6);
 * ```
 */
export function crossEntropy(
  logits: Tensor,
  labels: Tensor,
  options: { labelSmoothing?: number } = {},
): Tensor {
  const eps = options.labelSmoothing ?? 0;
  if (logits.rank !== 2 || labels.rank !== 1 || labels.shape[0] !== logits.shape[0]) {
    throw new Error(
      `Cannot crossEntropy: expected logits [N, C] and labels [N] (got ${fmtShape(logits.shape)} ` +
        `and ${fmtShape(labels.shape)})`,
    );
  }
  if (labels.dtype !== "int32") {
    throw new TypeError(`Cannot crossEntropy: labels must be int32 (got ${labels.dtype})`);
  }
  if (!(eps >= 0 && eps <= 1)) {
    throw new Error(`Cannot crossEntropy: labelSmoothing must be in [0, 1] (got ${eps})`);
  }
  const logp = logSoftmax(logits, { axis: -1 }); // [N, C]
  const picked = gather(logp, reshape(labels, [-1, 1]), { axis: 1 }); // [N, 1]
  const nll = neg(mean(picked)); // −mean_i log p_i[y_i]
  if (eps === 0) return nll;
  const uniform = neg(mean(logp)); // −mean_i (1/C) Σ_c log p_i[c]
  return add(mul(nll, 1 - eps), mul(uniform, eps));
}

/**
 * Mean squared error: mean((a − b)²) over all elements.
 *
 * @param a predictions
 * @param b targets (broadcastable to `a`)
 * @returns the 0-d loss
 */
export function mseLoss(a: Tensor, b: Tensor): Tensor {
  return mean(square(sub(a, b)));
}
