// The linear probe of BEiT v2 checkpoints from a run folder, exactly as the pipeline probes
// its final model (last-layer CLS after the final norm, the same data, epochs and key): the
// curve of probe accuracy against MIM steps, from snapshots taken during pretraining.
//
//   deno run -A tools/experiments/probe_checkpoints.ts --run runs/default CKPT…
//
// A checkpoint is either a stage's finished checkpoint (beit.ckpt) or a resume point
// (beit.partial.ckpt: params, optimizer state and the last finished epoch). The run folder
// gives the recipe (run.json). Prints one JSON line per checkpoint.

import { parseArgs } from "node:util";
import { dispose, foldIn, key, type Tensor, tensor, useBackend } from "../../tensor/mod.ts";
import { loadCheckpoint } from "../../nn/io/checkpoint.ts";
import { beitModelConfig } from "../../beit/presets.ts";
import { readRunFolder } from "./_run_folder.ts";
import { beitPretrainModel, type BeitPretrainParams } from "../../beit/model.ts";
import { extractFeatures, linearProbe } from "../../beit/probe.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  options: { run: { type: "string" } },
  allowPositionals: true,
});
if (!values.run || positionals.length === 0) {
  console.error("Usage: deno run -A tools/experiments/probe_checkpoints.ts --run DIR CKPT…");
  Deno.exit(2);
}
await useBackend("cpu");
const { preset, seed, train, test } = await readRunFolder(values.run);
const model = beitPretrainModel(beitModelConfig(preset, preset.beit.headLayers));
const stepsPerEpoch = Math.floor(train.labels.length / preset.beit.batchSize);
const noMask = (b: number) =>
  tensor(new Uint8Array(b * 49), { shape: [b, 49], dtype: "bool", backend: "cpu" });
for (const path of positionals) {
  const saved = await loadCheckpoint<
    { value?: BeitPretrainParams; params?: BeitPretrainParams; epoch?: number }
  >(path);
  const params = saved.value ?? saved.params;
  if (!params) throw new Error(`${path} holds neither a finished stage nor a resume point`);
  const epochs = saved.value ? preset.beit.epochs : saved.epoch! + 1;
  const cls = (images: Tensor) =>
    model.apply(params, images, { mask: noMask(images.shape[0]) }).cls;
  const probe = await linearProbe(
    await extractFeatures(train, cls),
    await extractFeatures(test, cls),
    { epochs: preset.probe.epochs, key: foldIn(key(seed), 9), quiet: true },
  );
  console.log(JSON.stringify({
    checkpoint: path,
    mimEpochs: epochs,
    mimSteps: epochs * stepsPerEpoch,
    probe: probe.top1,
  }));
  dispose(saved);
}
