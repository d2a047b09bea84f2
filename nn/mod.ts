/**
 * Neural-network layers, optimizers and state I/O, as pure functions over parameter
 * trees whose keys are the official PyTorch checkpoint names.
 *
 * A layer is a factory closing over its config that returns `{ init(key), apply(params,
 * x, options) }`; optimizers are optax-style `{ init, update }` gradient transformations.
 *
 * Names: an op is a verb-like function of tensors (`linear(x, w, b)`, `layerNorm(x, w, b)`,
 * `dropout(key, x)` in the root module); a layer factory whose op shares its name carries the
 * suffix `Layer` (`linearLayer`, `layerNormLayer`, `dropoutLayer`), so one name never means
 * two things across the two entry points. The other factories (`attention`, `block`, `mlp`,
 * `patchEmbed`, `visionTransformer`) have no op of the same name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { key, treeFlattenWithPath, zeros } from "@tessella/tessella";
 * import { visionTransformer } from "@tessella/tessella/nn";
 * const vit = visionTransformer({ img_size: 28, patch_size: 4, in_chans: 1, num_classes: 10, embed_dim: 32, depth: 1, num_heads: 2, use_abs_pos_emb: false, use_rel_pos_bias: true, init_values: 0.1, qkv_bias: true });
 * const params = vit.init(key(0));
 * assert.equal(treeFlattenWithPath(params)[2][0], "patch_embed.proj.bias");
 * ```
 *
 * @module
 */

export type { Layer } from "./layer.ts";
export { linearForward, linearLayer, type LinearParams } from "./linear.ts";
export { layerNormLayer, type LayerNormParams } from "./layer_norm.ts";
export { dropoutLayer, dropPath, dropPathForward, type TrainOptions } from "./dropout.ts";
export { mlp, type MlpParams } from "./mlp.ts";
export { patchEmbed, type PatchEmbedParams, patchify } from "./patch_embed.ts";
export {
  relativePositionBias,
  relativePositionBiasFromTable,
  type RelativePositionBiasParams,
  relativePositionIndex,
  relativePositionTableSize,
} from "./relative_position_bias.ts";
export {
  attention,
  type AttentionConfig,
  type AttentionOptions,
  type AttentionParams,
  type QkvBias,
} from "./attention.ts";
export { block, type BlockConfig, type BlockOptions, type BlockParams } from "./block.ts";
export {
  type BackboneConfig,
  type BackboneParts,
  backboneParts,
  blockSettings,
  dropPathRates,
  rescaleResidual,
  visionTransformer,
  VIT_DEFAULTS,
  type ViTApplyOptions,
  type ViTConfig,
  type ViTModel,
  type ViTParams,
} from "./vision_transformer.ts";
export { camelCase, parseConfig } from "./config.ts";
export {
  type InitStyle,
  linearBiasInit,
  linearWeightInit,
  torchUniformInit,
  truncNormalInit,
} from "./init.ts";
export {
  decodeRawTensor,
  fromStateDict,
  type LoadReport,
  loadStateDict,
  readRawStateDict,
  saveStateDict,
  writeFileAtomic,
} from "./io/state_dict.ts";
export {
  parseSafetensors,
  type RawTensor,
  SafetensorsError,
  serializeSafetensors,
} from "./io/safetensors.ts";
export { PthError, readPth } from "./io/pth.ts";
export { encodeNpy, parseNpy } from "./io/npy.ts";
export {
  encodePth,
  PthStateDict,
  type PthTensor,
  pthTensor,
  type PthValue,
} from "./io/pth_write.ts";
export {
  CheckpointError,
  configHash,
  decodeCheckpoint,
  loadCheckpoint,
  loadCheckpointOrNull,
  saveCheckpoint,
} from "./io/checkpoint.ts";
export { formatBytes, type IoLimits, ioLimits, setIoLimits } from "../data/limits.ts";
export { PickleError } from "./io/pickle.ts";
export { ZipError } from "./io/zip.ts";
export {
  type AdamState,
  addDecayedWeights,
  applyUpdates,
  chain,
  clipByGlobalNorm,
  defaultDecayMask,
  globalNorm,
  type GradientTransformation,
  NO_WEIGHT_DECAY_NAMES,
  scale,
  scaleByAdam,
  scaleByLearningRate,
  scaleByTree,
  traceMomentum,
  type Updates,
} from "./optim/transform.ts";
export { constant, type Schedule, warmupCosine } from "./optim/schedule.ts";
export { adamw, type AdamWOptions, layerId, layerwiseLrDecay, sgd } from "./optim/alias.ts";
export {
  type ClassifierApply,
  evaluateClassifier,
  trainClassifier,
  type TrainClassifierOptions,
} from "./classifier.ts";
export { type ProgressBar, progressBar } from "./progress.ts";
export {
  type EpochSummary,
  learningRateOf,
  type StepPosition,
  type TrainingSchedule,
  trainLoop,
  type TrainLoopOptions,
} from "./train_loop.ts";
