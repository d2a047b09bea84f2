// The whole pipeline on a few dozen images (the CI smoke test): every stage runs, the
// report is written, a rerun skips the finished stages; and the CLI's bad-flag errors.

import assert from "node:assert/strict";
import { runPipeline } from "../../beit/pipeline.ts";
import { accuracyStandardError } from "../../beit/report.ts";
import { TINY } from "./tiny_preset.ts";
import { main } from "../../beit/pretrain_cli.ts";

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
  assert.match(
    report,
    /\| BEiT v2 \(VQ-KD, supervised teacher\) \| \d+\.\d ± \d+\.\d % \| \d+\.\d ± \d+\.\d % \|/,
  );
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
  // Finished stages leave their checkpoint, not their resume point.
  const files: string[] = [];
  for await (const entry of Deno.readDir(out)) files.push(entry.name);
  assert.ok(files.includes("beit.ckpt") && files.includes("vqkd_pixels.ckpt"), String(files));
  assert.deepEqual(files.filter((n) => n.endsWith(".partial.ckpt")), []);
  // The main MIM stage keeps its params after every epoch.
  assert.ok((await Deno.stat(`${out}/snapshots/beit.epoch1.ckpt`)).isFile);
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
  // The report: charts with labelled axes, the probe curves, a sentence per row.
  assert.match(report, /BEiT v2 against random init: [+−]\d+\.\d ± \d+\.\d points on the probe/);
  assert.match(report, /Ordering on the probe, best first[^]*\) > \[\d+\.\d points, \d+\.\d SE\]/);
  assert.match(report, /- \*\*random init\*\*: the same network untrained/);
  // The budget beside the reference's: 1 epoch of 48 images at batch 16 = 3 MIM steps.
  assert.match(report, /\| beit \| 48 \/ 240,000 \| 3 \/ 1,875 \| 0\.00× \|/);
  assert.match(report, /BEiT v2 width 16, depth 2, 2 heads \(the reference's BEiT v2: width 128/);
  const chart = await Deno.readTextFile(`${out}/beit_loss.svg`);
  assert.match(chart, />training step</);
  assert.match(chart, />loss \(nats\)</);
  assert.match(chart, /main branch: faint raw, solid mean of 25/);
  assert.match(await Deno.readTextFile(`${out}/probe_curves.svg`), />probe epoch</);
  assert.equal(results.find((r) => r.name === "random init")!.probeCurve!.length, 2);
  // Another seed or recipe in the same folder is refused, naming what differs; nothing there
  // is touched.
  await assert.rejects(
    runPipeline({ preset: TINY, out, seed: 2, backend: "cpu", quiet: true }),
    /holds a run with other settings[^]*seed: 1 → 2/,
  );
  await assert.rejects(
    runPipeline({
      preset: { ...TINY, beit: { ...TINY.beit, lr: 2e-3 } },
      out,
      seed: 1,
      backend: "cpu",
      quiet: true,
    }),
    /beit\.lr: 0\.001 → 0\.002/,
  );
  assert.equal(await Deno.readTextFile(`${out}/timings.json`), before);
  // A new fine-tuning recipe recomputes the fine-tunes only (the teacher's own accuracy and
  // every probe stay); a new probe recomputes the probes.
  const teacherSeconds = JSON.parse(before).teacher.seconds;
  const refined = await runPipeline({
    preset: { ...TINY, finetune: { ...TINY.finetune, lr: 2e-3 } },
    out,
    seed: 1,
    backend: "cpu",
    quiet: true,
  });
  const timings = JSON.parse(await Deno.readTextFile(`${out}/timings.json`));
  assert.equal(timings.teacher.seconds, teacherSeconds);
  assert.ok(timings["finetune random init"].seconds > 0);
  for (const row of refined) {
    const old = results.find((r) => r.name === row.name)!;
    assert.equal(row.probe, old.probe, row.name);
    assert.equal(row.finetune === undefined, old.finetune === undefined, row.name);
  }
  const teacherRow = (rows: typeof results) => rows.find((r) => r.name.startsWith("the teacher"));
  assert.equal(teacherRow(refined)!.finetune, teacherRow(results)!.finetune);
  assert.match(await Deno.readTextFile(`${out}/run.json`), /"lr": 0\.002/);
  const reprobed = await runPipeline({
    preset: { ...TINY, probe: { epochs: 1 }, finetune: { ...TINY.finetune, lr: 2e-3 } },
    out,
    seed: 1,
    backend: "cpu",
    quiet: true,
  });
  assert.ok(reprobed.every((r) => r.probeCurve === undefined || r.probeCurve.length === 1));
  // A folder with results but no record of their settings is refused too.
  const legacy = await Deno.makeTempDir();
  await Deno.writeTextFile(`${legacy}/results.json`, "[]");
  await assert.rejects(
    runPipeline({ preset: TINY, out: legacy, seed: 1, backend: "cpu", quiet: true }),
    /results\.json from a run whose settings were not recorded/,
  );
  await Deno.remove(legacy, { recursive: true });
  await Deno.remove(out, { recursive: true });
  await Deno.remove(out2, { recursive: true });
});

Deno.test('runPipeline() with the "probes" rows adds the evaluations that train nothing more', async () => {
  const out = await Deno.makeTempDir();
  const results = await runPipeline({
    preset: { ...TINY, rows: "probes" },
    out,
    seed: 1,
    backend: "cpu",
    quiet: true,
    workers: 2,
  });
  assert.deepEqual(results.map((r) => r.name), [
    "BEiT v2 (VQ-KD, supervised teacher)",
    "random init",
    "BEiT v2, probe on mean-pooled patch tokens",
    "the teacher itself (saw labels)",
    "linear classifier on raw pixels",
  ]);
  const files: string[] = [];
  for await (const entry of Deno.readDir(out)) files.push(entry.name);
  assert.ok(!files.some((n) => n.startsWith("beit_") && n.endsWith(".ckpt")), String(files));
  assert.ok(!files.includes("vqkd_pixels.ckpt"), String(files));
  await Deno.remove(out, { recursive: true });
});

Deno.test("accuracyStandardError() is the binomial standard error in points", () => {
  // √(0.7 · 0.3 / 10,000) = 0.004583
  assert.ok(Math.abs(accuracyStandardError(0.7, 10_000) - 0.4583) < 1e-4);
  assert.equal(accuracyStandardError(1, 100), 0);
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
    // Names on Object.prototype are not presets.
    assert.equal(await main(["--preset", "constructor"]), 2);
  } finally {
    console.error = original;
  }
  assert.match(errors[0], /Unknown preset "huge": choose quick, default, results, paper/);
  assert.match(errors[1], /--beit-epochs must be a non-negative integer \(got "two"\)/);
  assert.match(errors[2], /--backend must be cpu, webgpu or cpu-js/);
  assert.match(errors[3], /Unknown option '--bogus'/);
  assert.match(errors[4], /--workers must be 1 or 2 \(got 3\)/);
  assert.match(errors[5], /--finetune-lr must be a positive number \(got "fast"\)/);
  assert.match(errors[0], /Usage: deno task pretrain/);
  assert.match(errors[6], /Unknown preset "constructor"/);
});
