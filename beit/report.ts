// The report of a pipeline run: the rows of the results table and what each isolates, the
// reference run and its budget, standard errors and the ordering of the rows, and report.md
// with its SVG curves and PNG token maps.

import { dispose, getNumThreads, tensor, toArray } from "../tensor/mod.ts";
import type { HostDataset } from "../data/loader.ts";
import { encodeImagePng } from "../data/image_folder.ts";
import type { VqkdModel, VqkdParams, VqkdState } from "../vqkd/model.ts";
import { codePatchGrid, tokenMap, usageHistogramSvg } from "../vqkd/report.ts";
import { curvesSvg } from "./charts.ts";
import type { Preset } from "./presets.ts";
import type { ResultRow, StageTiming } from "./run_folder.ts";

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
/** The rows in the table's order. */
export const ROW_ORDER: readonly string[] = Object.values(ROWS);

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
    "a linear classifier on the image's pixels: what the probe gets with no network at all.",
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

/** What the report is written from. */
export interface ReportInput {
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
}

/**
 * Writes the run's report: report.md (or report.tessella.md beside a foreign report.md) with
 * the results table against the reference, the budget, the stage times, SVG training curves,
 * the codebook usage and PNG token maps of test images.
 */
export async function writeReport(r: ReportInput): Promise<void> {
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
  // The loss curves of the training stages: file, title, series, y axis.
  const lossCharts: [string, string, Record<string, number[]>, string][] = [
    [
      "teacher_loss.svg",
      "Supervised teacher: cross-entropy of each training batch",
      { "training loss": seriesOf("teacher", "loss") },
      "loss (nats)",
    ],
    [
      "vqkd_loss.svg",
      "VQ-KD: reconstruction loss of each training batch",
      { "1 − cosine to the teacher": seriesOf("vqkd", "rec_loss") },
      "1 − cosine",
    ],
    [
      "beit_loss.svg",
      "BEiT v2: masked-token cross-entropy of each training batch",
      {
        "main branch": seriesOf("beit", "loss_main"),
        "CLS bottleneck branch": seriesOf("beit", "loss_cls_pt"),
      },
      "loss (nats)",
    ],
  ];
  for (const [file, title, series, yLabel] of lossCharts) {
    await Deno.writeTextFile(
      `${r.out}/${file}`,
      curvesSvg(series, { title, xLabel: "training step", yLabel, window: 25 }),
    );
  }
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
  const [, channels, height, width] = r.test.shape;
  const size = channels * height * width;
  const count = Math.min(64, r.test.labels.length);
  const scale = r.test.pixels instanceof Uint8Array ? 1 / 255 : 1;
  const pixels = Float32Array.from(r.test.pixels.subarray(0, count * size), (p) => p * scale);
  const images = tensor(pixels, { shape: [count, channels, height, width] });
  const tokenTensor = r.semanticModel.apply(r.semantic.params, r.semantic.state, images).tokens;
  const tokens = Int32Array.from(await toArray(tokenTensor)); // [count, N]
  const n = tokenTensor.shape[1];
  dispose([images, tokenTensor]);
  const grid = Math.round(Math.sqrt(n));
  const patch = height / grid;
  for (let i = 0; i < 8; i++) {
    await Deno.writeFile(
      `${r.out}/tokens_${i}.png`,
      encodeImagePng(tokenMap(Array.from(tokens.subarray(n * i, n * i + n)), grid, patch)),
    );
    await Deno.writeFile(
      `${r.out}/image_${i}.png`,
      encodeImagePng({ data: pixels.subarray(size * i, size * (i + 1)), channels, height, width }),
    );
  }
  const top = Array.from(r.tokenizerReport.histogram, (c, code) => [c, code]).sort((a, b) =>
    b[0] - a[0]
  ).slice(0, 16).map(([, code]) => code);
  await Deno.writeFile(
    `${r.out}/top_codes.png`,
    encodeImagePng(codePatchGrid(pixels, tokens, [count, channels, height, width], patch, top, 16)),
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
