/**
 * BEiT v2 masked image modelling: the blockwise masking generator, the
 * pretraining model with the CLS bottleneck, pretraining, linear probing,
 * fine-tuning and the whole Fashion-MNIST pipeline behind `deno task pretrain`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { key } from "@tessella/tessella";
 * import { drawBlockwiseMask } from "@tessella/tessella/beit";
 * const { mask } = drawBlockwiseMask(key(1), { grid: [14, 14], numMasked: 75 });
 * assert.equal(mask.reduce((a, b) => a + b, 0), 75);
 * ```
 *
 * @module
 */

export {
  blockwiseMasks,
  drawBlockwiseMask,
  type MaskDraw,
  type MaskingOptions,
} from "./masking.ts";
export {
  BEIT_PRETRAIN_DEFAULTS,
  type BeitApplyOptions,
  type BeitOutput,
  type BeitPretrainConfig,
  beitPretrainLoss,
  type BeitPretrainModel,
  beitPretrainModel,
  type BeitPretrainParams,
  maskedPositions,
  type MaskInput,
} from "./model.ts";
export { pretrainBeit, type Pretrained, type PretrainOptions, type Tokenizer } from "./pretrain.ts";
export {
  extractFeatures,
  type FeatureSet,
  linearProbe,
  pixelFeatures,
  type ProbeOptions,
} from "./probe.ts";
export {
  finetuneBeit,
  finetuneConfig,
  type FinetuneOptions,
  pretrainedToFinetune,
} from "./finetune.ts";
export { type PipelineOptions, runPipeline } from "./pipeline.ts";
export { type Preset, PRESETS } from "./presets.ts";
export { type ResultRow, type StageTiming } from "./run_folder.ts";
export { type ChartOptions, curvesSvg, movingAverage, niceTicks } from "./charts.ts";
export {
  beitFeatures,
  exportOfficial,
  loadRunBeit,
  loadRunClassifier,
  loadRunTokenizer,
  type OfficialExport,
  openRun,
  readRunImages,
  type RunConfigs,
  runConfigs,
  type RunRecipe,
  type SavedRun,
  writeRunConfigs,
} from "./saved_run.ts";
