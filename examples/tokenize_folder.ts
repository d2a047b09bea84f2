// Loads a trained VQ-KD tokenizer and tokenises every image in a folder: each image becomes
// a grid of code ids (7 × 7 for 28-pixel images), the "visual words" BEiT v2 learns to
// predict. Prints each image's codes, how many distinct codes the folder uses, and writes a
// token map per image (each patch coloured by its code) when given --out.
//
//   deno task pretrain --preset quick                 # a run folder: runs/quick
//   deno run --allow-read --allow-write --allow-env examples/tokenize_folder.ts \
//     --run runs/quick [--out maps/] FOLDER
//
// A tokenizer in the official format loads the same way with loadTokenizer(checkpoint,
// config) from "@tessella/tessella/vqkd".

import { parseArgs } from "node:util";
import { dispose, toArray } from "@tessella/tessella";
import { encodeImagePng } from "@tessella/tessella/data";
import { loadRunTokenizer, openRun, readRunImages } from "@tessella/tessella/beit";
import { tokenMap } from "@tessella/tessella/vqkd";

const { values, positionals } = parseArgs({
  args: Deno.args,
  options: { run: { type: "string" }, out: { type: "string" } },
  allowPositionals: true,
});
if (!values.run || positionals.length !== 1) {
  console.error("Usage: tokenize_folder.ts --run RUN_DIR [--out DIR] FOLDER");
  Deno.exit(2);
}
const folder = positionals[0];

const run = await openRun(values.run);
const { model, params, state } = await loadRunTokenizer(run);
const files: string[] = [];
for await (const entry of Deno.readDir(folder)) {
  if (entry.isFile && /\.(png|jpe?g)$/i.test(entry.name)) files.push(`${folder}/${entry.name}`);
}
files.sort();

// Grayscale 28 × 28 in [0, 1], as the tokenizer trained (the BEiT v2 models take them
// standardised: readRunImages' default).
const images = await readRunImages(files, { normalize: false });
const tokens = await toArray(model.apply(params, state, images).tokens); // int32 [N, 49]
dispose(images);

const grid = 28 / (run.configs.vqkd.encoder as { patch_size: number }).patch_size;
const perImage = grid * grid;
const used = new Set<number>();
if (values.out) await Deno.mkdir(values.out, { recursive: true });
for (const [i, file] of files.entries()) {
  const codes = Array.from(tokens.subarray(i * perImage, (i + 1) * perImage));
  codes.forEach((c) => used.add(c));
  console.log(`${file}: ${codes.join(" ")}`);
  if (values.out) {
    const name = file.split("/").pop()!.replace(/\.[^.]+$/, "");
    await Deno.writeFile(`${values.out}/${name}.tokens.png`, encodeImagePng(tokenMap(codes, grid)));
  }
}
const codebook = run.configs.vqkd.n_embed as number;
console.log(`${files.length} images, ${used.size} distinct codes of ${codebook}`);
