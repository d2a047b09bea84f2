// `deno task export --run DIR [--to official] [--out DIR]`
//
// Writes a finished run's models as `.pth` files for the official BEiT v2 code (PyTorch,
// many GPUs): the VQ-KD tokenizer, the pretrained BEiT v2 model and the fine-tuned
// classifier, each `{"model": state dict}` with the official key names, and each model's
// constructor arguments as JSON beside it.

import { exportOfficial, openRun } from "./saved_run.ts";
import { failure, parseFlags } from "../nn/io/cli.ts";

const USAGE = `Usage: deno task export --run DIR [--to official] [--out DIR]

  --run DIR     a folder written by deno task pretrain
  --to FORMAT   official (the only format: .pth files the official scripts load)
  --out DIR     where to write (default DIR/official)
  -h, --help    show this help`;

/** Runs the CLI with the given arguments; returns the process exit code. */
export async function main(args: string[]): Promise<number> {
  const flags = parseFlags(args, {
    run: { type: "string" },
    to: { type: "string", default: "official" },
    out: { type: "string" },
  }, USAGE);
  if (typeof flags === "number") return flags;
  const { values } = flags;
  if (!values.run || values.to !== "official") {
    console.error(
      `${!values.run ? "Missing --run" : `Unknown format ${values.to}`}.\n\n${USAGE}`,
    );
    return 2;
  }
  try {
    const out = values.out ?? `${values.run.replace(/\/$/, "")}/official`;
    const files = await exportOfficial(await openRun(values.run), out);
    console.log(`tokenizer:        ${files.tokenizer} (config ${out}/vqkd.json)`);
    console.log(`pretrained BEiT:  ${files.pretrained} (config ${out}/beit_pretrain.json)`);
    if (files.finetuned) {
      console.log(`fine-tuned:       ${files.finetuned} (config ${out}/beit_finetuned.json)`);
    } else {
      console.log("fine-tuned:       none (the run has no finetuned.ckpt)");
    }
    console.log(
      "\nIn the official code: run_beitv2_pretraining.py --tokenizer_weight " +
        `${files.tokenizer}; run_class_finetuning.py --finetune ${files.pretrained} ` +
        "(or --resume with the fine-tuned file); the JSON files give each model's " +
        "constructor arguments.",
    );
    return 0;
  } catch (error) {
    return failure(error);
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
