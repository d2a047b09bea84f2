// `deno task predict --run DIR [--top K] [--json] IMAGE|FOLDER...`
// `deno task predict --run DIR --features OUT.npy|OUT.safetensors [--pool cls|mean] IMAGE|FOLDER...`
//
// Uses a finished run's models on your own images (PNG or JPEG; a folder stands for every
// such file under it, in sorted order). Images are read as the run's models take them:
// grayscale, resized on the shorter side and centre-cropped to 28 × 28, standardised with
// Fashion-MNIST's statistics. Without --features, prints the fine-tuned classifier's top-K
// classes per image; with it, writes the pretrained BEiT v2 model's features (the last
// layer's CLS token, or the mean of the patch tokens), one row per image.

import { dispose, softmax, tensor, toArray } from "../tensor/mod.ts";
import { encodeNpy } from "../nn/io/npy.ts";
import { saveStateDict } from "../nn/io/state_dict.ts";
import {
  beitFeatures,
  loadRunBeit,
  loadRunClassifier,
  openRun,
  readRunImages,
  type SavedRun,
} from "./saved_run.ts";
import { failure, parseFlags } from "../nn/io/cli.ts";

const USAGE = `Usage: deno task predict --run DIR [options] IMAGE|FOLDER...

  --run DIR            a folder written by deno task pretrain
  --top K              classes to print per image (default 5)
  --json               print [{"image", "top": [{"class", "label", "probability"}]}] as JSON
  --features FILE      write features instead: FILE.npy (float32 [N, D]; the images' order
                       goes to FILE.txt) or FILE.safetensors (tensor "features", the image
                       paths in its metadata)
  --pool cls|mean      the feature: the CLS token (default, what the linear probe reads) or the
                       mean of the patch tokens
  --batch N            images per forward pass (default 256)
  -h, --help           show this help`;

const IMAGE_FILE = /\.(png|jpe?g)$/i;

/** The image files a list of files and folders stands for, folders expanded in sorted order. */
async function imagePaths(args: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  const visit = async (path: string, top: boolean): Promise<void> => {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(path);
    } catch (error) {
      throw new Error(`Cannot read ${path}: ${(error as Error).message}`);
    }
    if (info.isDirectory) {
      const names: string[] = [];
      for await (const entry of Deno.readDir(path)) names.push(entry.name);
      names.sort();
      for (const name of names) await visit(`${path.replace(/\/$/, "")}/${name}`, false);
    } else if (top || IMAGE_FILE.test(path)) {
      out.push(path);
    }
  };
  for (const arg of args) await visit(arg, true);
  return out;
}

/** Runs the CLI with the given arguments; returns the process exit code. */
export async function main(args: string[]): Promise<number> {
  const flags = parseFlags(
    args,
    {
      run: { type: "string" },
      top: { type: "string", default: "5" },
      json: { type: "boolean", default: false },
      features: { type: "string" },
      pool: { type: "string", default: "cls" },
      batch: { type: "string", default: "256" },
    },
    USAGE,
    true,
  );
  if (typeof flags === "number") return flags;
  const { values, positionals } = flags;
  const top = Number(values.top);
  const batch = Number(values.batch);
  const problem = !values.run
    ? "Missing --run"
    : positionals.length === 0
    ? "Missing images"
    : !Number.isInteger(top) || top < 1
    ? `--top must be a positive integer (got ${values.top})`
    : !Number.isInteger(batch) || batch < 1
    ? `--batch must be a positive integer (got ${values.batch})`
    : values.pool !== "cls" && values.pool !== "mean"
    ? `--pool must be cls or mean (got ${values.pool})`
    : values.features !== undefined && !/\.(npy|safetensors)$/.test(values.features)
    ? `--features must name a .npy or .safetensors file (got ${values.features})`
    : null;
  if (problem) {
    console.error(`${problem}.\n\n${USAGE}`);
    return 2;
  }
  try {
    const run = await openRun(values.run!);
    const paths = await imagePaths(positionals);
    if (paths.length === 0) throw new Error(`No PNG or JPEG files in ${positionals.join(", ")}`);
    if (values.features) {
      await writeFeatures(run, paths, values.features, values.pool as "cls" | "mean", batch);
    } else {
      await printTopK(run, paths, Math.min(top, run.classes.length), batch, values.json);
    }
    return 0;
  } catch (error) {
    return failure(error);
  }
}

/** Calls `fn` on the images in chunks of `batch`, in order. */
async function inBatches(
  paths: readonly string[],
  batch: number,
  fn: (chunk: readonly string[], start: number) => Promise<void>,
): Promise<void> {
  for (let start = 0; start < paths.length; start += batch) {
    await fn(paths.slice(start, start + batch), start);
  }
}

async function printTopK(
  run: SavedRun,
  paths: readonly string[],
  k: number,
  batch: number,
  json: boolean,
): Promise<void> {
  const { model, params } = await loadRunClassifier(run);
  const rows: { image: string; top: { class: string; label: number; probability: number }[] }[] =
    [];
  await inBatches(paths, batch, async (chunk) => {
    const images = await readRunImages(chunk);
    const probs = softmax(model.apply(params, images), { axis: -1 });
    const values = await toArray(probs);
    dispose([images, probs]);
    const c = run.classes.length;
    chunk.forEach((image, i) => {
      const row = Array.from(values.subarray(i * c, (i + 1) * c));
      const order = row.map((_, j) => j).sort((a, b) => row[b] - row[a]).slice(0, k);
      rows.push({
        image,
        top: order.map((j) => ({ class: run.classes[j], label: j, probability: row[j] })),
      });
    });
  });
  dispose(params);
  if (json) {
    console.log(JSON.stringify(rows, null, 2));
    return;
  }
  for (const row of rows) {
    const best = row.top.map((t) => `${t.class} ${(100 * t.probability).toFixed(1)} %`);
    console.log(`${row.image}: ${best.join(", ")}`);
  }
}

async function writeFeatures(
  run: SavedRun,
  paths: readonly string[],
  out: string,
  pool: "cls" | "mean",
  batch: number,
): Promise<void> {
  const { model, params } = await loadRunBeit(run);
  const chunks: Float32Array[] = [];
  let dim = 0;
  await inBatches(paths, batch, async (chunk) => {
    const images = await readRunImages(chunk);
    const features = beitFeatures(model, params, images, pool);
    dim = features.shape[1];
    chunks.push(Float32Array.from(await toArray(features)));
    dispose([images, features]);
  });
  dispose(params);
  const all = new Float32Array(paths.length * dim);
  chunks.forEach((c, i) => all.set(c, i * batch * dim));
  if (out.endsWith(".npy")) {
    await Deno.writeFile(out, encodeNpy(all, [paths.length, dim]));
    const list = out.replace(/\.npy$/, ".txt");
    await Deno.writeTextFile(list, paths.join("\n") + "\n");
    console.log(`wrote ${out} (float32 [${paths.length}, ${dim}], ${pool}) and ${list}`);
  } else {
    await saveStateDict(out, { features: tensor(all, { shape: [paths.length, dim] }) }, {
      metadata: { images: JSON.stringify(paths), pool },
    });
    console.log(`wrote ${out} (features float32 [${paths.length}, ${dim}], ${pool})`);
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
