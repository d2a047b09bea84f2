// The whole BEiT v2 pipeline on Fashion-MNIST, stage by stage:
//
//   teacher (a supervised ViT) → VQ-KD (its codes distil the teacher) → BEiT v2 pretraining
//   → linear probe and fine-tuning, plus the comparison rows of the results preset.
//
// Every stage writes a finished checkpoint into the output folder and is skipped when it
// finds one (and resumes from its partial checkpoint otherwise), so an interrupted run
// continues where it stopped. Metrics go to metrics.jsonl, results to results.json, and a
// report (report.md with SVG curves and PNG images) is written at the end.

import {
  dispose,
  foldIn,
  getNumThreads,
  type Key,
  key,
  mean,
  setNumThreads,
  type Tensor,
  tensor,
  toArray,
  useBackend,
} from "../tensor/mod.ts";
import {
  FASHION_MNIST_MEAN,
  FASHION_MNIST_STD,
  loadFashionMnistRaw,
} from "../data/fashion_mnist.ts";
import type { HostDataset } from "../data/loader.ts";
import { encodeImagePng } from "../data/image_folder.ts";
import { horizontalFlip, normalize, randomCropWithPadding } from "../data/transforms.ts";
import { evaluateClassifier, trainClassifier } from "../nn/classifier.ts";
import { loadCheckpointOrNull, saveCheckpoint } from "../nn/io/checkpoint.ts";
import { writeRunConfigs } from "./saved_run.ts";
import { adamw } from "../nn/optim/alias.ts";
import { warmupCosine } from "../nn/optim/schedule.ts";
import { visionTransformer, type ViTParams } from "../nn/vision_transformer.ts";
import { vqkd, type VqkdModel, type VqkdParams, type VqkdState } from "../vqkd/model.ts";
import { evaluateTokenizer } from "../vqkd/evaluate.ts";
import { codePatchGrid, tokenMap, usageHistogramSvg } from "../vqkd/report.ts";
import { curvesSvg } from "./charts.ts";
import { classifierTeacher, pixelTeacher, type Teacher } from "../vqkd/teachers.ts";
import { trainVqkd } from "../vqkd/train.ts";
import { finetuneBeit } from "./finetune.ts";
import { beitPretrainModel, type BeitPretrainParams } from "./model.ts";
import { pretrainBeit } from "./pretrain.ts";
import {
  beitModelConfig,
  type Preset,
  PRESETS,
  teacherModelConfig,
  vqkdModelConfig,
} from "./presets.ts";

export { beitModelConfig, type Preset, PRESETS, vqkdModelConfig };
import { extractFeatures, linearProbe, pixelFeatures } from "./probe.ts";

const MEAN = [FASHION_MNIST_MEAN];
const STD = [FASHION_MNIST_STD];

/** Options of runPipeline. */
export interface PipelineOptions {
  /** Data sizes, model sizes and recipes. */
  preset: Preset;
  /** Output folder (created; a folder of another run is refused). */
  out: string;
  /** Seed of every key in the run. */
  seed: number;
  /** Backend name (`cpu`, `webgpu`, `cpu-js`). */
  backend: string;
  /** Folder with the Fashion-MNIST IDX files (default: the Debian package or the shipped subset). */
  dataDir?: string;
  /** No progress bars or stage lines (default false). */
  quiet?: boolean;
  /**
   * Threads to train in (default 1). With 2, the results preset's ablation rows (MIM on
   * pixel tokens, no CLS bottleneck) run in a worker beside the main rows: each backend's
   * CPU kernels use one core, so two threads halve the wall time on a 2-core machine. The
   * numbers are the same as with one thread, to the digit.
   */
  workers?: number;
  /** The command line recorded with every result row (default: the preset and seed). */
  command?: string;
  /** Which rows this thread runs; "ablations" is the worker's part (internal). */
  part?: "all" | "ablations";
}

/** A stage's wall time and the images it passed through a network (timings.json). */
export interface StageTiming {
  seconds: number;
  images: number;
  /** Optimizer steps (training stages only). */
  steps?: number;
}

/** Parses timings.json (older runs stored plain seconds per stage). */
function readTimings(text: string): Record<string, StageTiming> {
  const raw = JSON.parse(text) as Record<string, number | StageTiming>;
  return Object.fromEntries(
    Object.entries(raw).map((
      [name, t],
    ) => [name, typeof t === "number" ? { seconds: t, images: 0 } : t]),
  );
}

/** One row of the results table. */
export interface ResultRow {
  /** The row's name (what it isolates; see the report). */
  name: string;
  /** Linear-probe test top-1 in [0, 1]. */
  probe?: number;
  /** The probe's test top-1 after each of its epochs. */
  probeCurve?: number[];
  /** Fine-tuning test top-1 in [0, 1]. */
  finetune?: number;
  /** Wall time of the row's own work (probe and fine-tuning), in seconds. */
  seconds: number;
  /** The command that produced the row. */
  command: string;
}

/** The rows of the results table, in the order the table shows them. */
export const ROWS = {
  beit: "BEiT v2 (VQ-KD, supervised teacher)",
  random: "random init",
  meanPooled: "BEiT v2, probe on mean-pooled patch tokens",
  pixelMim: "MIM on pixel tokens (BEiT v1-style)",
  noBottleneck: "BEiT v2 without the CLS bottleneck",
  teacher: "the teacher itself (saw labels)",
  rawPixels: "linear classifier on raw pixels",
} as const;
const ROW_ORDER: string[] = Object.values(ROWS);

/** What each row of the results table isolates, in one sentence. */
const ROW_MEANING: Record<string, string> = {
  [ROWS.beit]:
    "the method: masked image modelling whose targets are the VQ-KD codes of the teacher's features, with the CLS bottleneck; its CLS token is probed.",
  [ROWS.random]:
    "the same network untrained (probe) or trained from scratch (fine-tune): the floor that pretraining has to beat.",
  [ROWS.meanPooled]:
    "the BEiT v2 network again, probed on the mean of its patch tokens instead of CLS: how much the CLS token gathers.",
  [ROWS.pixelMim]:
    "BEiT v1-style targets, codes of a tokenizer that reconstructs pixels: what semantic targets add.",
  [ROWS.noBottleneck]:
    "BEiT v2 on the same tokenizer without the CLS bottleneck: what the bottleneck does for the CLS token.",
  [ROWS.teacher]:
    "the supervised network the tokenizer distils (it saw the labels): the quality of the knowledge VQ-KD passes on.",
  [ROWS.rawPixels]:
    "a linear classifier on the 784 pixels: what the probe gets with no network at all.",
};

/**
 * The reference run: the official BEiT v2 modules in PyTorch on a 2-core machine, width 128,
 * depth 6, all 60,000 training images (teacher 2 epochs, VQ-KD 1 epoch, MIM 4 epochs = 1,875
 * steps of batch 128, fine-tuning ½ epoch), evaluated on the 10,000 test images.
 */
export const REFERENCE: Record<string, { probe?: number; finetune?: number }> = {
  [ROWS.beit]: { probe: 0.816, finetune: 0.822 },
  [ROWS.random]: { probe: 0.590 },
  [ROWS.meanPooled]: { probe: 0.826 },
  [ROWS.pixelMim]: { probe: 0.796 },
  [ROWS.teacher]: { finetune: 0.812 },
};
const REFERENCE_RUN =
  "the official BEiT v2 modules in PyTorch at width 128, depth 6, 4 heads, 4×4 patches, 20 of 49 masked, on all 60,000 training images (a supervised ViT teacher trained 2 epochs, a VQ-KD tokenizer of 512 codes 1 epoch, MIM 4 epochs = 1,875 steps of batch 128, fine-tuning ½ epoch), tested on the 10,000 test images. Compare the budgets before the numbers.";

/** The reference run's budget per stage: images through the network (and MIM steps). */
const REFERENCE_BUDGET: Record<string, { images: number; steps?: number }> = {
  teacher: { images: 2 * 60_000 },
  vqkd: { images: 60_000 },
  beit: { images: 1_875 * 128, steps: 1_875 },
  finetune: { images: 30_000 },
};

/** The report's table of this run's budget against the reference's, stage by stage. */
function budgetLines(timings: Record<string, StageTiming>, preset: Preset): string[] {
  const rows: string[] = [];
  const count = (n: number) => n.toLocaleString("en-US");
  for (const [stage, ref] of Object.entries(REFERENCE_BUDGET)) {
    const ours = stage === "finetune" ? timings[`finetune ${ROWS.beit}`] : timings[stage];
    if (!ours) continue;
    const steps = ref.steps && ours.steps ? `${count(ours.steps)} / ${count(ref.steps)}` : "–";
    rows.push(
      `| ${stage} | ${count(ours.images)} / ${count(ref.images)} | ${steps} | ${
        (ours.images / ref.images).toFixed(2)
      }× |`,
    );
  }
  if (!rows.length) return [];
  const { teacher: t, vqkd: v, beit: b } = preset;
  return [
    `Model sizes: teacher width ${t.embedDim}, depth ${t.depth}; tokenizer encoder width ${v.embedDim}, depth ${v.depth}; BEiT v2 width ${b.embedDim}, depth ${b.depth}, ${b.heads} heads (the reference's BEiT v2: width 128, depth 6, 4 heads).`,
    "",
    "Budget against the reference (images through the network; steps where the reference gives them):",
    "",
    "| stage | images, ours / reference | steps, ours / reference | ratio |",
    "| --- | ---: | ---: | ---: |",
    ...rows,
    "",
  ];
}

/**
 * Standard error of a test accuracy p measured on n images, in points: √(p(1 − p)/n). Two
 * rows share the test set, so √(se₁² + se₂²) bounds the standard error of their difference
 * from above.
 */
export function accuracyStandardError(p: number, n: number): number {
  return 100 * Math.sqrt(p * (1 - p) / n);
}

/**
 * The report's ordering of the rows by probe accuracy, best first, with each gap to the next
 * row in standard errors of the difference (rows with no probe are left out).
 */
function orderingLines(results: ResultRow[], testCount: number): string[] {
  const probed = results.filter((r) => r.probe !== undefined).sort((a, b) => b.probe! - a.probe!);
  if (probed.length < 2) return [];
  const se = (p: number) => accuracyStandardError(p, testCount);
  const parts = probed.map((r, i) => {
    const next = probed[i + 1];
    if (!next) return `${r.name} (${(100 * r.probe!).toFixed(1)} %)`;
    const gap = 100 * (r.probe! - next.probe!);
    const z = gap / Math.hypot(se(r.probe!), se(next.probe!));
    return `${r.name} (${(100 * r.probe!).toFixed(1)} %) > [${gap.toFixed(1)} points, ${
      z.toFixed(1)
    } SE]`;
  });
  return [
    `Ordering on the probe, best first, with each gap to the next row in points and in standard errors of the difference (a gap under 2 SE is within noise): ${
      parts.join(" ")
    }.`,
    "",
  ];
}

/** The report's sentences comparing rows (BEiT v2 against random init, and the ablations). */
function comparisons(results: ResultRow[], testCount: number): string[] {
  const row = (name: string) => results.find((r) => r.name === name);
  const points = (a?: number, b?: number) => {
    if (a === undefined || b === undefined) return null;
    const se = Math.hypot(accuracyStandardError(a, testCount), accuracyStandardError(b, testCount));
    return { d: 100 * (a - b), se };
  };
  const signed = ({ d, se }: { d: number; se: number }) =>
    `${d >= 0 ? "+" : "−"}${Math.abs(d).toFixed(1)} ± ${se.toFixed(1)} points`;
  const lines: string[] = [];
  const pairs: [string, string, string][] = [
    [ROWS.beit, ROWS.random, "BEiT v2 against random init"],
    [ROWS.beit, ROWS.pixelMim, "semantic (VQ-KD) against pixel tokens"],
    [ROWS.beit, ROWS.noBottleneck, "with against without the CLS bottleneck"],
  ];
  for (const [a, b, what] of pairs) {
    const probe = points(row(a)?.probe, row(b)?.probe);
    if (probe === null) continue;
    const fine = points(row(a)?.finetune, row(b)?.finetune);
    lines.push(
      `- ${what}: ${signed(probe)} on the probe${
        fine === null ? "" : `, ${signed(fine)} on fine-tuning`
      }.`,
    );
  }
  return lines.length ? [...lines, ""] : [];
}

type Stage<T> = () => Promise<T>;
type Tokenizer = { params: VqkdParams; state: VqkdState };

/**
 * Runs the pipeline (see the file header).
 *
 * @param options preset, output folder, seed, backend, data folder, threads
 * @returns the results rows
 */
export async function runPipeline(options: PipelineOptions): Promise<ResultRow[]> {
  // The ablations thread works inside its main thread's run, under the main thread's lock.
  if ((options.part ?? "all") === "ablations") return await runStages(options);
  await Deno.mkdir(options.out, { recursive: true });
  const release = await lockFolder(options.out);
  try {
    return await runStages(options);
  } finally {
    await release();
  }
}

/**
 * Takes `out/.lock` for this process (an operating-system lock on the file, which the
 * system releases when the process ends, however it ends), so that a second run on the
 * same folder is refused instead of writing over the first one's files.
 *
 * @returns a function that releases the lock
 */
async function lockFolder(out: string): Promise<() => Promise<void>> {
  const path = `${out}/.lock`;
  const file = await Deno.open(path, { read: true, write: true, create: true });
  if (!(await file.tryLock(true))) {
    const holder = (await Deno.readTextFile(path).catch(() => "")).trim();
    file.close();
    throw new Error(
      `${out} is in use by another run (${
        holder ? `process ${holder}, ` : ""
      }lock file ${path}): ` +
        `wait for it to finish, or choose another output folder (--out).`,
    );
  }
  await file.truncate(0);
  await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
  return async () => {
    await Deno.remove(path).catch(() => {});
    await file.unlock();
    file.close();
  };
}

/**
 * The rows saved in a results file: none when the file is absent; a damaged file (not a list
 * of named rows) is reported and its rows recomputed.
 */
async function readResults(path: string, warn: (text: string) => void): Promise<ResultRow[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  try {
    const rows = JSON.parse(text);
    if (
      Array.isArray(rows) &&
      rows.every((r) => r !== null && typeof r === "object" && typeof r.name === "string")
    ) {
      return rows;
    }
  } catch {
    // damaged: reported below
  }
  warn(`${path} is damaged (not a list of result rows): its rows will be recomputed`);
  return [];
}

/** The first line of every report this pipeline writes. */
const REPORT_TITLE = "# Tessella BEiT v2 run";

/**
 * Where the report goes: report.md, unless the folder holds a report.md that this pipeline
 * did not write (it is never overwritten; the report goes to report.tessella.md).
 */
async function reportPath(out: string): Promise<string> {
  const path = `${out}/report.md`;
  const text = await Deno.readTextFile(path).catch(() => null);
  if (text === null || text.startsWith(REPORT_TITLE)) return path;
  console.error(`note: ${path} was not written by Tessella; the report goes to report.tessella.md`);
  return `${out}/report.tessella.md`;
}

/** Ends a metrics file with a newline if a killed run left its last line torn. */
async function mendMetrics(path: string): Promise<void> {
  const file = await Deno.open(path, { read: true }).catch(() => null);
  if (file === null) return;
  try {
    const { size } = await file.stat();
    if (size === 0) return;
    const last = new Uint8Array(1);
    await file.seek(size - 1, Deno.SeekMode.Start);
    await file.read(last);
    if (last[0] !== 0x0a) await Deno.writeTextFile(path, "\n", { append: true });
  } finally {
    file.close();
  }
}

async function runStages(options: PipelineOptions): Promise<ResultRow[]> {
  const { preset, out, seed } = options;
  const started = performance.now();
  const part = options.part ?? "all";
  await Deno.mkdir(out, { recursive: true });
  await useBackend(options.backend);
  const root = key(seed);
  const quiet = options.quiet ?? false;
  // The worker's progress bars would fight the main thread's for the terminal: it reports
  // its stages as lines instead.
  const silent = quiet || part === "ablations";
  if (part !== "ablations") await mendMetrics(`${out}/metrics.jsonl`);
  const log = (record: Record<string, unknown>) =>
    Deno.writeTextFileSync(
      `${out}/metrics.jsonl`,
      JSON.stringify({ ...record, time: new Date().toISOString() }) + "\n",
      { append: true },
    );
  const say = (text: string) => {
    if (!quiet) console.error(part === "ablations" ? `[ablations] ${text}` : text);
  };
  const command = options.command ?? `deno task pretrain --preset ${preset.name} --seed ${seed}`;
  // Data: the pinned subset of the first data source found.
  const trainRaw = await loadFashionMnistRaw({
    split: "train",
    dataDir: options.dataDir,
    subset: preset.train,
  });
  const testRaw = await loadFashionMnistRaw({
    split: "test",
    dataDir: options.dataDir,
    subset: preset.test,
  });
  const host = (r: typeof trainRaw): HostDataset => ({
    pixels: r.pixels,
    labels: r.labels,
    shape: [r.count, 1, 28, 28],
  });
  const train = host(trainRaw);
  const test = host(testRaw);
  // Stage checkpoints record the settings that made them (the evaluation settings aside,
  // which change no checkpoint): one made by other settings is refused and recomputed.
  const { probe: _probe, finetune: _finetune, ...trainingKey } = runKey(
    preset,
    seed,
    trainRaw.source,
  );
  // Images one training epoch at this batch size sees (the loops drop a last partial batch).
  const trainImages = (batchSize: number) =>
    Math.floor(train.labels.length / batchSize) * batchSize;
  if (part !== "ablations") {
    say(
      `data: ${train.labels.length} training and ${test.labels.length} test images from ${trainRaw.source} (${trainRaw.location})`,
    );
    if (train.labels.length < preset.train || test.labels.length < preset.test) {
      say(
        `note: the preset asks for ${preset.train} training and ${preset.test} test images, but ` +
          `only ${train.labels.length} and ${test.labels.length} were found: the numbers will ` +
          `not be comparable with the preset's published ones. For the full set, install ` +
          `Debian's dataset-fashion-mnist, or pass --data DIR (or set TESSELLA_DATA).`,
      );
    }
    // Before any result is read: settings that changed only the evaluation drop the
    // results they invalidate; any other change is refused.
    const changed = await claimFolder(out, runKey(preset, seed, trainRaw.source));
    if (changed.length > 0) {
      say(`evaluation settings changed (${changed.join("; ")}): recomputing what they affect`);
      await dropEvaluations(out, changed);
    }
    await Deno.mkdir(`${out}/snapshots`, { recursive: true });
    // The models' configs under their official names, for tokenize/predict and the
    // official scripts.
    await writeRunConfigs(out, preset);
  }
  // The worker keeps its own results and timings; the main thread merges them at the end.
  const suffix = part === "ablations" ? ".ablations" : "";
  const resultsPath = `${out}/results${suffix}.json`;
  const timingsPath = `${out}/timings${suffix}.json`;
  const results: ResultRow[] = await readResults(resultsPath, say);
  const saveResults = () => {
    results.sort((a, b) => ROW_ORDER.indexOf(a.name) - ROW_ORDER.indexOf(b.name));
    Deno.writeTextFileSync(resultsPath, JSON.stringify(results, null, 2));
  };
  const hasRow = (name: string) => results.some((r) => r.name === name);
  const timings: Record<string, StageTiming> = await Deno.readTextFile(timingsPath).then(
    readTimings,
  ).catch(() => ({}));
  // `images`: how many images the stage pushes through a network (its throughput's unit).
  const timed = async <T>(
    name: string,
    images: number,
    stage: Stage<T>,
    batchSize?: number,
  ): Promise<T> => {
    if (part === "ablations") say(`${name}: started`);
    const t0 = performance.now();
    const value = await stage();
    const seconds = (performance.now() - t0) / 1000;
    const before = timings[name] ?? { seconds: 0, images: 0 };
    timings[name] = { seconds: before.seconds + seconds, images: before.images + images };
    if (batchSize) timings[name].steps = timings[name].images / batchSize;
    Deno.writeTextFileSync(timingsPath, JSON.stringify(timings, null, 2));
    say(`${name}: ${Math.round(seconds)} s, ${Math.round(images / seconds)} img/s`);
    return value;
  };
  const twoThreads = preset.rows === "all" && (options.workers ?? 1) > 1;
  const worker = twoThreads && part === "all"
    ? startWorker({ ...options, part: "ablations" })
    : null;
  if (worker) say(`the ablation rows train in a second thread (its lines start with [ablations])`);
  // Two pipeline threads share the cores: each splits its CPU kernels over half of them.
  const threadsBefore = getNumThreads();
  if (twoThreads) setNumThreads(Math.max(1, Math.floor(navigator.hardwareConcurrency / 2)));
  try {
    return await run();
  } finally {
    worker?.stop();
    setNumThreads(threadsBefore);
  }

  async function run(): Promise<ResultRow[]> {
    // The stages, defined first and run below in the order of the pipeline.
    const t = preset.teacher;
    const teacherVit = visionTransformer(teacherModelConfig(preset));
    const v = preset.vqkd;
    const vqkdConfig = (teacherDim: number) => vqkdModelConfig(preset, teacherDim);
    const tokenizerStage = (name: string, source: Teacher, teacherDim: number, salt: number) =>
      stage<Tokenizer>(
        `${out}/${name}.ckpt`,
        () =>
          timed(name, v.epochs * trainImages(v.batchSize), async () => {
            const trained = await trainVqkd({
              model: vqkdConfig(teacherDim),
              teacher: source,
              data: train,
              epochs: v.epochs,
              batchSize: v.batchSize,
              learningRate: v.lr,
              warmupEpochs: Math.min(1, v.epochs / 4),
              key: foldIn(root, salt),
              checkpoint: `${out}/${name}.partial.ckpt`,
              quiet: silent,
              onStep: (m) => log({ stage: name, ...m }),
            });
            return { params: trained.params, state: trained.state };
          }, v.batchSize),
      );
    const semanticModel = vqkd(vqkdConfig(t.embedDim));
    const b = preset.beit;
    const beitConfig = (headLayers: number) => beitModelConfig(preset, headLayers);
    const pretrainStage = (
      name: string,
      tokenizer: Tokenizer,
      tokenizerModel: VqkdModel,
      bottleneck: boolean,
      salt: number,
    ) =>
      stage<BeitPretrainParams>(
        `${out}/${name}.ckpt`,
        () =>
          timed(name, b.epochs * trainImages(b.batchSize), async () => {
            const trained = await pretrainBeit({
              model: beitConfig(bottleneck ? b.headLayers : 0),
              tokenizer: {
                model: tokenizerModel,
                params: tokenizer.params,
                state: tokenizer.state,
              },
              data: train,
              epochs: b.epochs,
              batchSize: b.batchSize,
              learningRate: b.lr,
              warmupEpochs: b.warmupEpochs,
              clsBottleneck: bottleneck,
              key: foldIn(root, salt),
              checkpoint: `${out}/${name}.partial.ckpt`,
              // The main model keeps one snapshot per epoch: the curve of probe accuracy
              // against MIM steps (tools/experiments/probe_checkpoints.ts).
              snapshot: name === "beit" ? (e) => `${out}/snapshots/beit.epoch${e}.ckpt` : undefined,
              quiet: silent,
              onStep: (m) => log({ stage: name, ...m }),
            });
            return trained.params;
          }, b.batchSize),
      );

    // Evaluation: linear probe on the last layer's CLS token, and fine-tuning.
    const pretrainModel = beitPretrainModel(beitConfig(b.headLayers));
    const probeRow = async (name: string, features: (images: Tensor) => Tensor) => {
      if (hasRow(name)) return;
      const t0 = performance.now();
      const probe = await timed(
        `probe ${name}`,
        train.labels.length + test.labels.length,
        async () => {
          const trainF = await extractFeatures(train, features as never);
          const testF = await extractFeatures(test, features as never);
          return await linearProbe(trainF, testF, {
            epochs: preset.probe.epochs,
            key: foldIn(root, 9),
            quiet: silent,
            label: `probe ${name}`,
          });
        },
      );
      results.push({
        name,
        probe: probe.top1,
        probeCurve: probe.curve,
        seconds: (performance.now() - t0) / 1000,
        command,
      });
      saveResults();
    };
    const finetuneRow = async (name: string, params: BeitPretrainParams | null) => {
      const row = results.find((r) => r.name === name);
      if (!row || row.finetune !== undefined) return;
      const t0 = performance.now();
      const f = preset.finetune;
      const tuned = await timed(
        `finetune ${name}`,
        f.epochs * trainImages(f.batchSize),
        () =>
          finetuneBeit({
            config: pretrainModel.config,
            pretrained: params,
            train,
            test,
            epochs: f.epochs,
            batchSize: f.batchSize,
            learningRate: f.lr,
            layerDecay: f.layerDecay,
            cropPadding: f.cropPadding,
            flip: f.flip,
            warmupEpochs: Math.min(1, f.epochs / 4),
            key: foldIn(root, 10),
            quiet: silent,
            label: `fine-tune ${name}`,
          }),
        f.batchSize,
      );
      row.finetune = tuned.top1;
      // The main model's classifier is kept, for `deno task predict --run`.
      if (name === ROWS.beit) {
        await saveCheckpoint(`${out}/finetuned.ckpt`, { value: tuned.params, done: true }, {
          config: trainingKey,
        });
      }
      row.seconds += (performance.now() - t0) / 1000;
      saveResults();
    };
    const noClsModel = beitPretrainModel(beitConfig(0));
    const noMask = (batch: number) =>
      tensor(new Uint8Array(batch * 49), { shape: [batch, 49], dtype: "bool", backend: "cpu" });
    const clsFeatures = (params: BeitPretrainParams, model = pretrainModel) => (images: Tensor) =>
      model.apply(params, images, { mask: noMask(images.shape[0]) }).cls;

    // The ablations of the results table: MIM on pixel tokens, and BEiT v2 without the
    // bottleneck (on the main run's tokenizer).
    const ablationRows = async (semanticTokenizer: () => Promise<Tokenizer>) => {
      const pixelTokens = await tokenizerStage(
        "vqkd_pixels",
        pixelTeacher({ patchSize: 4 }),
        16,
        5,
      );
      const pixelMim = await pretrainStage(
        "beit_pixels",
        pixelTokens,
        vqkd(vqkdConfig(16)),
        false,
        6,
      );
      await probeRow(ROWS.pixelMim, clsFeatures(pixelMim, noClsModel));
      await finetuneRow(ROWS.pixelMim, pixelMim);
      const semantic = await semanticTokenizer();
      const noBottleneck = await pretrainStage("beit_no_cls", semantic, semanticModel, false, 7);
      await probeRow(ROWS.noBottleneck, clsFeatures(noBottleneck, noClsModel));
      await finetuneRow(ROWS.noBottleneck, noBottleneck);
      dispose([pixelTokens, pixelMim, noBottleneck]);
      // The worker loaded its own copy of the main thread's tokenizer.
      if (part === "ablations") dispose(semantic);
    };
    if (part === "ablations") {
      // The worker starts with the pixel branch; the main thread's tokenizer is ready long
      // before the worker needs it.
      await ablationRows(() => finishedStage<Tokenizer>(`${out}/vqkd.ckpt`));
      return results;
    }

    // 1. The teacher: a supervised ViT classifier (it saw the labels).
    const teacherParams = await stage<ViTParams>(
      `${out}/teacher.ckpt`,
      () =>
        timed("teacher", t.epochs * trainImages(t.batchSize), async () => {
          const steps = t.epochs * Math.floor(train.labels.length / t.batchSize);
          const trained = await trainClassifier({
            apply: (p: ViTParams, images, o) => teacherVit.apply(p, images, o),
            params: teacherVit.init(foldIn(root, 1)),
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
            key: foldIn(root, 2),
            transform: (k, b) => {
              const shifted = t.augment === "crop+flip"
                ? randomCropWithPadding(foldIn(k, 0), b, 28, 2)
                : b;
              const flipped = t.augment === "none"
                ? shifted
                : horizontalFlip(foldIn(k, 1), shifted, 0.5);
              return normalize(flipped, MEAN, STD);
            },
            label: "teacher",
            quiet,
            onStep: (step, loss) => log({ stage: "teacher", step, loss }),
          });
          return trained.params;
        }, t.batchSize),
    );
    const teacher = classifierTeacher(teacherVit, teacherParams, { mean: MEAN, std: STD });

    // 2. The VQ-KD tokenizer, distilled from the teacher.
    const semantic = await tokenizerStage("vqkd", teacher, t.embedDim, 3);
    const tokenizerReport = await evaluateTokenizer(
      semanticModel,
      semantic.params,
      semantic.state,
      test,
      { teacher },
    );
    say(
      `VQ-KD (supervised teacher): ${
        (100 * tokenizerReport.usage).toFixed(1)
      } % of codes used on the test split, mean cosine ${
        tokenizerReport.cosine.toFixed(3)
      } to the teacher`,
    );

    // 3. BEiT v2 pretraining.
    const beitParams = await pretrainStage("beit", semantic, semanticModel, true, 4);

    // 4. Evaluation, and the comparison rows of the results preset.
    await probeRow(ROWS.beit, clsFeatures(beitParams));
    const randomParams = pretrainModel.init(foldIn(root, 11));
    await probeRow(ROWS.random, clsFeatures(randomParams));
    await finetuneRow(ROWS.beit, beitParams);
    await finetuneRow(ROWS.random, null);
    // The teacher's representation is what its head sees: the pooled features.
    const teacherBody = visionTransformer({ ...teacherVit.config, numClasses: 0 });
    await probeRow(ROWS.teacher, (images) => teacherBody.apply(teacherParams, images));
    // Its own test accuracy goes in the fine-tune column (it is not fine-tuned again).
    const teacherRow = results.find((r) => r.name === ROWS.teacher)!;
    if (teacherRow.finetune === undefined) {
      teacherRow.finetune = await evaluateClassifier(
        (p: ViTParams, x, o) => teacherVit.apply(p, x, o),
        teacherParams,
        test,
        { transform: (bt) => normalize(bt, MEAN, STD) },
      );
      saveResults();
    }
    if (preset.rows !== "main") {
      await probeRow(
        ROWS.meanPooled,
        (images) =>
          mean(
            pretrainModel.apply(beitParams, images, { mask: noMask(images.shape[0]) }).patchTokens,
            { axis: 1 },
          ),
      );
      if (!hasRow(ROWS.rawPixels)) {
        const t0 = performance.now();
        const top1 = (await linearProbe(pixelFeatures(train), pixelFeatures(test), {
          epochs: preset.probe.epochs,
          key: foldIn(root, 9),
          quiet,
          label: "probe pixels",
        })).top1;
        results.push({
          name: ROWS.rawPixels,
          probe: top1,
          seconds: (performance.now() - t0) / 1000,
          command,
        });
      }
      saveResults();
      if (worker) {
        say("waiting for the ablation rows of the second thread");
        await worker.done;
        const theirs: ResultRow[] = JSON.parse(
          await Deno.readTextFile(`${out}/results.ablations.json`),
        );
        for (const row of theirs) if (!hasRow(row.name)) results.push(row);
        saveResults();
        Object.assign(
          timings,
          readTimings(await Deno.readTextFile(`${out}/timings.ablations.json`)),
        );
        Deno.writeTextFileSync(timingsPath, JSON.stringify(timings, null, 2));
      } else if (preset.rows === "all") {
        await ablationRows(() => Promise.resolve(semantic));
      }
    }

    await writeReport({
      out,
      preset,
      seed,
      backend: options.backend,
      source: `${trainRaw.source} (${trainRaw.location})`,
      results,
      timings,
      parallel: worker !== null,
      seconds: (performance.now() - started) / 1000,
      trainCount: train.labels.length,
      tokenizerReport,
      semanticModel,
      semantic,
      test,
    });
    dispose([teacherParams, semantic, beitParams, randomParams]);
    return results;
  }

  /** A finished stage's saved result, or null when the stage has not finished. */
  async function finished<T>(path: string): Promise<{ value: T } | null> {
    const saved = await loadCheckpointOrNull<{ value: T; done: boolean }>(path, say, {
      config: trainingKey,
    });
    return saved?.done ? saved : null;
  }

  /** Loads a finished stage's result or runs it and saves `{ value, done: true }`. */
  async function stage<T>(path: string, run: () => Promise<T>): Promise<T> {
    const saved = await finished<T>(path);
    if (saved) {
      say(`skipping ${path.split("/").pop()} (finished checkpoint found)`);
      return saved.value;
    }
    const value = await run();
    await saveCheckpoint(path, { value, done: true }, { config: trainingKey });
    // The stage's resume point is not needed once its result is saved.
    await Deno.remove(path.replace(/\.ckpt$/, ".partial.ckpt")).catch(() => {});
    return value;
  }

  /** Waits for another thread's stage to finish, then loads its result. */
  async function finishedStage<T>(path: string): Promise<T> {
    for (let waited = false;; waited = true) {
      const saved = await finished<T>(path);
      if (saved) return saved.value;
      if (!waited) say(`waiting for ${path.split("/").pop()} from the main thread`);
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }
}

/**
 * What the checkpoints and results of a run depend on: the recipe of every stage, the seed
 * and the data. The preset's name and its list of rows are not part of it: the results preset
 * trains the default preset's stages, so either may continue the other's folder (their
 * fine-tuning recipes differ, and the fine-tuning rows are then recomputed).
 */
export function runKey(preset: Preset, seed: number, source: string): Record<string, unknown> {
  const { name: _name, rows: _rows, ...recipe } = preset;
  return { seed, data: source, ...recipe };
}

/** The fields in which two run keys differ, as "path: old → new" lines. */
function keyDifferences(before: unknown, after: unknown, path = ""): string[] {
  if (
    typeof before === "object" && before !== null && typeof after === "object" && after !== null
  ) {
    const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
    return [...keys].flatMap((k) =>
      keyDifferences(
        (before as Record<string, unknown>)[k],
        (after as Record<string, unknown>)[k],
        path ? `${path}.${k}` : k,
      )
    );
  }
  return JSON.stringify(before) === JSON.stringify(after)
    ? []
    : [`${path}: ${JSON.stringify(before)} → ${JSON.stringify(after)}`];
}

/**
 * Makes `out` this run's folder: writes run.json (the run key) into an empty folder, and
 * refuses a folder whose checkpoints were made with other training settings, so that no
 * result is ever reused or relabelled with settings that did not produce it.
 *
 * @returns the evaluation settings that changed (probe, fine-tuning), as "path: old → new"
 */
async function claimFolder(out: string, key: Record<string, unknown>): Promise<string[]> {
  const path = `${out}/run.json`;
  const text = await Deno.readTextFile(path).catch((error) => {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  });
  if (text === null) {
    // A folder with results but no run.json was made before runs were keyed: its settings
    // are unknown, so it is not continued either.
    const stale = ["results.json", "teacher.ckpt", "vqkd.ckpt", "beit.ckpt"];
    for (const name of stale) {
      if (await Deno.stat(`${out}/${name}`).then(() => true, () => false)) {
        throw new Error(
          `${out} holds ${name} from a run whose settings were not recorded (no run.json): ` +
            `choose another output folder (--out) or delete this one.`,
        );
      }
    }
    await Deno.writeTextFile(path, JSON.stringify(key, null, 2) + "\n");
    return [];
  }
  let before: unknown;
  try {
    before = JSON.parse(text);
  } catch {
    throw new Error(`${path} is not valid JSON: delete the folder or choose another --out.`);
  }
  const changed = keyDifferences(before, key);
  const training = changed.filter((c) => !EVALUATION.some((prefix) => c.startsWith(prefix)));
  if (training.length > 0) {
    throw new Error(
      `${out} holds a run with other settings; its checkpoints and results do not belong ` +
        `to this one. Choose another output folder (--out) or delete this one.\n  ` +
        changed.join("\n  "),
    );
  }
  if (changed.length > 0) await Deno.writeTextFile(path, JSON.stringify(key, null, 2) + "\n");
  return changed;
}

/** Settings that change only the evaluation: their results are recomputed, not refused. */
const EVALUATION = ["probe.", "finetune."];

/**
 * Drops from a run folder the results that changed evaluation settings invalidate: every
 * probe when the probe changed, every fine-tune (not the teacher's own accuracy) when the
 * fine-tuning recipe changed, with their stage times.
 */
async function dropEvaluations(out: string, changed: string[]): Promise<void> {
  const probe = changed.some((c) => c.startsWith("probe."));
  const finetune = changed.some((c) => c.startsWith("finetune."));
  for (const suffix of ["", ".ablations"]) {
    const timingsPath = `${out}/timings${suffix}.json`;
    const timings: Record<string, StageTiming> = await Deno.readTextFile(timingsPath).then(
      readTimings,
    ).catch(() => ({}));
    const resultsPath = `${out}/results${suffix}.json`;
    const rows: ResultRow[] = await Deno.readTextFile(resultsPath).then(JSON.parse).catch(
      () => [],
    );
    const kept = probe ? [] : rows;
    for (const row of kept) {
      if (!finetune || row.finetune === undefined || row.name === ROWS.teacher) continue;
      row.seconds -= timings[`finetune ${row.name}`]?.seconds ?? 0;
      delete row.finetune;
    }
    for (const name of Object.keys(timings)) {
      if ((probe && name.startsWith("probe ")) || (finetune && name.startsWith("finetune "))) {
        delete timings[name];
      }
    }
    if (rows.length) await Deno.writeTextFile(resultsPath, JSON.stringify(kept, null, 2));
    if (Object.keys(timings).length) {
      await Deno.writeTextFile(timingsPath, JSON.stringify(timings, null, 2));
    }
  }
}

/** Runs `runPipeline(options)` in a worker thread; `done` settles when it finishes. */
function startWorker(options: PipelineOptions): { done: Promise<void>; stop(): void } {
  const worker = new Worker(new URL("./pipeline_worker.ts", import.meta.url).href, {
    type: "module",
  });
  const done = new Promise<void>((resolve, reject) => {
    worker.onmessage = (event: MessageEvent<{ error?: string }>) => {
      worker.terminate();
      if (event.data.error) reject(new Error(`the ablations thread failed: ${event.data.error}`));
      else resolve();
    };
    worker.onerror = (event) => {
      event.preventDefault();
      worker.terminate();
      reject(new Error(`the ablations thread failed: ${event.message}`));
    };
  });
  // A failure of the main thread first must not leave this promise unhandled.
  done.catch(() => {});
  worker.postMessage(options);
  return { done, stop: () => worker.terminate() };
}

async function writeReport(r: {
  out: string;
  preset: Preset;
  seed: number;
  backend: string;
  source: string;
  results: ResultRow[];
  timings: Record<string, StageTiming>;
  parallel: boolean;
  /** Wall time of this invocation (stages finished by an earlier one not counted). */
  seconds: number;
  trainCount: number;
  tokenizerReport: { usage: number; cosine: number; histogram: Float32Array };
  semanticModel: VqkdModel;
  semantic: { params: VqkdParams; state: VqkdState };
  test: HostDataset;
}): Promise<void> {
  // A resumed stage repeats the steps of its unfinished epoch: the last record of a step wins.
  const byStep = new Map<string, Record<string, unknown>>();
  const metricLines = (await Deno.readTextFile(`${r.out}/metrics.jsonl`).catch(() => "")).split(
    "\n",
  );
  metricLines.forEach((line, i) => {
    if (!line) return;
    let m: Record<string, unknown>;
    try {
      m = JSON.parse(line);
    } catch {
      // A run killed while writing leaves a torn line: it holds nothing the curves need.
      console.error(`note: ${r.out}/metrics.jsonl line ${i + 1} is not valid JSON; skipped`);
      return;
    }
    if (m === null || typeof m !== "object") return;
    byStep.set(`${m.stage}/${m.epoch ?? ""}/${m.step}`, m);
  });
  const records = [...byStep.values()];
  const seriesOf = (stage: string, field: string) =>
    records.filter((m) => m.stage === stage && typeof m[field] === "number").map((m) =>
      m[field] as number
    );
  const lossChart = (title: string, series: Record<string, number[]>, yLabel: string) =>
    curvesSvg(series, { title, xLabel: "training step", yLabel, window: 25 });
  await Deno.writeTextFile(
    `${r.out}/teacher_loss.svg`,
    lossChart(
      "Supervised teacher: cross-entropy of each training batch",
      { "training loss": seriesOf("teacher", "loss") },
      "loss (nats)",
    ),
  );
  await Deno.writeTextFile(
    `${r.out}/vqkd_loss.svg`,
    lossChart(
      "VQ-KD: reconstruction loss of each training batch",
      { "1 − cosine to the teacher": seriesOf("vqkd", "rec_loss") },
      "1 − cosine",
    ),
  );
  await Deno.writeTextFile(
    `${r.out}/beit_loss.svg`,
    lossChart("BEiT v2: masked-token cross-entropy of each training batch", {
      "main branch": seriesOf("beit", "loss_main"),
      "CLS bottleneck branch": seriesOf("beit", "loss_cls_pt"),
    }, "loss (nats)"),
  );
  const curves = Object.fromEntries(
    r.results.filter((row) => row.probeCurve?.length).map((row) => [
      row.name,
      row.probeCurve!.map((a) => 100 * a),
    ]),
  );
  await Deno.writeTextFile(
    `${r.out}/probe_curves.svg`,
    curvesSvg(curves, {
      title: "Linear probes: test top-1 after each epoch",
      xLabel: "probe epoch",
      yLabel: "test top-1 (%)",
    }),
  );
  await Deno.writeTextFile(
    `${r.out}/codebook_usage.svg`,
    usageHistogramSvg(r.tokenizerReport.histogram, "VQ-KD codes on the test split"),
  );
  // Token maps of 8 test images and patches of the 16 most used codes.
  const count = Math.min(64, r.test.labels.length);
  const pixels = Float32Array.from(r.test.pixels.subarray(0, count * 784), (p) => p / 255);
  const images = tensor(pixels, { shape: [count, 1, 28, 28] });
  const tokens = Int32Array.from(
    await toArray(r.semanticModel.apply(r.semantic.params, r.semantic.state, images).tokens),
  );
  for (let i = 0; i < 8; i++) {
    await Deno.writeFile(
      `${r.out}/tokens_${i}.png`,
      encodeImagePng(tokenMap(Array.from(tokens.subarray(49 * i, 49 * i + 49)), 7, 4)),
    );
    await Deno.writeFile(
      `${r.out}/image_${i}.png`,
      encodeImagePng({
        data: pixels.subarray(784 * i, 784 * i + 784),
        channels: 1,
        height: 28,
        width: 28,
      }),
    );
  }
  const top = Array.from(r.tokenizerReport.histogram, (c, code) => [c, code]).sort((a, b) =>
    b[0] - a[0]
  ).slice(0, 16).map(([, code]) => code);
  await Deno.writeFile(
    `${r.out}/top_codes.png`,
    encodeImagePng(codePatchGrid(pixels, tokens, [count, 1, 28, 28], 4, top, 16)),
  );
  const pct = (x?: number) => (x === undefined ? "–" : `${(100 * x).toFixed(1)} %`);
  const withSe = (x?: number) =>
    x === undefined
      ? "–"
      : `${(100 * x).toFixed(1)} ± ${accuracyStandardError(x, r.test.labels.length).toFixed(1)} %`;
  const lines = [
    `${REPORT_TITLE}: preset \`${r.preset.name}\``,
    "",
    `Seed ${r.seed}, backend ${r.backend}, data: ${r.trainCount} training and ${r.test.labels.length} test images (class-balanced) from ${r.source}.`,
    "",
    "| model | linear probe top-1 | fine-tune top-1 | probe + fine-tune time | reference probe | reference fine-tune |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
    ...r.results.map((row) =>
      `| ${row.name} | ${withSe(row.probe)} | ${withSe(row.finetune)} | ${
        Math.round(row.seconds)
      } s | ${pct(REFERENCE[row.name]?.probe)} | ${pct(REFERENCE[row.name]?.finetune)} |`
    ),
    "",
    `± one standard error of a test accuracy, √(p(1 − p)/n) over the ${r.test.labels.length} test images.`,
    "",
    `Probe: last-layer CLS after the final norm unless the row says otherwise; features standardised with the training split; one linear layer, AdamW, lr 1e-3, no weight decay, batch 256, ${r.preset.probe.epochs} epochs; test top-1 after the last epoch. For the teacher the fine-tune column is its own test accuracy as a classifier.`,
    "",
    `Reference: ${REFERENCE_RUN}`,
    "",
    ...budgetLines(r.timings, r.preset),
    "What each row shows:",
    "",
    ...r.results.map((row) => `- **${row.name}**: ${ROW_MEANING[row.name] ?? ""}`),
    "",
    ...comparisons(r.results, r.test.labels.length),
    ...orderingLines(r.results, r.test.labels.length),
    "![probe curves](probe_curves.svg)",
    "",
    `VQ-KD tokenizer: ${
      pct(r.tokenizerReport.usage)
    } of ${r.semanticModel.config.nEmbed} codes used on the test split; mean cosine ${
      r.tokenizerReport.cosine.toFixed(3)
    } to the teacher.`,
    "",
    "## Stage times",
    "",
    `This invocation: ${
      Math.round(r.seconds)
    } s of wall time (stages finished by an earlier invocation are not counted).`,
    "",
    ...(r.parallel
      ? [
        "The ablation rows (pixel tokens, no bottleneck) trained in a second thread, in parallel with the others: the stage times overlap.",
        "",
      ]
      : []),
    "| stage | time | steps | images | img/s |",
    "| --- | ---: | ---: | ---: | ---: |",
    ...Object.entries(r.timings).map(([name, t]) =>
      `| ${name} | ${Math.round(t.seconds)} s | ${t.steps ?? "–"} | ${t.images} | ${
        t.images > 0 ? Math.round(t.images / t.seconds) : "–"
      } |`
    ),
    "",
    `Images: those a stage passes through a network (training epochs × images per epoch; a probe's train and test feature extractions). Backend ${r.backend}${
      r.backend === "cpu" ? ` on ${getNumThreads()} thread${getNumThreads() > 1 ? "s" : ""}` : ""
    }.`,
    "",
    "## Training curves",
    "",
    "![teacher](teacher_loss.svg)",
    "![vqkd](vqkd_loss.svg)",
    "![beit](beit_loss.svg)",
    "",
    "## The tokenizer",
    "",
    "![codebook usage](codebook_usage.svg)",
    "",
    "Test images and their token maps (each patch coloured by its code):",
    "",
    Array.from(
      { length: 8 },
      (_, i) => `![image ${i}](image_${i}.png) ![tokens ${i}](tokens_${i}.png)`,
    ).join(" "),
    "",
    "Patches assigned to the 16 most used codes (one row per code):",
    "",
    "![top codes](top_codes.png)",
    "",
  ];
  await Deno.writeTextFile(await reportPath(r.out), lines.join("\n"));
}

export type { Key };
