// A finished run's folder is usable on its own: its configs carry the official names, and
// `deno task tokenize --run`, `deno task predict --run` (top-K classes, features) give what
// the run's models give in memory.

import assert from "node:assert/strict";
import { runPipeline } from "../../beit/pipeline.ts";
import {
  beitFeatures,
  loadRunBeit,
  loadRunClassifier,
  loadRunTokenizer,
  openRun,
  readRunImages,
  runConfigs,
} from "../../beit/saved_run.ts";
import { main as predict } from "../../beit/predict_cli.ts";
import { main as tokenize } from "../../vqkd/tokenize_cli.ts";
import { main as exportMain } from "../../beit/export_cli.ts";
import { readPth } from "../../nn/io/pth.ts";
import { readPthPickle } from "../_pth.ts";
import { relativePositionIndex } from "../../nn/relative_position_bias.ts";
import * as T from "../../mod.ts";
import { decodeImage, encodeImagePng, resizeAndCenterCrop } from "../../data/image_folder.ts";
import { loadStateDict, parseNpy } from "../../nn/mod.ts";
import { softmax, tensor, toArray } from "../../mod.ts";
import { TINY } from "./tiny_preset.ts";

/** Runs a CLI, capturing what it prints. */
async function capture(
  run: () => Promise<number>,
): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const { log, error } = console;
  console.log = (...a: unknown[]) => out.push(a.join(" "));
  console.error = (...a: unknown[]) => err.push(a.join(" "));
  try {
    return { code: await run(), out: out.join("\n"), err: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}

/** Three images of our own: 28 × 28 (as the data), 40 × 30 and 16 × 16 (resized and cropped). */
async function writeImages(dir: string): Promise<string[]> {
  const sizes = [[28, 28], [30, 40], [16, 16]];
  const paths: string[] = [];
  for (const [i, [h, w]] of sizes.entries()) {
    const data = Float32Array.from({ length: h * w }, (_, j) => ((j * (i + 3)) % 17) / 16);
    const path = `${dir}/img${i}.png`;
    await Deno.writeFile(path, encodeImagePng({ data, channels: 1, height: h, width: w }));
    paths.push(path);
  }
  return paths;
}

const out = await Deno.makeTempDir();
let ran = false;
async function finishedRun(): Promise<string> {
  if (!ran) {
    await runPipeline({
      preset: { ...TINY, rows: "main" },
      out,
      seed: 3,
      backend: "cpu",
      quiet: true,
    });
    ran = true;
  }
  return out;
}

Deno.test("a run folder holds its models' configs under the official argument names", async () => {
  const dir = await finishedRun();
  const run = await openRun(dir);
  for (const name of ["teacher", "vqkd", "beit", "finetuned"] as const) {
    const written = JSON.parse(await Deno.readTextFile(`${dir}/configs/${name}.json`));
    assert.deepEqual(written, JSON.parse(JSON.stringify(run.configs[name])), name);
  }
  assert.deepEqual(runConfigs(TINY).vqkd, run.configs.vqkd);
  const beit = run.configs.beit;
  assert.equal(beit.embed_dim, TINY.beit.embedDim);
  assert.equal(beit.early_layers, TINY.beit.earlyLayers);
  assert.equal(beit.vocab_size, TINY.vqkd.codes);
  assert.equal(run.configs.finetuned.use_mean_pooling, true);
  assert.equal(
    (run.configs.vqkd.encoder as Record<string, unknown>).embed_dim,
    TINY.vqkd.embedDim,
  );
});

Deno.test("deno task tokenize --run (or a run's vqkd.ckpt) gives the run's tokenizer's codes", async () => {
  const dir = await finishedRun();
  const images = await writeImages(await Deno.makeTempDir());
  const byRun = await capture(() => tokenize(["--run", dir, "--json", ...images]));
  assert.equal(byRun.code, 0, byRun.err);
  const tokens = JSON.parse(byRun.out).tokens as number[][];
  assert.equal(tokens.length, 3);
  for (const row of tokens) {
    assert.equal(row.length, 49);
    assert.ok(row.every((t) => Number.isInteger(t) && t >= 0 && t < TINY.vqkd.codes));
  }
  const byFile = await capture(() =>
    tokenize(["--checkpoint", `${dir}/vqkd.ckpt`, "--json", ...images])
  );
  assert.equal(byFile.code, 0, byFile.err);
  assert.deepEqual(JSON.parse(byFile.out).tokens, tokens);
  // The same codes as the tokenizer applied in memory (images in [0, 1], as it trained).
  const { model, params, state } = await loadRunTokenizer(await openRun(dir));
  const run = await openRun(dir);
  assert.ok(run.classes.length === 10);
  for (const [i, path] of images.entries()) {
    const image = resizeAndCenterCrop(decodeImage(await Deno.readFile(path), path, 1), 28);
    const x = tensor(image.data, { shape: [1, 1, 28, 28] });
    assert.deepEqual(Array.from(await toArray(model.apply(params, state, x).tokens)), tokens[i]);
  }
  // Another of the run's checkpoints is refused with the reason.
  const wrong = await capture(() => tokenize(["--checkpoint", `${dir}/beit.ckpt`, images[0]]));
  assert.equal(wrong.code, 2);
  assert.match(wrong.err, /vqkd\.ckpt is the tokenizer/);
});

Deno.test("deno task predict --run prints the fine-tuned classifier's top-K classes", async () => {
  const dir = await finishedRun();
  const folder = await Deno.makeTempDir();
  const images = await writeImages(folder);
  await Deno.writeTextFile(`${folder}/notes.txt`, "not an image"); // skipped in a folder
  const result = await capture(() => predict(["--run", dir, "--json", "--top", "3", folder]));
  assert.equal(result.code, 0, result.err);
  const rows = JSON.parse(result.out);
  assert.deepEqual(rows.map((r: { image: string }) => r.image), images);
  // The same probabilities as the classifier applied in memory.
  const run = await openRun(dir);
  const { model, params } = await loadRunClassifier(run);
  const probs = await toArray(
    softmax(model.apply(params, await readRunImages(images)), { axis: -1 }),
  );
  for (const [i, row] of rows.entries()) {
    assert.equal(row.top.length, 3);
    const p = row.top.map((t: { probability: number }) => t.probability);
    assert.ok(p[0] >= p[1] && p[1] >= p[2], JSON.stringify(p));
    for (const t of row.top) {
      assert.equal(t.class, run.classes[t.label]);
      // |a − b| ≤ 1e-6 + 0·|b|: the same numbers, read back the same way.
      assert.ok(Math.abs(t.probability - probs[i * 10 + t.label]) <= 1e-6);
    }
    const best = Array.from(probs.subarray(i * 10, i * 10 + 10)).reduce(
      (a, v, j, all) => (v > all[a] ? j : a),
      0,
    );
    assert.equal(row.top[0].label, best);
  }
  const text = await capture(() => predict(["--run", dir, images[0]]));
  assert.equal(text.code, 0, text.err);
  assert.equal(text.out.split(" %").length - 1, 5); // five classes with their probabilities
});

Deno.test("deno task predict --features writes the BEiT v2 features as .npy or .safetensors", async () => {
  const dir = await finishedRun();
  const tmp = await Deno.makeTempDir();
  const images = await writeImages(tmp);
  const { model, params } = await loadRunBeit(await openRun(dir));
  const x = await readRunImages(images);
  for (const pool of ["cls", "mean"] as const) {
    const expected = await toArray(beitFeatures(model, params, x, pool));
    const npy = await capture(() =>
      predict([
        "--run",
        dir,
        "--features",
        `${tmp}/f_${pool}.npy`,
        "--pool",
        pool,
        "--batch",
        "2",
        ...images,
      ])
    );
    assert.equal(npy.code, 0, npy.err);
    const parsed = parseNpy(await Deno.readFile(`${tmp}/f_${pool}.npy`));
    assert.deepEqual(parsed.shape, [3, TINY.beit.embedDim]);
    assert.deepEqual(parsed.values, expected);
    assert.equal(await Deno.readTextFile(`${tmp}/f_${pool}.txt`), images.join("\n") + "\n");
  }
  const st = await capture(() =>
    predict(["--run", dir, "--features", `${tmp}/f.safetensors`, ...images])
  );
  assert.equal(st.code, 0, st.err);
  const loaded = await loadStateDict(`${tmp}/f.safetensors`);
  assert.deepEqual(loaded.get("features")!.shape, [3, TINY.beit.embedDim]);
  assert.deepEqual(
    await toArray(loaded.get("features")!),
    await toArray(beitFeatures(model, params, x, "cls")),
  );
});

Deno.test("deno task predict explains what is missing", async () => {
  const empty = await Deno.makeTempDir();
  const noRun = await capture(() => predict(["--run", empty, "x.png"]));
  assert.equal(noRun.code, 2); // bad input
  assert.match(noRun.err, /Cannot open run .*run\.json/);
  const noFlag = await capture(() => predict(["x.png"]));
  assert.equal(noFlag.code, 2);
  assert.match(noFlag.err, /Missing --run/);
  const badPool = await capture(() =>
    predict(["--run", empty, "--features", "f.npy", "--pool", "max", "x.png"])
  );
  assert.equal(badPool.code, 2);
  assert.match(badPool.err, /--pool must be cls or mean/);
});

Deno.test("deno task export --to official writes .pth files with the official keys and wrapper", async () => {
  const dir = await finishedRun();
  const out = await Deno.makeTempDir();
  const result = await capture(() => exportMain(["--run", dir, "--to", "official", "--out", out]));
  assert.equal(result.code, 0, result.err);
  const run = await openRun(dir);
  const models = {
    vqkd: await loadRunTokenizer(run).then((t) => ({ ...t.params, quantize: t.state.quantize })),
    beit_pretrain: (await loadRunBeit(run)).params,
    beit_finetuned: (await loadRunClassifier(run)).params,
  };
  const index = BigInt64Array.from(relativePositionIndex(7, 7), (v) => BigInt(v));
  for (const [name, tree] of Object.entries(models)) {
    const bytes = await Deno.readFile(`${out}/${name}.pth`);
    // The pickle's top level is {"model": OrderedDict}, as the official scripts save it.
    const root = await readPthPickle(bytes, name) as Map<string, unknown>;
    assert.deepEqual([...root.keys()], ["model"], name);
    assert.ok(root.get("model") instanceof Map);
    const saved = await readPth(bytes, name);
    const expected = T.treeFlattenWithPath(tree).filter(([, v]) => v instanceof T.Tensor) as [
      string,
      T.Tensor,
    ][];
    const indexKeys = [...saved.keys()].filter((k) => k.endsWith("relative_position_index"));
    assert.deepEqual(
      [...saved.keys()].filter((k) => !k.endsWith("relative_position_index")),
      expected.map(([k]) => k),
      name,
    );
    for (const [key, t] of expected) {
      const raw = saved.get(key)!;
      assert.deepEqual(raw.shape, [...t.shape], key);
      assert.deepEqual(new Float32Array(raw.data.slice().buffer), await T.toArray(t), key);
    }
    // Every relative position table is followed by its int64 index buffer.
    const tables = expected.filter(([k]) => k.endsWith("relative_position_bias_table"));
    assert.equal(indexKeys.length, tables.length, name);
    for (const key of indexKeys) {
      const raw = saved.get(key)!;
      assert.equal(raw.dtype, "I64");
      assert.deepEqual(raw.shape, [50, 50]);
      assert.deepEqual(new BigInt64Array(raw.data.slice().buffer), index, key);
    }
    const config = JSON.parse(await Deno.readTextFile(`${out}/${name}.json`));
    assert.ok(typeof config === "object" && config !== null);
  }
  // The pretraining model has one shared table, the classifier one per block.
  const pretrainKeys = [
    ...(await readPth(await Deno.readFile(`${out}/beit_pretrain.pth`), "p")).keys(),
  ];
  assert.ok(pretrainKeys.includes("rel_pos_bias.relative_position_index"));
  const tunedKeys = [
    ...(await readPth(await Deno.readFile(`${out}/beit_finetuned.pth`), "f")).keys(),
  ];
  assert.ok(tunedKeys.includes("blocks.1.attn.relative_position_index"));
  assert.ok(tunedKeys.includes("fc_norm.weight") && tunedKeys.includes("head.bias"));
});
