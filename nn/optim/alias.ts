// Ready-made optimizers (optax's aliases) and layer-wise learning-rate decay.

import { adamStep, type Tensor, treeMap, treeMapWithPath } from "../../tensor/mod.ts";
import type { Schedule } from "./schedule.ts";
import {
  type AdamState,
  addDecayedWeights,
  chain,
  clipByGlobalNorm,
  defaultDecayMask,
  type GradientTransformation,
  scaleByAdam,
  scaleByLearningRate,
  scaleByTree,
  traceMomentum,
  type Updates,
} from "./transform.ts";

const isTensor = (x: unknown): x is Tensor => x !== null && typeof x === "object" && "storage" in x;

/** Options of adamw. */
export interface AdamWOptions {
  /** A constant rate or a schedule of the step count. */
  learningRate: number | Schedule;
  /** First-moment decay (default 0.9). */
  b1?: number;
  /** Second-moment decay (default 0.999). */
  b2?: number;
  /** Denominator epsilon (default 1e-8). */
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
 * It has that chain's state; its update computes the middle three with one fused kernel
 * per parameter (adamStep), so each update's buffer also holds the new moments and lives
 * as long as they do.
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
  const b1 = options.b1 ?? 0.9;
  const b2 = options.b2 ?? 0.999;
  const eps = options.eps ?? 1e-8;
  const weightDecay = options.weightDecay ?? 1e-4;
  const parts: GradientTransformation<unknown>[] = [];
  if (options.clipNorm !== undefined) {
    parts.push(clipByGlobalNorm(options.clipNorm) as GradientTransformation<unknown>);
  }
  const adamAt = parts.length; // then decay, then the learning rate
  parts.push(scaleByAdam({ b1, b2, eps }) as GradientTransformation<unknown>);
  parts.push(
    addDecayedWeights({ weightDecay, mask: options.mask }) as GradientTransformation<unknown>,
  );
  parts.push(scaleByLearningRate(options.learningRate) as GradientTransformation<unknown>);
  if (options.lrMultipliers !== undefined) {
    parts.push(scaleByTree(options.lrMultipliers) as GradientTransformation<unknown>);
  }
  const chained = chain(...parts);
  const rate = typeof options.learningRate === "number"
    ? () => options.learningRate as number
    : options.learningRate;
  // The same transformation as `chained` (same state), with the Adam moments, the decay
  // and the learning rate applied by one fused kernel per parameter (adamStep).
  return {
    init: chained.init,
    update(grads, state, params) {
      if (params === undefined) return chained.update(grads, state, params); // its error
      const next = [...state];
      let updates: Updates = grads;
      if (adamAt === 1) {
        const clipped = parts[0].update(updates, state[0], params);
        updates = clipped.updates;
        next[0] = clipped.state;
      }
      const adam = state[adamAt] as AdamState;
      const schedule = state[adamAt + 2] as { count: number };
      const count = adam.count + 1;
      const mask = weightDecay === 0
        ? null
        : typeof options.mask === "function"
        ? options.mask(params)
        : options.mask ?? defaultDecayMask(params);
      const learningRate = rate(schedule.count);
      // One adamStep per parameter, in leaf order; non-tensor leaves (null gradients of
      // integer parameters) pass through as in scaleByAdam.
      const steps: (ReturnType<typeof adamStep> | null)[] = [];
      treeMap(
        (g: unknown, m: unknown, v: unknown, p: unknown, decays: unknown) =>
          steps.push(
            isTensor(g)
              ? adamStep(g, m as Tensor, v as Tensor, p as Tensor, {
                b1,
                b2,
                c1: 1 - b1 ** count,
                c2: 1 - b2 ** count,
                eps,
                learningRate,
                weightDecay: decays === true ? weightDecay : 0,
              })
              : null,
          ),
        updates,
        adam.mu,
        adam.nu,
        params,
        mask ?? treeMap(() => false, updates),
      );
      const pick = (key: "update" | "mu" | "nu") => {
        let i = 0;
        return treeMap((g: unknown) => steps[i++]?.[key] ?? g, updates);
      };
      next[adamAt] = { count, mu: pick("mu"), nu: pick("nu") } satisfies AdamState;
      updates = pick("update");
      next[adamAt + 2] = { count: schedule.count + 1 };
      if (options.lrMultipliers !== undefined) {
        const scaled = parts[adamAt + 3].update(updates, state[adamAt + 3], params);
        updates = scaled.updates;
        next[adamAt + 3] = scaled.state;
      }
      return { updates, state: next };
    },
  };
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
 * The official layer id of a parameter for layer-wise decay (the official `get_num_layer_for_vit`): 0 for the
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
