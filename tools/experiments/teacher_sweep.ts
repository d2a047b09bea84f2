// One supervised-teacher recipe on Fashion-MNIST, trained as the pipeline trains its teacher
// (ViT of 4×4 patches, AdamW with weight decay 0.05, warm-up over a tenth of the steps then
// cosine to 1e-5), then its top-1 on the full test split. The runs behind the default preset's
// teacher recipe (docs/results.md) were made with it.
//
//   deno run -A tools/experiments/teacher_sweep.ts [--width 64] [--depth 2] [--heads 2]
//     [--batch 128] [--lr 1e-3] [--epochs 1] [--train 60000] [--augment none|flip|crop+flip]
//     [--seed 0]
//
// Prints one JSON line: the recipe, steps, training seconds and test top-1.

import { parseArgs } from "node:util";
import { foldIn, key, useBackend } from "../../tensor/mod.ts";
import {
  asHostDataset,
  FASHION_MNIST_MEAN,
  FASHION_MNIST_STD,
  loadFashionMnistRaw,
} from "../../data/fashion_mnist.ts";
import { horizontalFlip, normalize, randomCropWithPadding } from "../../data/transforms.ts";
import {
  adamw,
  evaluateClassifier,
  trainClassifier,
  visionTransformer,
  type ViTParams,
  warmupCosine,
} from "../../nn/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    width: { type: "string", default: "64" },
    depth: { type: "string", default: "2" },
    heads: { type: "string", default: "2" },
    batch: { type: "string", default: "128" },
    lr: { type: "string", default: "1e-3" },
    epochs: { type: "string", default: "1" },
    train: { type: "string", default: "60000" },
    augment: { type: "string", default: "none" },
    seed: { type: "string", default: "0" },
  },
});
const num = (name: keyof typeof values) => {
  const x = Number(values[name]);
  if (!Number.isFinite(x) || x <= 0 && name !== "seed") {
    console.error(`--${name} must be a positive number (got "${values[name]}")`);
    Deno.exit(2);
  }
  return x;
};
const augment = values.augment;
if (!["none", "flip", "crop+flip"].includes(augment)) {
  console.error(`--augment must be none, flip or crop+flip (got "${augment}")`);
  Deno.exit(2);
}
await useBackend("cpu");
const MEAN = [FASHION_MNIST_MEAN];
const STD = [FASHION_MNIST_STD];
const trainRaw = await loadFashionMnistRaw({ split: "train", subset: num("train") });
const testRaw = await loadFashionMnistRaw({ split: "test" });
const vit = visionTransformer({
  img_size: 28,
  patch_size: 4,
  in_chans: 1,
  num_classes: 10,
  embed_dim: num("width"),
  depth: num("depth"),
  num_heads: num("heads"),
  qkv_bias: true,
});
const root = key(num("seed"));
const batch = num("batch");
const steps = num("epochs") * Math.floor(trainRaw.count / batch);
const t0 = performance.now();
const trained = await trainClassifier({
  apply: (p: ViTParams, x, o) => vit.apply(p, x, o),
  params: vit.init(foldIn(root, 1)),
  optimizer: adamw({
    learningRate: warmupCosine({
      baseValue: num("lr"),
      finalValue: 1e-5,
      totalSteps: steps,
      warmupSteps: Math.floor(steps / 10),
    }),
    weightDecay: 0.05,
  }),
  data: asHostDataset(trainRaw),
  epochs: num("epochs"),
  batchSize: batch,
  key: foldIn(root, 2),
  transform: (k, b) => {
    const shifted = augment === "crop+flip" ? randomCropWithPadding(foldIn(k, 0), b, 28, 2) : b;
    const flipped = augment === "none" ? shifted : horizontalFlip(foldIn(k, 1), shifted, 0.5);
    return normalize(flipped, MEAN, STD);
  },
  quiet: true,
});
const seconds = (performance.now() - t0) / 1000;
const top1 = await evaluateClassifier(
  (p: ViTParams, x, o) => vit.apply(p, x, o),
  trained.params,
  asHostDataset(testRaw),
  { transform: (b) => normalize(b, MEAN, STD) },
);
console.log(JSON.stringify({ ...values, steps, seconds: Math.round(seconds), top1 }));
