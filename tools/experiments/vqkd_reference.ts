// The VQ-KD comparison with the reference run (docs/results.md): trains a tokenizer in the configuration of the reference
// run of the official modules (K = 512 codes of dimension 32, encoder width 128 depth 4,
// decoder depth 1, batch 128) for a given number of epochs and reports the codebook usage
// on the test split and the mean cosine similarity of the decoder's output to the target.
//
//   deno run -A tools/experiments/vqkd_reference.ts --target pixels [--epochs 1]
//       [--train-size N] [--teacher-checkpoint runs/default/teacher.ckpt --teacher-width 64
//        --teacher-depth 2 --teacher-heads 2] [--out FILE.json]
//
// `--target pixels` distils per-patch normalised pixels; `--target supervised` distils the
// patch tokens of a classifier checkpoint written by `deno task pretrain` (teacher.ckpt).
// The full Fashion-MNIST set is used when found (Debian's dataset-fashion-mnist).

import { parseArgs } from "node:util";
import { foldIn, key } from "../../tensor/mod.ts";
import {
  asHostDataset,
  FASHION_MNIST_MEAN,
  FASHION_MNIST_STD,
  loadFashionMnistRaw,
} from "../../data/fashion_mnist.ts";
import { loadCheckpoint } from "../../nn/io/checkpoint.ts";
import { visionTransformer, type ViTParams } from "../../nn/mod.ts";
import { evaluateTokenizer } from "../../vqkd/evaluate.ts";
import { classifierTeacher, pixelTeacher, type Teacher } from "../../vqkd/teachers.ts";
import { trainVqkd, VQKD_CONFIGS } from "../../vqkd/train.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    target: { type: "string", default: "pixels" },
    epochs: { type: "string", default: "1" },
    "train-size": { type: "string" },
    "teacher-checkpoint": { type: "string", default: "runs/default/teacher.ckpt" },
    "teacher-width": { type: "string", default: "64" },
    "teacher-depth": { type: "string", default: "2" },
    "teacher-heads": { type: "string", default: "2" },
    lr: { type: "string", default: "1e-3" },
    seed: { type: "string", default: "0" },
    out: { type: "string" },
  },
});

const raw = async (split: "train" | "test", subset?: number) => {
  const r = await loadFashionMnistRaw({ split, subset });
  return { data: asHostDataset(r), source: r.source };
};
const trainSize = values["train-size"] ? Number(values["train-size"]) : undefined;
const train = await raw("train", trainSize);
const test = await raw("test");

let teacher: Teacher;
let teacherDim: number;
if (values.target === "pixels") {
  teacher = pixelTeacher({ patchSize: 4 });
  teacherDim = 16;
} else if (values.target === "supervised") {
  const vit = visionTransformer({
    img_size: 28,
    patch_size: 4,
    in_chans: 1,
    num_classes: 10,
    embed_dim: Number(values["teacher-width"]),
    depth: Number(values["teacher-depth"]),
    num_heads: Number(values["teacher-heads"]),
    qkv_bias: true,
  });
  const saved = await loadCheckpoint<{ value: ViTParams }>(values["teacher-checkpoint"]!);
  teacher = classifierTeacher(vit, saved.value, {
    mean: [FASHION_MNIST_MEAN],
    std: [FASHION_MNIST_STD],
  });
  teacherDim = vit.config.embedDim;
} else {
  throw new Error(`Unknown --target ${values.target}: use pixels or supervised`);
}

const config = { ...VQKD_CONFIGS["fashion-mnist"], decoder_out_dim: teacherDim };
const root = key(Number(values.seed));
const t0 = performance.now();
const trained = await trainVqkd({
  model: config,
  teacher,
  data: train.data,
  epochs: Number(values.epochs),
  batchSize: 128,
  learningRate: Number(values.lr),
  warmupEpochs: Math.min(1, Number(values.epochs) / 4),
  key: foldIn(root, 3),
});
const seconds = (performance.now() - t0) / 1000;
const report = await evaluateTokenizer(trained.model, trained.params, trained.state, test.data, {
  teacher,
});
const result = {
  target: values.target,
  epochs: Number(values.epochs),
  trainImages: train.data.labels.length,
  testImages: test.data.labels.length,
  source: train.source,
  trainUsage: trained.usage,
  testUsage: report.usage,
  cosine: report.cosine,
  seconds,
};
console.log(JSON.stringify(result));
if (values.out) await Deno.writeTextFile(values.out, JSON.stringify(result, null, 2));
