// The small ViT the training tests train: 8×8 grayscale images in 4×4 patches, 3 classes,
// 2 blocks with layer scale, relative position bias, dropout and drop path, so that every
// random part of a training step is exercised; AdamW with clipping; a fixed batch of 6.

import * as T from "../../mod.ts";
import { adamw, visionTransformer } from "../../nn/mod.ts";

/** The model. */
export const vit = visionTransformer({
  img_size: 8,
  patch_size: 4,
  in_chans: 1,
  num_classes: 3,
  embed_dim: 16,
  depth: 2,
  num_heads: 2,
  qkv_bias: true,
  init_values: 0.1,
  use_abs_pos_emb: false,
  use_rel_pos_bias: true,
  drop_path_rate: 0.2,
  drop_rate: 0.1,
});

/** Its optimizer. */
export const optimizer = adamw({ learningRate: 1e-2, weightDecay: 0.05, clipNorm: 3 });

/** A batch of 6 images (new tensors on every call, the same values). */
export const images = (): T.Tensor => T.normal(T.key(5), [6, 1, 8, 8]);

/** Their labels. */
export const labels = (): T.Tensor => T.tensor([0, 1, 2, 0, 1, 2], { dtype: "int32" });
