// The whole BEiT v2 pipeline on Fashion-MNIST, stage by stage:
//
//   teacher (a supervised ViT) → VQ-KD (its codes distil the teacher) → BEiT v2 pretraining
//   → linear probe and fine-tuning, plus the comparison rows of the results preset.
//
// Every stage writes a finished checkpoint into the output folder and is skipped when it
// finds one (and resumes from its partial checkpoint otherwise), so an interrupted run
// continues where it stopped. Metrics go to metrics.jsonl, results to results.json, and a
// report (report.md with SVG curves and PNG images) is written at the end.

import { dispose, foldIn, getNumThreads, key, setNumThreads, useBackend } from "../tensor/mod.ts";
import {
  asHostDataset,
  FASHION_MNIST_MEAN,
  FASHION_MNIST_STD,
  loadFashionMnistRaw,
} from "../data/fashion_mnist.ts";
import { vqkd } from "../vqkd/model.ts";
import { evaluateTokenizer } from "../vqkd/evaluate.ts";
import { classifierTeacher } from "../vqkd/teachers.ts";
import { beitPretrainModel } from "./model.ts";
import { beitModelConfig, type Preset, vqkdModelConfig } from "./presets.ts";
import { ROW_ORDER, ROWS, writeReport } from "./report.ts";
import {
  claimFolder,
  dropEvaluations,
  lockFolder,
  mendMetrics,
  openResultBook,
  readTimings,
  type ResultRow,
  runKey,
  stageCache,
} from "./run_folder.ts";
import { writeRunConfigs } from "./saved_run.ts";
import {
  ablationRows,
  clsFeatures,
  finetuneRow,
  meanPatchFeatures,
  pretrainStage,
  probeRow,
  rawPixelsRow,
  type RunContext,
  teacherRow,
  teacherStage,
  tokenizerStage,
  type TokenizerState,
} from "./stages.ts";

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

/** Sets up the run's context (data, folder, results, worker), then runs its stages. */
async function runStages(options: PipelineOptions): Promise<ResultRow[]> {
  const { preset, out, seed } = options;
  const started = performance.now();
  const part = options.part ?? "all";
  const quiet = options.quiet ?? false;
  await Deno.mkdir(out, { recursive: true });
  await useBackend(options.backend);
  const say = (text: string) => {
    if (!quiet) console.error(part === "ablations" ? `[ablations] ${text}` : text);
  };
  if (part !== "ablations") await mendMetrics(`${out}/metrics.jsonl`);
  // Data: the pinned subset of the first data source found.
  const load = (split: "train" | "test", subset: number) =>
    loadFashionMnistRaw({ split, dataDir: options.dataDir, subset });
  const trainRaw = await load("train", preset.train);
  const testRaw = await load("test", preset.test);
  const data = { train: asHostDataset(trainRaw), test: asHostDataset(testRaw) };
  const source = `${trainRaw.source} (${trainRaw.location})`;
  if (part !== "ablations") await prepareFolder(options, trainRaw.source, source, data, say);
  // Stage checkpoints record the settings that made them (the evaluation settings aside,
  // which change no checkpoint): one made by other settings is refused and recomputed.
  const { probe: _p, finetune: _f, ...trainingKey } = runKey(preset, seed, trainRaw.source);
  const ctx: RunContext = {
    preset,
    out,
    root: key(seed),
    data,
    // The worker keeps its own results and timings; the main thread merges them at the end.
    book: await openResultBook(out, {
      suffix: part === "ablations" ? ".ablations" : "",
      order: ROW_ORDER,
      say,
      announce: part === "ablations",
    }),
    cache: stageCache(trainingKey, say),
    trainingKey,
    command: options.command ?? `deno task pretrain --preset ${preset.name} --seed ${seed}`,
    output: {
      log: (record) =>
        Deno.writeTextFileSync(
          `${out}/metrics.jsonl`,
          JSON.stringify({ ...record, time: new Date().toISOString() }) + "\n",
          { append: true },
        ),
      say,
      // The worker's progress bars would fight the main thread's for the terminal: it
      // reports its stages as lines instead.
      silent: quiet || part === "ablations",
    },
  };
  if (part === "ablations") {
    // The worker starts with the pixel branch; the main thread's tokenizer is ready long
    // before the worker needs it. The worker loaded its own copy of it.
    dispose(await ablationRows(ctx, () => ctx.cache.waitFor<TokenizerState>(`${out}/vqkd.ckpt`)));
    return ctx.book.rows;
  }
  const twoThreads = preset.rows === "all" && (options.workers ?? 1) > 1;
  const worker = twoThreads ? startWorker({ ...options, part: "ablations" }) : null;
  if (worker) say(`the ablation rows train in a second thread (its lines start with [ablations])`);
  // Two pipeline threads share the cores: each splits its CPU kernels over half of them.
  const threadsBefore = getNumThreads();
  if (twoThreads) setNumThreads(Math.max(1, Math.floor(navigator.hardwareConcurrency / 2)));
  try {
    return await mainStages(ctx, { options, worker, source, started });
  } finally {
    worker?.stop();
    setNumThreads(threadsBefore);
  }
}

/**
 * Before any result is read: checks the data found, claims the folder for this run's
 * settings (settings that changed only the evaluation drop the results they invalidate; any
 * other change is refused), and writes the models' configs under their official names.
 */
async function prepareFolder(
  options: PipelineOptions,
  dataKey: string,
  source: string,
  data: RunContext["data"],
  say: (text: string) => void,
): Promise<void> {
  const { preset, out } = options;
  const [trainCount, testCount] = [data.train.labels.length, data.test.labels.length];
  say(`data: ${trainCount} training and ${testCount} test images from ${source}`);
  if (trainCount < preset.train || testCount < preset.test) {
    say(
      `note: the preset asks for ${preset.train} training and ${preset.test} test images, but ` +
        `only ${trainCount} and ${testCount} were found: the numbers will ` +
        `not be comparable with the preset's published ones. For the full set, install ` +
        `Debian's dataset-fashion-mnist, or pass --data DIR (or set TESSELLA_DATA).`,
    );
  }
  const changed = await claimFolder(out, runKey(preset, options.seed, dataKey));
  if (changed.length > 0) {
    say(`evaluation settings changed (${changed.join("; ")}): recomputing what they affect`);
    await dropEvaluations(out, changed, ROWS.teacher);
  }
  await Deno.mkdir(`${out}/snapshots`, { recursive: true });
  // For tokenize/predict and the official scripts.
  await writeRunConfigs(out, preset);
}

/** The main thread's stages, in the order of the pipeline, then the report. */
async function mainStages(
  ctx: RunContext,
  run: {
    options: PipelineOptions;
    worker: { done: Promise<void> } | null;
    source: string;
    started: number;
  },
): Promise<ResultRow[]> {
  const { preset, out, root, book } = ctx;
  const mean = [FASHION_MNIST_MEAN];
  const std = [FASHION_MNIST_STD];
  // 1. The teacher: a supervised ViT classifier (it saw the labels).
  const teacherNet = await teacherStage(ctx);
  const teacher = classifierTeacher(teacherNet.model, teacherNet.params, { mean, std });

  // 2. The VQ-KD tokenizer, distilled from the teacher.
  const teacherDim = preset.teacher.embedDim;
  const semanticModel = vqkd(vqkdModelConfig(preset, teacherDim));
  const semantic = await tokenizerStage(ctx, "vqkd", teacher, teacherDim, 3);
  const tokenizerReport = await evaluateTokenizer(
    semanticModel,
    semantic.params,
    semantic.state,
    ctx.data.test,
    { teacher },
  );
  ctx.output.say(
    `VQ-KD (supervised teacher): ${
      (100 * tokenizerReport.usage).toFixed(1)
    } % of codes used on the test split, mean cosine ${
      tokenizerReport.cosine.toFixed(3)
    } to the teacher`,
  );

  // 3. BEiT v2 pretraining.
  const tokenizer = { model: semanticModel, ...semantic };
  const beitParams = await pretrainStage(ctx, "beit", tokenizer, true, 4);

  // 4. Evaluation, and the comparison rows of the results preset.
  const model = beitPretrainModel(beitModelConfig(preset, preset.beit.headLayers));
  await probeRow(ctx, ROWS.beit, clsFeatures(model, beitParams));
  const randomParams = model.init(foldIn(root, 11));
  await probeRow(ctx, ROWS.random, clsFeatures(model, randomParams));
  await finetuneRow(ctx, ROWS.beit, beitParams);
  await finetuneRow(ctx, ROWS.random, null);
  await teacherRow(ctx, teacherNet.model, teacherNet.params);
  if (preset.rows !== "main") {
    await probeRow(ctx, ROWS.meanPooled, meanPatchFeatures(model, beitParams));
    await rawPixelsRow(ctx);
    if (run.worker) {
      ctx.output.say("waiting for the ablation rows of the second thread");
      await run.worker.done;
      const theirs: ResultRow[] = JSON.parse(
        await Deno.readTextFile(`${out}/results.ablations.json`),
      );
      for (const row of theirs) if (!book.row(row.name)) book.rows.push(row);
      book.save();
      Object.assign(
        book.timings,
        readTimings(await Deno.readTextFile(`${out}/timings.ablations.json`)),
      );
      book.saveTimings();
    } else if (preset.rows === "all") {
      await ablationRows(ctx, () => Promise.resolve(semantic));
    }
  }

  await writeReport({
    out,
    preset,
    seed: run.options.seed,
    backend: run.options.backend,
    source: run.source,
    results: book.rows,
    timings: book.timings,
    parallel: run.worker !== null,
    seconds: (performance.now() - run.started) / 1000,
    trainCount: ctx.data.train.labels.length,
    tokenizerReport,
    semanticModel,
    semantic,
    test: ctx.data.test,
  });
  dispose([teacherNet.params, semantic, beitParams, randomParams]);
  return book.rows;
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
