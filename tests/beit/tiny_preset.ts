// A preset small enough for tests: every stage of the pipeline on a few dozen images.

import { type Preset, PRESETS } from "../../beit/presets.ts";

/** Every stage and row of the pipeline, on 48 training and 32 test images. */
export const TINY: Preset = {
  ...structuredClone(PRESETS.quick),
  name: "tiny",
  train: 48,
  test: 32,
  teacher: {
    embedDim: 16,
    depth: 1,
    heads: 2,
    epochs: 1,
    batchSize: 16,
    lr: 1e-3,
    augment: "crop+flip",
  },
  vqkd: {
    embedDim: 16,
    depth: 1,
    decoderDepth: 1,
    heads: 2,
    codes: 32,
    codeDim: 8,
    epochs: 1,
    batchSize: 16,
    lr: 1e-3,
  },
  beit: {
    embedDim: 16,
    depth: 2,
    heads: 2,
    earlyLayers: 1,
    headLayers: 1,
    epochs: 1,
    batchSize: 16,
    lr: 1e-3,
    warmupEpochs: 0,
  },
  probe: { epochs: 2 },
  finetune: {
    epochs: 1,
    batchSize: 16,
    lr: 1e-3,
    layerDecay: 0.65,
    cropPadding: 4,
    flip: true,
  },
  rows: "all",
};
