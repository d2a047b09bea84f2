// The programs in examples/ run as a user runs them (a subprocess, from the repository
// root) and print what their headers promise: on a small finished run and a small image
// folder of our own.

import assert from "node:assert/strict";
import { runPipeline } from "../beit/pipeline.ts";
import { encodeImagePng, FASHION_MNIST_CLASSES, loadFashionMnistRaw } from "../data/mod.ts";
import { TINY } from "./beit/tiny_preset.ts";

const root = new URL("..", import.meta.url).pathname;

/** Runs an example with `deno run -A`; returns its exit code and output. */
async function example(name: string, args: string[]): Promise<{ code: number; out: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", "--allow-env", `examples/${name}`, ...args],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code, out: decode(stdout) + decode(stderr) };
}

let run: string | undefined;
async function finishedRun(): Promise<string> {
  if (run === undefined) {
    run = await Deno.makeTempDir();
    await runPipeline({
      preset: { ...TINY, rows: "main" },
      out: run,
      seed: 4,
      backend: "cpu",
      quiet: true,
    });
  }
  return run;
}

/** ROOT/<class>/<n>.png: 10 test images of each of three Fashion-MNIST classes. */
async function imageFolder(): Promise<string> {
  const dir = await Deno.makeTempDir();
  const raw = await loadFashionMnistRaw({ split: "test", subset: 100 });
  const count = new Map<number, number>();
  for (let i = 0; i < raw.count; i++) {
    const label = raw.labels[i];
    if (label > 2 || (count.get(label) ?? 0) >= 10) continue;
    count.set(label, (count.get(label) ?? 0) + 1);
    const cls = `${dir}/${FASHION_MNIST_CLASSES[label].replace("/", "-")}`;
    await Deno.mkdir(cls, { recursive: true });
    const data = Float32Array.from(raw.pixels.subarray(i * 784, (i + 1) * 784), (v) => v / 255);
    await Deno.writeFile(
      `${cls}/${i}.png`,
      encodeImagePng({ data, channels: 1, height: 28, width: 28 }),
    );
  }
  return dir;
}

Deno.test("examples/mlp_fashion_mnist.ts trains an MLP well above chance", async () => {
  const { code, out } = await example("mlp_fashion_mnist.ts", []);
  assert.equal(code, 0, out);
  assert.match(out, /epoch 3: mean training loss \d\.\d{4}/);
  const accuracy = Number(/test accuracy: (\d+\.\d) %/.exec(out)?.[1]);
  assert.ok(accuracy >= 70, out); // about 80 % (chance: 10 %)
});

Deno.test("examples/tokenize_folder.ts tokenises every image of a folder", async () => {
  const dir = await finishedRun();
  const folder = `${await imageFolder()}/Trouser`;
  const maps = await Deno.makeTempDir();
  const { code, out } = await example("tokenize_folder.ts", ["--run", dir, "--out", maps, folder]);
  assert.equal(code, 0, out);
  const lines = out.trim().split("\n");
  assert.equal(lines.length, 11, out);
  for (const line of lines.slice(0, 10)) {
    const codes = line.split(": ")[1].split(" ").map(Number);
    assert.equal(codes.length, 49);
    assert.ok(codes.every((c) => Number.isInteger(c) && c >= 0 && c < TINY.vqkd.codes), line);
  }
  assert.match(lines[10], new RegExp(`^10 images, \\d+ distinct codes of ${TINY.vqkd.codes}$`));
  let written = 0;
  for await (const entry of Deno.readDir(maps)) {
    written += entry.name.endsWith(".tokens.png") ? 1 : 0;
  }
  assert.equal(written, 10);
});

Deno.test("examples/finetune_folder.ts fine-tunes a run's BEiT v2 on an image folder", async () => {
  const dir = await finishedRun();
  const folder = await imageFolder();
  const out = `${await Deno.makeTempDir()}/classifier.safetensors`;
  const result = await example("finetune_folder.ts", [
    "--run",
    dir,
    "--epochs",
    "2",
    "--out",
    out,
    folder,
  ]);
  assert.equal(result.code, 0, result.out);
  assert.match(
    result.out,
    /3 classes \(Pullover, T-shirt-top, Trouser\): 24 training and 6 test images/,
  );
  assert.match(result.out, /test accuracy: \d+\.\d % on 6 images/);
  const { loadStateDict } = await import("../mod.ts");
  const saved = await loadStateDict(out);
  assert.deepEqual(saved.get("head.weight")!.shape, [3, TINY.beit.embedDim]);
  assert.ok(saved.has("blocks.0.attn.qkv.weight") && saved.has("fc_norm.weight"));
});
