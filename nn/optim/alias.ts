// Ready-made optimizers (optax's aliases) and layer-wise learning-rate decay.

import { treeMapWithPath } from "../../tensor/mod.ts";
import type { Schedule } from "./schedule.ts";
import {
  addDecayedWeights,
  chain,
  clipByGlobalNorm,
  type GradientTransformation,
  scaleByAdam,
  scaleByLearningRate,
  scaleByTree,
  traceMomentum,
  type Updates,
} from "./transform.ts";

/** Options of adamw. */
export interface AdamWOptions {
  learningRate: number | Schedule;
  b1?: number;
  b2?: number;
  eps?: number;
  /** Decoupled weight decay (default 1e-4, as optax). */
  weightDecay?: number;
  /** Which leaves decay: a boolean tree or a function of the params (default: the official mask). */
  mask?: Updates | ((params: unknown) => Updates);
  /** Clip the global gradient norm to this value first (the official pretraining uses 3.0). */
  clipNorm?: number;
  /** Per-leaf learning-rate multipliers (layer-wise decay), applied last. */
  lrMultipliers?: Updates;
}

/**
 * AdamW (Loshchilov & Hutter 2019) as chain(clip?, scaleByAdam, addDecayedWeights,
 * scaleByLearningRate, scaleByTree?): PyTorch's AdamW update, p ← p − lr·(m̂/(√v̂ + ε) + wd·p).
 *
 * @param options see AdamWOptions
 * @returns the optimizer
 * @example
 * ```ts
 * import { adamw, applyUpdates } from "@tessella/tessella/nn";
 * import { grad, sum, square, tensor } from "@tessella/tessella";
 * const opt = adamw({ learningRate: 0.1, weightDecay: 0 });
 * let params = { w: tensor([1, -2]) };
 * let state = opt.init(params);
 * const g = grad((p: typeof params) => sum(square(p.w)))(params);
 * const { updates, state: next } = opt.update(g, state, params);
 * params = applyUpdates(params, updates);
 * state = next;
 * ```
 */
export function adamw(options: AdamWOptions): GradientTransformation<unknown[]> {
  const parts: GradientTransformation<unknown>[] = [];
  if (options.clipNorm !== undefined) {
    parts.push(clipByGlobalNorm(options.clipNorm) as GradientTransformation<unknown>);
  }
  parts.push(
    scaleByAdam({ b1: options.b1, b2: options.b2, eps: options.eps }) as GradientTransformation<
      unknown
    >,
  );
  parts.push(
    addDecayedWeights({
      weightDecay: options.weightDecay ?? 1e-4,
      mask: options.mask,
    }) as GradientTransformation<unknown>,
  );
  parts.push(scaleByLearningRate(options.learningRate) as GradientTransformation<unknown>);
  if (options.lrMultipliers !== undefined) {
    parts.push(scaleByTree(options.lrMultipliers) as GradientTransformation<unknown>);
  }
  return chain(...parts);
}

/**
 * Stochastic gradient descent with optional momentum (PyTorch's convention: v ← μv + g).
 *
 * @param options `learningRate`, `momentum` (0), `nesterov`
 * @returns the optimizer
 */
export function sgd(
  options: { learningRate: number | Schedule; momentum?: number; nesterov?: boolean },
): GradientTransformation<unknown[]> {
  const parts: GradientTransformation<unknown>[] = [];
  if ((options.momentum ?? 0) > 0) {
    parts.push(
      traceMomentum({
        momentum: options.momentum,
        nesterov: options.nesterov,
      }) as GradientTransformation<unknown>,
    );
  }
  parts.push(scaleByLearningRate(options.learningRate) as GradientTransformation<unknown>);
  return chain(...parts);
}

/**
 * The official layer id of a parameter for layer-wise decay (spec §4.1): 0 for the
 * embeddings (cls_token, mask_token, pos_embed, patch_embed.*), i + 1 for blocks.i.*,
 * depth + 1 for everything else.
 */
export function layerId(path: string, depth: number): number {
  const first = path.split(".")[0];
  if (["cls_token", "mask_token", "pos_embed"].includes(first) || first === "patch_embed") return 0;
  const m = /^blocks\.(\d+)\./.exec(path);
  if (m) return Number(m[1]) + 1;
  return depth + 1;
}

/**
 * Layer-wise learning-rate multipliers decay^(depth + 1 − layerId) for a ViT's params
 * (BEiT fine-tuning): the head gets 1, block i gets decay^(depth − i), the embeddings
 * decay^(depth + 1).
 *
 * @param params the parameter tree
 * @param options `depth` (number of blocks), `decay`
 * @returns a tree of multipliers for adamw's `lrMultipliers`
 */
export function layerwiseLrDecay(
  params: unknown,
  options: { depth: number; decay: number },
): Updates {
  return treeMapWithPath(
    (path: string) => options.decay ** (options.depth + 1 - layerId(path, options.depth)),
    params,
  );
}
