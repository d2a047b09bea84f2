// The stages of a pipeline run and the rows of its results table, each a function of the
// run's context: the supervised teacher, a VQ-KD tokenizer, a BEiT v2 pretraining, a linear
// probe row, a fine-tuning row, and the ablation rows. Training stages go through the stage
// cache (skipped when finished, resumed from their partial checkpoint otherwise); rows are
// skipped when the results already hold them.

import { dispose, foldIn, type Key, mean, type Tensor, tensor } from "../tensor/mod.ts";
import { FASHION_MNIST_MEAN, FASHION_MNIST_STD } from "../data/fashion_mnist.ts";
import type { HostDataset } from "../data/loader.ts";
import { horizontalFlip, normalize, randomCropWithPadding } from "../data/transforms.ts";
import { evaluateClassifier, trainClassifier } from "../nn/classifier.ts";
import { saveCheckpoint } from "../nn/io/checkpoint.ts";
import { adamw } from "../nn/optim/alias.ts";
import { warmupCosine } from "../nn/optim/schedule.ts";
import { visionTransformer, type ViTModel, type ViTParams } from "../nn/vision_transformer.ts";
import { vqkd, type VqkdModel, type VqkdParams, type VqkdState } from "../vqkd/model.ts";
import { pixelTeacher, type Teacher } from "../vqkd/teachers.ts";
import { trainVqkd } from "../vqkd/train.ts";
import { finetuneBeit } from "./finetune.ts";
import { type BeitPretrainModel, beitPretrainModel, type BeitPretrainParams } from "./model.ts";
import { pretrainBeit } from "./pretrain.ts";
import {
  beitModelConfig,
  INPUT,
  type Preset,
  teacherModelConfig,
  vqkdModelConfig,
} from "./presets.ts";
import { extractFeatures, linearProbe, pixelFeatures } from "./probe.ts";
import { ROWS } from "./report.ts";
import type { ResultBook, StageCache } from "./run_folder.ts";

/** The input normalisation of every stage: Fashion-MNIST's mean and standard deviation. */
const MEAN = [FASHION_MNIST_MEAN];
const STD = [FASHION_MNIST_STD];

/** A trained tokenizer as its stage saves it. */
export type TokenizerState = { params: VqkdParams; state: VqkdState };

/** What every stage of a run reads. */
export interface RunContext {
  /** The run's recipe. */
  preset: Preset;
  /** The run folder. */
  out: string;
  /** Every key of the run derives from this one (the seed's). */
  root: Key;
  /** The training and test images. */
  data: { train: HostDataset; test: HostDataset };
  /** Results and stage times. */
  book: ResultBook;
  /** Finished stages. */
  cache: StageCache;
  /** The run's training settings, recorded in the checkpoints it writes. */
  trainingKey: Record<string, unknown>;
  /** The command line every result row records. */
  command: string;
  /** Where lines go: `log` appends to metrics.jsonl, `say` prints a line. */
  output: {
    log: (record: Record<string, unknown>) => void;
    say: (text: string) => void;
    /** No progress bars (the worker thread, or a quiet run). */
    silent: boolean;
  };
}

/** Images one training epoch at this batch size sees (the loops drop a last partial batch). */
function epochImages(ctx: RunContext, batchSize: number): number {
  return Math.floor(ctx.data.train.labels.length / batchSize) * batchSize;
}

/**
 * A training stage `name`: loaded from `DIR/name.ckpt` when finished, else run and timed
 * (`stage.epochs` passes at `stage.batchSize` images per step) and saved.
 */
function trainingStage<T>(
  ctx: RunContext,
  name: string,
  stage: { epochs: number; batchSize: number },
  run: () => Promise<T>,
): Promise<T> {
  const images = stage.epochs * epochImages(ctx, stage.batchSize);
  return ctx.cache.stage(
    `${ctx.out}/${name}.ckpt`,
    () => ctx.book.timed(name, images, run, stage.batchSize),
  );
}

/**
 * What a resumable trainer takes from a stage of the recipe: the training data, the
 * schedule, the partial checkpoint `DIR/name.partial.ckpt`, and where its progress goes.
 */
function scheduled(
  ctx: RunContext,
  name: string,
  stage: { epochs: number; batchSize: number; lr: number },
  warmupEpochs: number,
) {
  return {
    data: ctx.data.train,
    epochs: stage.epochs,
    batchSize: stage.batchSize,
    learningRate: stage.lr,
    warmupEpochs,
    checkpoint: `${ctx.out}/${name}.partial.ckpt`,
    quiet: ctx.output.silent,
    onStep: (m: Record<string, number>) => ctx.output.log({ stage: name, ...m }),
  };
}

/** The teacher: a supervised ViT classifier (it saw the labels). */
export async function teacherStage(
  ctx: RunContext,
): Promise<{ model: ViTModel; params: ViTParams }> {
  const t = ctx.preset.teacher;
  const model = visionTransformer(teacherModelConfig(ctx.preset));
  const { train } = ctx.data;
  const params = await trainingStage(ctx, "teacher", t, async (): Promise<ViTParams> => {
    const steps = t.epochs * Math.floor(train.labels.length / t.batchSize);
    const trained = await trainClassifier({
      apply: model.apply,
      params: model.init(foldIn(ctx.root, 1)),
      optimizer: adamw({
        learningRate: warmupCosine({
          baseValue: t.lr,
          finalValue: 1e-5,
          totalSteps: steps,
          warmupSteps: Math.floor(steps / 10),
        }),
        weightDecay: 0.05,
      }),
      data: train,
      epochs: t.epochs,
      batchSize: t.batchSize,
      key: foldIn(ctx.root, 2),
      transform: (k, batch) => {
        const [, , side] = batch.shape;
        const shifted = t.augment === "crop+flip"
          ? randomCropWithPadding(foldIn(k, 0), batch, side, 2)
          : batch;
        const flipped = t.augment === "none" ? shifted : horizontalFlip(foldIn(k, 1), shifted, 0.5);
        return normalize(flipped, MEAN, STD);
      },
      label: "teacher",
      quiet: ctx.output.silent,
      onStep: (step, loss) => ctx.output.log({ stage: "teacher", step, loss }),
    });
    return trained.params;
  });
  return { model, params };
}

/** A VQ-KD tokenizer distilled from `teacher` (features of width `teacherDim`). */
export function tokenizerStage(
  ctx: RunContext,
  name: string,
  teacher: Teacher,
  teacherDim: number,
  salt: number,
): Promise<TokenizerState> {
  const v = ctx.preset.vqkd;
  return trainingStage(ctx, name, v, async () => {
    const trained = await trainVqkd({
      model: vqkdModelConfig(ctx.preset, teacherDim),
      teacher,
      ...scheduled(ctx, name, v, Math.min(1, v.epochs / 4)),
      key: foldIn(ctx.root, salt),
    });
    return { params: trained.params, state: trained.state };
  });
}

/** BEiT v2 pretraining on a tokenizer's codes, with or without the CLS bottleneck. */
export function pretrainStage(
  ctx: RunContext,
  name: string,
  tokenizer: { model: VqkdModel } & TokenizerState,
  bottleneck: boolean,
  salt: number,
): Promise<BeitPretrainParams> {
  const b = ctx.preset.beit;
  return trainingStage(ctx, name, b, async () => {
    const trained = await pretrainBeit({
      model: beitModelConfig(ctx.preset, bottleneck ? b.headLayers : 0),
      tokenizer,
      ...scheduled(ctx, name, b, b.warmupEpochs),
      clsBottleneck: bottleneck,
      key: foldIn(ctx.root, salt),
      // The main model keeps one snapshot per epoch: the curve of probe accuracy against
      // MIM steps (tools/experiments/probe_checkpoints.ts).
      snapshot: name === "beit" ? (e) => `${ctx.out}/snapshots/beit.epoch${e}.ckpt` : undefined,
    });
    return trained.params;
  });
}

/** A linear-probe row on the features `features` computes from normalised images. */
export async function probeRow(
  ctx: RunContext,
  name: string,
  features: (images: Tensor) => Tensor,
): Promise<void> {
  if (ctx.book.row(name)) return;
  const { train, test } = ctx.data;
  const t0 = performance.now();
  const probe = await ctx.book.timed(
    `probe ${name}`,
    train.labels.length + test.labels.length,
    async () =>
      await linearProbe(
        await extractFeatures(train, features),
        await extractFeatures(test, features),
        {
          epochs: ctx.preset.probe.epochs,
          key: foldIn(ctx.root, 9),
          quiet: ctx.output.silent,
          label: `probe ${name}`,
        },
      ),
  );
  ctx.book.rows.push({
    name,
    probe: probe.top1,
    probeCurve: probe.curve,
    seconds: (performance.now() - t0) / 1000,
    command: ctx.command,
  });
  ctx.book.save();
}

/** The fine-tuning column of a probed row (null params: from scratch, the random-init row). */
export async function finetuneRow(
  ctx: RunContext,
  name: string,
  params: BeitPretrainParams | null,
): Promise<void> {
  const row = ctx.book.row(name);
  if (!row || row.finetune !== undefined) return;
  const t0 = performance.now();
  const f = ctx.preset.finetune;
  const tuned = await ctx.book.timed(
    `finetune ${name}`,
    f.epochs * epochImages(ctx, f.batchSize),
    () =>
      finetuneBeit({
        config: beitPretrainModel(beitModelConfig(ctx.preset, ctx.preset.beit.headLayers)).config,
        pretrained: params,
        train: ctx.data.train,
        test: ctx.data.test,
        epochs: f.epochs,
        batchSize: f.batchSize,
        learningRate: f.lr,
        layerDecay: f.layerDecay,
        cropPadding: f.cropPadding,
        flip: f.flip,
        warmupEpochs: Math.min(1, f.epochs / 4),
        key: foldIn(ctx.root, 10),
        quiet: ctx.output.silent,
        label: `fine-tune ${name}`,
      }),
    f.batchSize,
  );
  row.finetune = tuned.top1;
  // The main model's classifier is kept, for `deno task predict --run`.
  if (name === ROWS.beit) {
    await saveCheckpoint(`${ctx.out}/finetuned.ckpt`, { value: tuned.params, done: true }, {
      config: ctx.trainingKey,
    });
  }
  row.seconds += (performance.now() - t0) / 1000;
  ctx.book.save();
}

/** The last layer's CLS token after the final norm, no patch masked: the probed feature. */
export function clsFeatures(
  model: BeitPretrainModel,
  params: BeitPretrainParams,
): (images: Tensor) => Tensor {
  return (images) => model.apply(params, images, { mask: noMask(model, images.shape[0]) }).cls;
}

/** The mean of the patch tokens after the final norm, no patch masked. */
export function meanPatchFeatures(
  model: BeitPretrainModel,
  params: BeitPretrainParams,
): (images: Tensor) => Tensor {
  return (images) =>
    mean(model.apply(params, images, { mask: noMask(model, images.shape[0]) }).patchTokens, {
      axis: 1,
    });
}

/** A mask with no patch masked [B, N]. */
function noMask(model: BeitPretrainModel, batch: number): Tensor {
  const n = (model.config.imgSize / model.config.patchSize) ** 2;
  return tensor(new Uint8Array(batch * n), { shape: [batch, n], dtype: "bool", backend: "cpu" });
}

/**
 * The teacher's row: a probe on its pooled features (what its head sees) and, in the
 * fine-tune column, its own test accuracy (it is not fine-tuned again).
 */
export async function teacherRow(ctx: RunContext, teacher: ViTModel, params: ViTParams) {
  const body = visionTransformer({ ...teacher.config, numClasses: 0 });
  await probeRow(ctx, ROWS.teacher, (images) => body.apply(params, images));
  const row = ctx.book.row(ROWS.teacher)!;
  if (row.finetune !== undefined) return;
  row.finetune = await evaluateClassifier(teacher.apply, params, ctx.data.test, {
    transform: (batch) => normalize(batch, MEAN, STD),
  });
  ctx.book.save();
}

/** The raw-pixels row: the probe with no network at all. */
export async function rawPixelsRow(ctx: RunContext): Promise<void> {
  if (ctx.book.row(ROWS.rawPixels)) return;
  const t0 = performance.now();
  const { train, test } = ctx.data;
  const { top1 } = await linearProbe(pixelFeatures(train), pixelFeatures(test), {
    epochs: ctx.preset.probe.epochs,
    key: foldIn(ctx.root, 9),
    quiet: ctx.output.silent,
    label: "probe pixels",
  });
  ctx.book.rows.push({
    name: ROWS.rawPixels,
    probe: top1,
    seconds: (performance.now() - t0) / 1000,
    command: ctx.command,
  });
  ctx.book.save();
}

/**
 * The ablations of the results table: MIM on pixel tokens, and BEiT v2 without the
 * bottleneck on the main run's tokenizer (which `semantic` loads or waits for).
 *
 * @returns the main run's tokenizer as `semantic` gave it (the caller's to free)
 */
export async function ablationRows(
  ctx: RunContext,
  semantic: () => Promise<TokenizerState>,
): Promise<TokenizerState> {
  const noBottleneckModel = beitPretrainModel(beitModelConfig(ctx.preset, 0));
  // The pixel tokenizer reconstructs each patch's normalised pixels: C·P·P features.
  const { patch_size: patch, in_chans: channels } = INPUT;
  const pixelDim = channels * patch * patch;
  const pixels = pixelTeacher({ patchSize: patch });
  const pixelTokens = await tokenizerStage(ctx, "vqkd_pixels", pixels, pixelDim, 5);
  const pixelModel = vqkd(vqkdModelConfig(ctx.preset, pixelDim));
  const pixelMim = await pretrainStage(
    ctx,
    "beit_pixels",
    { model: pixelModel, ...pixelTokens },
    false,
    6,
  );
  await probeRow(ctx, ROWS.pixelMim, clsFeatures(noBottleneckModel, pixelMim));
  await finetuneRow(ctx, ROWS.pixelMim, pixelMim);
  const main = await semantic();
  const tokenizer = {
    model: vqkd(vqkdModelConfig(ctx.preset, ctx.preset.teacher.embedDim)),
    ...main,
  };
  const noBottleneck = await pretrainStage(ctx, "beit_no_cls", tokenizer, false, 7);
  await probeRow(ctx, ROWS.noBottleneck, clsFeatures(noBottleneckModel, noBottleneck));
  await finetuneRow(ctx, ROWS.noBottleneck, noBottleneck);
  dispose([pixelTokens, pixelMim, noBottleneck]);
  return main;
}
