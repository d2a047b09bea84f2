// The ViT training step the benchmarks time, shared by bench/ and tools/experiments/: a
// ViT (2 heads, 28×28 grayscale, 4×4 patches, 10 classes; width 128, depth 6 on a batch
// of 64 by default, as the official BEiT ViT class in tools/experiments/vit_step_torch.py),
// cross-entropy, AdamW (lr 1e-3, decay 0.05).

import * as T from "../mod.ts";
import { adamw, applyUpdates, visionTransformer, type ViTParams } from "../nn/mod.ts";

/** The sizes of a benchmarked ViT step. */
export interface VitStepSize {
  width: number;
  depth: number;
  batch: number;
}

/** The three steps the CPU bench times: width 128 depth 6, and the default preset's two ViTs. */
export const VIT_STEP_SIZES: readonly VitStepSize[] = [
  { width: 128, depth: 6, batch: 64 },
  { width: 64, depth: 4, batch: 128 }, // the default preset's BEiT backbone
  { width: 64, depth: 2, batch: 128 }, // the default preset's teacher
];

/**
 * Builds the model, optimizer and batch on the current backend.
 *
 * @param size width, depth and batch (default 128, 6, 64)
 * @returns `step()`, one training step inside tidy() returning its loss (the only value a
 *   caller needs to read back), and `dispose()`, which frees the model, state and batch
 */
export function vitTrainStep(
  size: VitStepSize = VIT_STEP_SIZES[0],
): { step(): T.Tensor; dispose(): void } {
  const vit = visionTransformer({
    img_size: 28,
    patch_size: 4,
    in_chans: 1,
    num_classes: 10,
    embed_dim: size.width,
    depth: size.depth,
    num_heads: 2,
    qkv_bias: true,
    use_abs_pos_emb: true,
  });
  const optimizer = adamw({ learningRate: 1e-3, weightDecay: 0.05 });
  let params = vit.init(T.key(0));
  let state = optimizer.init(params);
  const images = T.uniform(T.key(1), [size.batch, 1, 28, 28]);
  const labels = T.tensor(Array.from({ length: size.batch }, (_, i) => i % 10), {
    dtype: "int32",
  });
  const loss = (p: ViTParams) => T.crossEntropy(vit.apply(p, images), labels);
  return {
    step(): T.Tensor {
      const out = T.tidy(() => {
        const { value, grads } = T.valueAndGrad(loss)(params);
        const { updates, state: next } = optimizer.update(grads, state, params);
        return { params: applyUpdates(params, updates), state: next, loss: value };
      });
      T.dispose([params, state]);
      params = out.params;
      state = out.state;
      return out.loss;
    },
    dispose(): void {
      T.dispose([params, state, images, labels]);
    },
  };
}
