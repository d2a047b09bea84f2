// Fine-tunes a run's pretrained BEiT v2 model on your own labelled images: a folder with
// one sub-folder per class (ROOT/<class>/<image>.png|jpg), as torchvision's ImageFolder.
// Every fifth image of each class is held out for testing; the rest train the classifier
// (layer-wise learning-rate decay, label smoothing, flips), which is then saved with the
// official key names (a .safetensors file that the official ViT class loads).
//
//   deno task pretrain --preset quick                 # a run folder: runs/quick
//   deno run --allow-read --allow-write --allow-env examples/finetune_folder.ts \
//     --run runs/quick [--epochs 5] [--out classifier.safetensors] ROOT

import { parseArgs } from "node:util";
import { key, saveStateDict, toArraySync } from "@tessella/tessella";
import { loadImageFolder } from "@tessella/tessella/data";
import { finetuneBeit, loadRunBeit, openRun } from "@tessella/tessella/beit";

const { values, positionals } = parseArgs({
  args: Deno.args,
  options: {
    run: { type: "string" },
    epochs: { type: "string", default: "5" },
    out: { type: "string" },
  },
  allowPositionals: true,
});
if (!values.run || positionals.length !== 1) {
  console.error("Usage: finetune_folder.ts --run RUN_DIR [--epochs E] [--out FILE] ROOT");
  Deno.exit(2);
}

// Grayscale, 28 × 28 (resized on the shorter side and centre-cropped), in [0, 1].
const folder = await loadImageFolder(positionals[0], { channels: 1, size: 28 });
const pixels = toArraySync(folder.images) as Float32Array;
const labels = toArraySync(folder.labels) as Int32Array;

// Split: per class, every fifth image is a test image.
const seen = new Map<number, number>();
const split = { train: [] as number[], test: [] as number[] };
labels.forEach((label, i) => {
  const k = seen.get(label) ?? 0;
  seen.set(label, k + 1);
  (k % 5 === 4 ? split.test : split.train).push(i);
});
const subset = (indices: number[]) => {
  const out = new Float32Array(indices.length * 784);
  indices.forEach((i, j) => out.set(pixels.subarray(i * 784, (i + 1) * 784), j * 784));
  return {
    pixels: out,
    labels: Int32Array.from(indices, (i) => labels[i]),
    shape: [indices.length, 1, 28, 28] as [number, number, number, number],
  };
};
const train = subset(split.train);
const test = subset(split.test);
console.log(
  `${folder.classes.length} classes (${folder.classes.join(", ")}): ` +
    `${split.train.length} training and ${split.test.length} test images`,
);

const run = await openRun(values.run);
const { model, params } = await loadRunBeit(run);
const { top1, params: tuned } = await finetuneBeit({
  config: model.config,
  pretrained: params,
  numClasses: folder.classes.length,
  train,
  test,
  epochs: Number(values.epochs),
  batchSize: Math.min(64, train.labels.length),
  learningRate: 2e-3,
  cropPadding: 0,
  key: key(0),
});
console.log(`test accuracy: ${(100 * top1).toFixed(1)} % on ${split.test.length} images`);
if (values.out) {
  await saveStateDict(values.out, tuned, { metadata: { classes: JSON.stringify(folder.classes) } });
  console.log(`wrote ${values.out}`);
}
