// `deno task tokenize (--run DIR | --checkpoint F [--config C.json]) [--json] [--out DIR] IMAGE...`
//
// Tokenizes images with a VQ-KD tokenizer: a run folder's (written by `deno task pretrain`),
// or a checkpoint in the official format with its config. Each image is read (PNG or
// JPEG), kept as is when it is already img_size × img_size, else resized on its shorter
// side to img_size·256/224 (bicubic) and centre-cropped to img_size, as the official
// test_get_code.py; then converted to the tokenizer's channels. --json prints
// {"tokens": [[...], ...]} (one row per image, row-major patches); --out writes a token
// map per image (each patch coloured by its code).

import { tensor, toArray } from "../tensor/mod.ts";
import { decodeImage, encodeImagePng, resizeAndCenterCrop } from "../data/image_folder.ts";
import { loadTokenizer } from "./evaluate.ts";
import { tokenMap } from "./report.ts";
import { loadRunTokenizer, openRun } from "../beit/saved_run.ts";
import { failure, parseFlags } from "../nn/io/cli.ts";

const USAGE =
  `Usage: deno task tokenize (--run DIR | --checkpoint FILE [--config CONFIG.json]) [--json] [--out DIR] IMAGE...

  --run DIR           a folder written by deno task pretrain: its tokenizer (DIR/vqkd.ckpt)
  --checkpoint FILE   VQ-KD weights with the official keys (.pth or .safetensors), with
                      --config; or a run's vqkd.ckpt (its run.json gives the config)
  --config FILE       the architecture as JSON (official constructor names)
  --json              print {"tokens": [[...], ...]} to stdout
  --out DIR           write DIR/<image name>.tokens.png, a token map per image
  -h, --help          show this help`;

/** The folder part of a path ("." for a bare file name). */
function folderOf(path: string): string {
  const cut = path.lastIndexOf("/");
  return cut < 0 ? "." : cut === 0 ? "/" : path.slice(0, cut);
}

/** Runs the CLI with the given arguments; returns the process exit code. */
export async function main(args: string[]): Promise<number> {
  const flags = parseFlags(
    args,
    {
      run: { type: "string" },
      checkpoint: { type: "string" },
      config: { type: "string" },
      json: { type: "boolean", default: false },
      out: { type: "string" },
    },
    USAGE,
    true,
  );
  if (typeof flags === "number") return flags;
  const { values, positionals } = flags;
  // A run's own checkpoint (tessella format) is read with the run's recipe.
  const runDir = values.run ??
    (values.checkpoint?.endsWith(".ckpt") && !values.config
      ? folderOf(values.checkpoint)
      : undefined);
  if (values.checkpoint?.endsWith(".ckpt") && !/(^|\/)vqkd\.ckpt$/.test(values.checkpoint)) {
    console.error(
      `Cannot use ${values.checkpoint}: of a run's checkpoints, vqkd.ckpt is the tokenizer`,
    );
    return 2;
  }
  if (
    positionals.length === 0 || (runDir === undefined && (!values.checkpoint || !values.config))
  ) {
    console.error(
      `Missing ${
        positionals.length === 0
          ? "images"
          : !values.checkpoint
          ? "--run or --checkpoint"
          : "--config"
      }.\n\n${USAGE}`,
    );
    return 2;
  }
  // One token map per image: two images with the same file name would write one file.
  const outputName = (path: string) => path.split("/").pop()!.replace(/\.[^.]+$/, "");
  if (values.out) {
    const seen = new Map<string, string>();
    for (const path of positionals) {
      const name = outputName(path);
      if (seen.has(name)) {
        console.error(
          `${seen.get(name)} and ${path} would both write ${values.out}/${name}.tokens.png: ` +
            `tokenize them into separate --out folders`,
        );
        return 2;
      }
      seen.set(name, path);
    }
  }
  try {
    let loaded;
    if (runDir !== undefined) {
      loaded = await loadRunTokenizer(await openRun(runDir));
    } else {
      let config: Record<string, unknown>;
      try {
        config = JSON.parse(await Deno.readTextFile(values.config!));
      } catch (error) {
        throw new Error(`Cannot read config ${values.config}: ${(error as Error).message}`);
      }
      loaded = await loadTokenizer(values.checkpoint!, config);
    }
    const { model, params, state } = loaded;
    const size = model.config.encoder.img_size as number ?? 224;
    const channels = (model.config.encoder.in_chans as number ?? 3) as 1 | 3;
    const rows: number[][] = [];
    for (const path of positionals) {
      let bytes: Uint8Array;
      try {
        bytes = await Deno.readFile(path);
      } catch (error) {
        throw new Error(`Cannot read image ${path}: ${(error as Error).message}`);
      }
      const image = resizeAndCenterCrop(decodeImage(bytes, path, channels), size);
      const x = tensor(image.data, { shape: [1, channels, size, size] });
      const tokens = Array.from(await toArray(model.apply(params, state, x).tokens));
      rows.push(tokens);
      if (values.out) {
        await Deno.mkdir(values.out, { recursive: true });
        await Deno.writeFile(
          `${values.out}/${outputName(path)}.tokens.png`,
          encodeImagePng(tokenMap(tokens, size / (model.config.encoder.patch_size as number))),
        );
      }
    }
    if (values.json) console.log(JSON.stringify({ tokens: rows }));
    else rows.forEach((row, i) => console.log(`${positionals[i]}: ${row.join(" ")}`));
    return 0;
  } catch (error) {
    return failure(error);
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
