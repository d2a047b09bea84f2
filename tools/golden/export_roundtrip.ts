// The Tessella half of the export round trip (tools/golden/export_roundtrip.py is the
// PyTorch half): exports a finished run with `exportOfficial`, then computes the run's
// models' outputs on the four official-fixture images and writes them, with the inputs,
// to OUT/tessella_outputs.safetensors.
//
//   deno run -A tools/golden/export_roundtrip.ts --run DIR [--out DIR/official]
//   /usr/bin/python3 tools/golden/export_roundtrip.py DIR/official

import { parseArgs } from "node:util";
import { saveStateDict, tensor } from "../../mod.ts";
import {
  exportOfficial,
  loadRunBeit,
  loadRunClassifier,
  loadRunTokenizer,
  openRun,
  readRunImages,
} from "../../beit/saved_run.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { run: { type: "string" }, out: { type: "string" } },
});
if (!values.run) throw new Error("Usage: export_roundtrip.ts --run DIR [--out DIR]");
const out = values.out ?? `${values.run}/official`;
const run = await openRun(values.run);
const files = await exportOfficial(run, out);
if (!files.finetuned) throw new Error(`${values.run} has no fine-tuned model to check`);

const paths = [0, 1, 2, 3].map((i) =>
  new URL(`../../tests/fixtures/official/img${i}.png`, import.meta.url).pathname
);
const images = await readRunImages(paths); // standardised, as the BEiT models take them
const images01 = await readRunImages(paths, { normalize: false }); // the tokenizer's input
// A fixed mask: every third patch of each image, shifted by the image's index.
const mask = [0, 1, 2, 3].map((b) => Array.from({ length: 49 }, (_, n) => (n + b) % 3 === 0));

const classifier = await loadRunClassifier(run);
const beit = await loadRunBeit(run);
const tokenizer = await loadRunTokenizer(run);
const pretrain = beit.model.apply(beit.params, images, { mask, allTokens: true });
await saveStateDict(`${out}/tessella_outputs.safetensors`, {
  images,
  images01,
  mask: tensor(mask, { dtype: "bool" }),
  classifier_logits: classifier.model.apply(classifier.params, images),
  pretrain_logits: pretrain.logits,
  pretrain_logits_cls_pt: pretrain.logitsClsPt,
  tokens: tokenizer.model.apply(tokenizer.params, tokenizer.state, images01).tokens,
});
console.log(`wrote ${Object.values(files).join(", ")} and ${out}/tessella_outputs.safetensors`);
