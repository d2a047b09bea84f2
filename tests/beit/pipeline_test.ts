// The whole pipeline on a few dozen images (the CI smoke test): every stage runs, the
// report is written, a rerun skips the finished stages; and the CLI's bad-flag errors.

import assert from "node:assert/strict";
import { type Preset, PRESETS, runPipeline } from "../../beit/pipeline.ts";
import { main } from "../../beit/pretrain_cli.ts";

const TINY: Preset = {
  ...structuredClone(PRESETS.quick),
  name: "tiny",
  train: 48,
  test: 32,
  teacher: { embedDim: 16, depth: 1, heads: 2, epochs: 1, batchSize: 16, lr: 1e-3 },
  vqkd: {
    embedDim: 16,
    depth: 1,
    decoderDepth: 1,
    heads: 2,
    codes: 32,
    codeDim: 8,
    epochs: 1,
    batchSize: 16,
    lr: 1e-3,
  },
  beit: {
    embedDim: 16,
    depth: 2,
    heads: 2,
    earlyLayers: 1,
    headLayers: 1,
    epochs: 1,
    batchSize: 16,
    lr: 1e-3,
    warmupEpochs: 0,
  },
  probe: { epochs: 2 },
  finetune: { epochs: 1, batchSize: 16, lr: 1e-3, layerDecay: 0.65 },
  rows: "all",
};

Deno.test("runPipeline() runs every stage on a few dozen images, writes a report, and resumes", async () => {
  const out = await Deno.makeTempDir();
  const results = await runPipeline({ preset: TINY, out, seed: 1, backend: "cpu", quiet: true });
  const names = results.map((r) => r.name);
  assert.deepEqual(names.sort(), [
    "BEiT v2 (VQ-KD, supervised teacher)",
    "BEiT v2 without the CLS bottleneck",
    "BEiT v2, probe on mean-pooled patch tokens",
    "MIM on pixel tokens (BEiT v1-style)",
    "linear classifier on raw pixels",
    "random init",
    "the teacher itself (saw labels)",
  ]);
  for (const row of results) assert.ok(row.probe! >= 0 && row.probe! <= 1, JSON.stringify(row));
  const report = await Deno.readTextFile(`${out}/report.md`);
  assert.match(report, /\| BEiT v2 \(VQ-KD, supervised teacher\) \| \d+\.\d % \| \d+\.\d % \|/);
  for (
    const file of [
      "metrics.jsonl",
      "results.json",
      "codebook_usage.svg",
      "beit_loss.svg",
      "top_codes.png",
      "tokens_0.png",
    ]
  ) {
    assert.ok((await Deno.stat(`${out}/${file}`)).isFile, file);
  }
  // A rerun finds every finished stage and result and recomputes nothing.
  const before = await Deno.readTextFile(`${out}/timings.json`);
  const again = await runPipeline({ preset: TINY, out, seed: 1, backend: "cpu", quiet: true });
  assert.deepEqual(again, results);
  assert.equal(await Deno.readTextFile(`${out}/timings.json`), before);
  // Two threads (the ablation rows in a worker) give the same rows, to the digit.
  const out2 = await Deno.makeTempDir();
  const parallel = await runPipeline({
    preset: TINY,
    out: out2,
    seed: 1,
    backend: "cpu",
    quiet: true,
    workers: 2,
  });
  assert.deepEqual(
    parallel.map(({ name, probe, finetune }) => ({ name, probe, finetune })),
    results.map(({ name, probe, finetune }) => ({ name, probe, finetune })),
  );
  assert.match(await Deno.readTextFile(`${out2}/report.md`), /trained in a second thread/);
  await Deno.remove(out, { recursive: true });
  await Deno.remove(out2, { recursive: true });
});

Deno.test("deno task pretrain explains bad flags", async () => {
  const errors: string[] = [];
  const original = console.error;
  console.error = (...a: unknown[]) => errors.push(a.join(" "));
  try {
    assert.equal(await main(["--preset", "huge"]), 2);
    assert.equal(await main(["--beit-epochs", "two"]), 2);
    assert.equal(await main(["--backend", "tpu"]), 2);
    assert.equal(await main(["--bogus"]), 2);
    assert.equal(await main(["--workers", "3", "--backend", "cpu"]), 2);
    assert.equal(await main(["--finetune-lr", "fast"]), 2);
  } finally {
    console.error = original;
  }
  assert.match(errors[0], /Unknown preset "huge": choose quick, default or results/);
  assert.match(errors[1], /--beit-epochs must be a non-negative integer \(got "two"\)/);
  assert.match(errors[2], /--backend must be cpu, webgpu or cpu-js/);
  assert.match(errors[3], /Unknown option '--bogus'/);
  assert.match(errors[4], /--workers must be 1 or 2 \(got 3\)/);
  assert.match(errors[5], /--finetune-lr must be a positive number \(got "fast"\)/);
  assert.match(errors[0], /Usage: deno task pretrain/);
});
