// The training step issue 3 benchmarks, shared by bench/webgpu_bench.ts and
// tools/experiments/vit_step.ts: a ViT (width 128, depth 6, 2 heads, 28×28 grayscale,
// 4×4 patches, 10 classes) on a batch of 64, cross-entropy, AdamW (lr 1e-3, decay 0.05).

import * as T from "../mod.ts";
import { adamw, applyUpdates, visionTransformer, type ViTParams } from "../nn/mod.ts";

/**
 * Builds the model, optimizer and batch on the current backend.
 *
 * @returns `step()`, one training step inside tidy() returning its loss (the only value a
 *   caller needs to read back), and `dispose()`, which frees the model, state and batch
 */
export function vitTrainStep(): { step(): T.Tensor; dispose(): void } {
  const vit = visionTransformer({
    img_size: 28,
    patch_size: 4,
    in_chans: 1,
    num_classes: 10,
    embed_dim: 128,
    depth: 6,
    num_heads: 2,
    qkv_bias: true,
    use_abs_pos_emb: true,
  });
  const optimizer = adamw({ learningRate: 1e-3, weightDecay: 0.05 });
  let params = vit.init(T.key(0));
  let state = optimizer.init(params);
  const images = T.uniform(T.key(1), [64, 1, 28, 28]);
  const labels = T.tensor(Array.from({ length: 64 }, (_, i) => i % 10), { dtype: "int32" });
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
