// `deno task tokenize`: reproduces the official implementation's tokens from the image
// files, writes token maps, and reports bad input clearly.

import assert from "node:assert/strict";
import { main } from "../../vqkd/tokenize_cli.ts";
import { loadStateDict } from "../../nn/mod.ts";
import * as T from "../../mod.ts";

const dir = new URL("../fixtures/official/", import.meta.url).pathname;

/** The flags that tokenize with the official fixture's weights and `config`, then `rest`. */
const official = (config: string, ...rest: string[]) => [
  "--checkpoint",
  `${dir}vqkd_weights.safetensors`,
  "--config",
  config,
  ...rest,
];

async function capture(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const [log, error] = [console.log, console.error];
  console.log = (...a: unknown[]) => out.push(a.join(" "));
  console.error = (...a: unknown[]) => err.push(a.join(" "));
  try {
    const code = await main(args);
    return { code, out: out.join("\n"), err: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}

Deno.test("tokenize reproduces the official tokens of the fixture images (official-format checkpoint)", async () => {
  const images = [0, 1, 2, 3].map((i) => `${dir}img${i}.png`);
  const { code, out } = await capture(official(`${dir}vqkd_config.json`, "--json", ...images));
  assert.equal(code, 0);
  const tokens = JSON.parse(out).tokens as number[][];
  const expected = T.toArraySync(
    (await loadStateDict(`${dir}vqkd_eval.safetensors`)).get("tokens")!,
  );
  assert.deepEqual(tokens.flat(), Array.from(expected));
});

Deno.test("tokenize --out writes a token map per image", async () => {
  const out = await Deno.makeTempDir();
  const { code } = await capture(
    official(`${dir}vqkd_config.json`, "--out", out, `${dir}img0.png`),
  );
  assert.equal(code, 0);
  const png = await Deno.readFile(`${out}/img0.tokens.png`);
  assert.deepEqual(Array.from(png.subarray(1, 4)), [0x50, 0x4e, 0x47]);
  await Deno.remove(out, { recursive: true });
});

Deno.test("tokenize explains bad flags, unreadable images and checkpoints that do not fit", async () => {
  const missing = await capture(["--config", `${dir}vqkd_config.json`, `${dir}img0.png`]);
  assert.equal(missing.code, 2);
  assert.match(missing.err, /Missing --run or --checkpoint/);
  assert.match(missing.err, /Usage: deno task tokenize/);
  const unknown = await capture(["--frobnicate"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.err, /Unknown option '--frobnicate'/);
  const noImage = await capture(official(`${dir}vqkd_config.json`, `${dir}nope.png`));
  assert.equal(noImage.code, 2); // bad input
  assert.match(noImage.err, /Cannot read image .*nope\.png/);
  const tmp = await Deno.makeTempFile({ suffix: ".json" });
  const config = JSON.parse(await Deno.readTextFile(`${dir}vqkd_config.json`));
  config.n_embed = 128; // the checkpoint has 96 codes
  await Deno.writeTextFile(tmp, JSON.stringify(config));
  const mismatch = await capture(official(tmp, `${dir}img0.png`));
  assert.equal(mismatch.code, 2); // a checkpoint that does not fit its config is bad input
  assert.match(
    mismatch.err,
    /shape mismatch: quantize\.embedding\.weight expects \[128,8\], found \[96,8\]/,
  );
  const notImage = await capture(official(`${dir}vqkd_config.json`, `${dir}vqkd_config.json`));
  assert.match(notImage.err, /Cannot decode image .*vqkd_config\.json/);
  await Deno.remove(tmp);
});
