// `deno task pretrain [--preset quick|default|results|paper] [--backend cpu|webgpu|cpu-js] [--data DIR]
//   [--out DIR] [--seed N] [--teacher-epochs N] [--vqkd-epochs N] [--beit-epochs N]
//   [--probe-epochs N] [--finetune-epochs N] [--finetune-batch N] [--finetune-lr X]
//   [--train-size N] [--test-size N] [--workers N]`
//
// Runs the whole pipeline (teacher → VQ-KD → BEiT v2 → linear probe + fine-tune) and
// writes metrics.jsonl, results.json and report.md into the output folder. Stages with a
// finished checkpoint in the folder are skipped, so rerunning continues an interrupted run.

import { openBackend } from "../tensor/mod.ts";
import { runPipeline } from "./pipeline.ts";
import { type Preset, PRESETS } from "./presets.ts";
import { failure, parseFlags } from "../nn/io/cli.ts";

const USAGE = `Usage: deno task pretrain [options]

  --preset NAME        quick (a smoke run, ≤ 1 min), default (≤ 60 min), results (the paper's
                       comparison rows, ≤ 90 min), paper (the reference's model size, ≤ 150 min)
  --backend NAME       cpu, webgpu, or cpu-js (the JavaScript kernels, for comparison)
                       (default: webgpu on a hardware adapter, else cpu)
  --data DIR           a folder with the Fashion-MNIST IDX files (else TESSELLA_DATA, Debian's
                       dataset-fashion-mnist, or the embedded subset)
  --out DIR            output folder (default runs/<preset>)
  --seed N             random seed (default 0)
  --teacher-epochs N, --vqkd-epochs N, --beit-epochs N, --probe-epochs N, --finetune-epochs N
  --finetune-batch N, --finetune-lr X   the fine-tuning recipe (default: the preset's)
  --train-size N, --test-size N     override the preset
  --workers N          threads for the results preset: 2 trains its ablation rows beside the
                       main rows (default: 2 on the CPU backend with 2 or more cores, else 1)
  -h, --help           show this help`;

const INT_FLAGS = [
  "seed",
  "teacher-epochs",
  "vqkd-epochs",
  "beit-epochs",
  "probe-epochs",
  "finetune-epochs",
  "train-size",
  "test-size",
  "workers",
  "finetune-batch",
] as const;

/** Picks the default backend: WebGPU on a hardware adapter, the CPU otherwise. */
async function defaultBackend(): Promise<string> {
  // Mesa's Vulkan loader complains on stderr when XDG_RUNTIME_DIR is unset, which reads as a
  // failure of the run; give the probe a private, empty runtime folder instead.
  if (Deno.env.get("XDG_RUNTIME_DIR") === undefined) {
    Deno.env.set("XDG_RUNTIME_DIR", await Deno.makeTempDir({ prefix: "tessella-xdg-" }));
  }
  try {
    const adapter = await navigator.gpu?.requestAdapter();
    if (adapter && !adapter.info.isFallbackAdapter) {
      await openBackend("webgpu");
      return "webgpu";
    }
  } catch {
    // no WebGPU: use the CPU
  }
  return "cpu";
}

/**
 * What makes a preset unrunnable, checked before any work: every training stage needs at
 * least one epoch and at least one full batch of training images, and there must be test
 * images to evaluate on.
 */
export function presetProblem(preset: Preset): string | undefined {
  if (preset.train < 1 || preset.test < 1) {
    return `--train-size and --test-size must be at least 1 (got ${preset.train} and ${preset.test}).`;
  }
  const stages = [
    ["teacher", preset.teacher],
    ["vqkd", preset.vqkd],
    ["beit", preset.beit],
    ["finetune", preset.finetune],
  ] as const;
  for (const [name, stage] of stages) {
    if (stage.epochs < 1) return `--${name}-epochs must be at least 1 (got ${stage.epochs}).`;
    if (stage.batchSize > preset.train) {
      return `the ${name} stage's batch of ${stage.batchSize} images is larger than the ` +
        `${preset.train} training images: raise --train-size or lower the batch size.`;
    }
  }
  if (preset.probe.epochs < 1) {
    return `--probe-epochs must be at least 1 (got ${preset.probe.epochs}).`;
  }
  return undefined;
}

/** Runs the CLI; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const flags = parseFlags(args, {
    preset: { type: "string", default: "default" },
    backend: { type: "string" },
    data: { type: "string" },
    out: { type: "string" },
    quiet: { type: "boolean", default: false },
    "finetune-lr": { type: "string" },
    ...Object.fromEntries(INT_FLAGS.map((f) => [f, { type: "string" as const }])),
  }, USAGE);
  if (typeof flags === "number") return flags;
  const values: Record<string, string | boolean | undefined> = flags.values;
  const base = Object.hasOwn(PRESETS, values.preset as string)
    ? PRESETS[values.preset as string]
    : undefined;
  if (!base) {
    console.error(
      `Unknown preset "${values.preset}": choose ${Object.keys(PRESETS).join(", ")}.\n\n${USAGE}`,
    );
    return 2;
  }
  for (const flag of ["data", "out", "backend", "finetune-lr", ...INT_FLAGS]) {
    if (typeof values[flag] === "string" && (values[flag] as string).trim() === "") {
      console.error(`--${flag} needs a value (got an empty string).\n\n${USAGE}`);
      return 2;
    }
  }
  const ints: Record<string, number> = {};
  for (const flag of INT_FLAGS) {
    const raw = values[flag];
    if (raw === undefined) continue;
    const n = Number(raw);
    if (!/^\d+$/.test(String(raw)) || !Number.isSafeInteger(n)) {
      console.error(`--${flag} must be a non-negative integer (got "${raw}").\n\n${USAGE}`);
      return 2;
    }
    ints[flag] = n;
  }
  const finetuneLr = values["finetune-lr"] === undefined
    ? undefined
    : Number(values["finetune-lr"]);
  if (finetuneLr !== undefined && !(finetuneLr > 0 && Number.isFinite(finetuneLr))) {
    console.error(
      `--finetune-lr must be a positive number (got "${values["finetune-lr"]}").\n\n${USAGE}`,
    );
    return 2;
  }
  if (ints["finetune-batch"] === 0) {
    console.error(`--finetune-batch must be at least 1.\n\n${USAGE}`);
    return 2;
  }
  if (
    values.backend !== undefined && !["cpu", "webgpu", "cpu-js"].includes(values.backend as string)
  ) {
    console.error(`--backend must be cpu, webgpu or cpu-js (got "${values.backend}").\n\n${USAGE}`);
    return 2;
  }
  const preset: Preset = structuredClone(base);
  if (ints["teacher-epochs"] !== undefined) preset.teacher.epochs = ints["teacher-epochs"];
  if (ints["vqkd-epochs"] !== undefined) preset.vqkd.epochs = ints["vqkd-epochs"];
  if (ints["beit-epochs"] !== undefined) preset.beit.epochs = ints["beit-epochs"];
  if (ints["probe-epochs"] !== undefined) preset.probe.epochs = ints["probe-epochs"];
  if (ints["finetune-epochs"] !== undefined) preset.finetune.epochs = ints["finetune-epochs"];
  if (ints["finetune-batch"] !== undefined) preset.finetune.batchSize = ints["finetune-batch"];
  if (finetuneLr !== undefined) preset.finetune.lr = finetuneLr;
  if (ints["train-size"] !== undefined) preset.train = ints["train-size"];
  if (ints["test-size"] !== undefined) preset.test = ints["test-size"];
  const problem = presetProblem(preset);
  if (problem) {
    console.error(`${problem}\n\n${USAGE}`);
    return 2;
  }
  const backend = (values.backend as string | undefined) ?? await defaultBackend();
  const out = (values.out as string | undefined) ?? `runs/${preset.name}`;
  // Two pipeline threads on the CPU backend each split their kernels over half the cores
  // (small kernels do not split at all, so two independent threads use the cores better).
  // On WebGPU both threads would share one device, so one thread is the default there.
  const workers = ints.workers ??
    (backend === "cpu" && navigator.hardwareConcurrency >= 2 ? 2 : 1);
  if (workers < 1 || workers > 2) {
    console.error(`--workers must be 1 or 2 (got ${workers}).\n\n${USAGE}`);
    return 2;
  }
  try {
    const t0 = performance.now();
    const results = await runPipeline({
      preset,
      out,
      seed: ints.seed ?? 0,
      backend,
      dataDir: values.data as string | undefined,
      quiet: values.quiet as boolean,
      workers,
      command: ["deno task pretrain", ...args].join(" "),
    });
    console.log(
      `\nResults (${preset.name} preset, ${backend}, ${
        Math.round((performance.now() - t0) / 1000)
      } s):`,
    );
    for (const row of results) {
      const pct = (x?: number) => (x === undefined ? "  –  " : `${(100 * x).toFixed(1)} %`);
      console.log(
        `  ${row.name.padEnd(40)} probe ${pct(row.probe)}  fine-tune ${pct(row.finetune)}`,
      );
    }
    console.log(`Report: ${out}/report.md`);
    return 0;
  } catch (error) {
    return failure(error, "\n");
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
