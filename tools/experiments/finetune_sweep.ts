// One fine-tuning recipe on a run's pretrained BEiT v2 (or from scratch), trained and tested
// as the pipeline fine-tunes (same data, model and key), to choose a preset's fine-tuning
// recipe. The runs behind the default preset's recipe (docs/results.md) were made with it.
//
//   deno run -A tools/experiments/finetune_sweep.ts --run runs/default [--scratch]
//     [--epochs 1] [--batch 64] [--lr 2e-3] [--layer-decay 0.65] [--drop-path 0.1]
//     [--smoothing 0.1] [--padding 4] [--flip true|false] [--warmup EPOCHS]
//
// The warm-up defaults to the pipeline's: min(1, epochs / 4) epochs.
//
// Prints one JSON line: the recipe, seconds and test top-1.

import { parseArgs } from "node:util";
import { foldIn, key, useBackend } from "../../tensor/mod.ts";
import { loadCheckpoint } from "../../nn/io/checkpoint.ts";
import { beitModelConfig } from "../../beit/presets.ts";
import { readRunFolder } from "./_run_folder.ts";
import { beitPretrainModel, type BeitPretrainParams } from "../../beit/model.ts";
import { finetuneBeit } from "../../beit/finetune.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    run: { type: "string" },
    scratch: { type: "boolean", default: false },
    epochs: { type: "string", default: "1" },
    batch: { type: "string", default: "64" },
    lr: { type: "string", default: "2e-3" },
    "layer-decay": { type: "string", default: "0.65" },
    "drop-path": { type: "string", default: "0.1" },
    smoothing: { type: "string", default: "0.1" },
    padding: { type: "string", default: "4" },
    flip: { type: "string", default: "true" },
    warmup: { type: "string" },
  },
});
if (!values.run) {
  console.error("Usage: deno run -A tools/experiments/finetune_sweep.ts --run DIR [options]");
  Deno.exit(2);
}
const num = (name: keyof typeof values) => {
  const x = Number(values[name]);
  if (!Number.isFinite(x) || x < 0) {
    console.error(`--${name} must be a non-negative number (got "${values[name]}")`);
    Deno.exit(2);
  }
  return x;
};
await useBackend("cpu");
const { preset, seed, train, test } = await readRunFolder(values.run);
const model = beitPretrainModel(beitModelConfig(preset, preset.beit.headLayers));
const pretrained = values.scratch
  ? null
  : (await loadCheckpoint<{ value: BeitPretrainParams }>(`${values.run}/beit.ckpt`)).value;
const t0 = performance.now();
const { top1 } = await finetuneBeit({
  config: model.config,
  pretrained,
  train,
  test,
  epochs: num("epochs"),
  batchSize: num("batch"),
  learningRate: num("lr"),
  layerDecay: num("layer-decay"),
  dropPathRate: num("drop-path"),
  labelSmoothing: num("smoothing"),
  cropPadding: num("padding"),
  flip: values.flip !== "false",
  warmupEpochs: values.warmup === undefined ? Math.min(1, num("epochs") / 4) : num("warmup"),
  key: foldIn(key(seed), 10),
  quiet: true,
});
const { run: _run, ...shown } = values;
console.log(JSON.stringify({
  ...shown,
  seconds: Math.round((performance.now() - t0) / 1000),
  top1,
}));
