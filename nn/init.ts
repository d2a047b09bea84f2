// Weight initialisation schemes, as the official models run them. Three regimes exist in the official code:
//
//   "finetune"  modeling_finetune.VisionTransformer (classifier, VQ-KD encoder/decoder):
//               Linear weights, cls_token, pos_embed ~ N(0, 0.02²) truncated at ±2 (absolute,
//               i.e. ±100σ: effectively untruncated); biases 0; the patch Conv2d keeps
//               PyTorch's default init U(±1/√fan_in) for weight and bias.
//   "pretrain"  modeling_pretrain: every draw is N(0, 0.02²) truncated at ±1σ (std ≈ 0.0108),
//               including the patch Conv2d weight; biases 0.
//   "torch"     PyTorch's own defaults (kaiming_uniform with a = √5): Linear weight and bias
//               ~ U(±1/√fan_in). The CLS-bottleneck blocks of the pretrainer keep these,
//               because they are created after the model's initialiser ran.
//
// In all three, LayerNorm is (1, 0), q/v biases and relative-position tables 0, layer-scale
// gammas init_values, and blocks rescale attn.proj.weight and mlp.fc2.weight by
// 1/√(2·layer) afterwards (done by the model, which knows the layer index).

import {
  type Key,
  mul,
  type Tensor,
  tidy,
  truncatedNormal,
  uniform,
  zeros,
} from "../tensor/mod.ts";

/** Which initialisation regime a layer follows. */
export type InitStyle = "finetune" | "pretrain" | "torch";

const STD = 0.02;

/** A weight (or token) of the given shape drawn per the style's normal rule. */
export function truncNormalInit(k: Key, shape: readonly number[], style: InitStyle): Tensor {
  const bound = style === "pretrain" ? 1 : 2 / STD;
  return tidy(() => mul(truncatedNormal(k, shape, { lower: -bound, upper: bound }), STD));
}

/** U(±1/√fanIn): PyTorch's default for Linear and Conv2d weights and biases. */
export function torchUniformInit(k: Key, shape: readonly number[], fanIn: number): Tensor {
  const bound = 1 / Math.sqrt(fanIn);
  return tidy(() => uniform(k, shape, { minval: -bound, maxval: bound }));
}

/** A Linear layer's weight [out, in]. */
export function linearWeightInit(
  k: Key,
  outFeatures: number,
  inFeatures: number,
  style: InitStyle,
): Tensor {
  return style === "torch"
    ? torchUniformInit(k, [outFeatures, inFeatures], inFeatures)
    : truncNormalInit(k, [outFeatures, inFeatures], style);
}

/** A Linear layer's bias [out]. */
export function linearBiasInit(
  k: Key,
  outFeatures: number,
  inFeatures: number,
  style: InitStyle,
): Tensor {
  return style === "torch" ? torchUniformInit(k, [outFeatures], inFeatures) : zeros([outFeatures]);
}
