// `deno task web:test [--run DIR] [--screenshot FILE]`: the browser demo, end to end, in
// headless Chromium (Debian's `chromium`, driven over the DevTools protocol by
// puppeteer-core). It serves the page, lets it load the run's models, runs it on test
// images with a fixed mask, and checks that the page's tokens, mask, predicted codes (both
// branches) and class probabilities equal those of the same code run here in Deno on the
// same weights. It then saves a screenshot of the page (docs/demo.png by default).
//
// Chromium is asked for WebGPU (on a software adapter, SwiftShader over Vulkan); when it
// gives none, the page runs on the CPU backend, and the test says which it checked.
// Exits 0 when everything matches, 1 otherwise, 2 when Chromium or the bundle is missing.

import { parseArgs } from "node:util";
import puppeteer from "puppeteer-core";
import { useBackend } from "../../tensor/mod.ts";
import { gunzip } from "../../data/idx.ts";
import { type DemoResult, idxImage, loadDemoModels, runDemo } from "../../web/demo_core.ts";
import { serveDemo } from "./serve.ts";

/** The page's API (web/demo.ts), as the browser sees it. */
declare global {
  var tessella: {
    ready: Promise<string>;
    show(index: number, numMasked: number, seed: number): Promise<DemoResult>;
  };
}

const root = new URL("../../", import.meta.url).pathname;
const { values } = parseArgs({
  args: Deno.args,
  options: {
    run: { type: "string" },
    screenshot: { type: "string", default: `${root}docs/demo.png` },
    chromium: { type: "string", default: "/usr/bin/chromium" },
  },
});
const run = values.run ?? `${root}web/run`;
for (
  const [path, hint] of [
    [values.chromium, "install Debian's chromium package (apt-get install chromium)"],
    [`${root}web/dist/demo.js`, "run `deno task web:build` first"],
  ] as const
) {
  if (!(await Deno.stat(path).then(() => true, () => false))) {
    console.error(`${path} is missing: ${hint}`);
    Deno.exit(2);
  }
}

// The cases: test images, each with a mask of 20 of the 49 patches from a fixed seed.
const CASES = [{ index: 0, seed: 1 }, { index: 1, seed: 2 }, { index: 7, seed: 3 }];
const NUM_MASKED = 20;

// What Deno computes with the same code and weights.
await useBackend("cpu");
const models = await loadDemoModels((name) => Deno.readFile(`${run}/${name}`), "cpu");
const images = await gunzip(
  await Deno.readFile(`${root}data/fashion_mnist/t10k-images-idx3-ubyte.gz`),
);
const expected: DemoResult[] = [];
for (const c of CASES) {
  expected.push(
    await runDemo(models, idxImage(images, c.index), { numMasked: NUM_MASKED, seed: c.seed }),
  );
}

const { server, url } = serveDemo({ run, port: 0 });
const browser = await puppeteer.launch({
  executablePath: values.chromium,
  headless: true,
  args: [
    "--no-sandbox",
    "--enable-unsafe-webgpu",
    "--enable-features=Vulkan",
    "--use-vulkan=swiftshader",
    "--use-webgpu-adapter=swiftshader",
    "--ignore-gpu-blocklist",
  ],
});
let failures = 0;
/** Loads the page at `address` and checks every case against Deno's results. */
async function checkPage(address: string, screenshot: boolean): Promise<void> {
  const page = await browser.newPage();
  await page.setViewport({ width: 1100, height: 1000 });
  const messages: string[] = [];
  page.on("console", (m) => messages.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => messages.push(`page error: ${(e as Error).message}`));
  await page.goto(address, { waitUntil: "load" });
  const backend = await page.evaluate(() => globalThis.tessella.ready).catch((error) => {
    console.error(`The page did not start: ${error}\n${messages.join("\n")}`);
    Deno.exit(1);
  });
  console.log(`page backend: ${backend}`);
  if (address.endsWith("?backend=cpu") && backend !== "cpu") {
    console.error(`asked for the CPU backend, the page runs on ${backend}`);
    failures++;
  }
  const close = (a: number, b: number) => Math.abs(a - b) <= 1e-5 + 1e-4 * Math.abs(b);
  for (const [i, c] of CASES.entries()) {
    const got = await page.evaluate(
      (index, n, seed) => globalThis.tessella.show(index, n, seed),
      c.index,
      NUM_MASKED,
      c.seed,
    ) as DemoResult;
    const want = expected[i];
    const checks: [string, boolean][] = [
      ["tokens", JSON.stringify(got.tokens) === JSON.stringify(want.tokens)],
      ["mask", JSON.stringify(got.mask) === JSON.stringify(want.mask)],
      ["predicted (main)", JSON.stringify(got.predicted) === JSON.stringify(want.predicted)],
      [
        "predicted (bottleneck)",
        JSON.stringify(got.predictedClsPt) === JSON.stringify(want.predictedClsPt),
      ],
      ["class probabilities", got.classProbs.every((p, k) => close(p, want.classProbs[k]))],
    ];
    const bad = checks.filter(([, ok]) => !ok).map(([name]) => name);
    failures += bad.length;
    const top = want.classProbs.indexOf(Math.max(...want.classProbs));
    console.log(
      `image ${c.index}, mask seed ${c.seed}: ${
        bad.length ? `MISMATCH in ${bad.join(", ")}` : "page = Deno"
      }` +
        ` (masked codes right: main ${(100 * want.accuracy.main).toFixed(0)} %, bottleneck ` +
        `${(100 * want.accuracy.bottleneck).toFixed(0)} %; class ${want.classes[top]})`,
    );
  }
  if (screenshot) {
    // The screenshot shows the first case.
    await page.evaluate(
      (index, n, seed) => globalThis.tessella.show(index, n, seed),
      CASES[0].index,
      NUM_MASKED,
      CASES[0].seed,
    );
    await page.screenshot({ path: values.screenshot, fullPage: true });
    console.log(`screenshot: ${values.screenshot}`);
  }
  if (messages.some((m) => m.startsWith("page error") || m.startsWith("error"))) {
    console.error(messages.join("\n"));
    failures++;
  }
  await page.close();
}

try {
  const address = await url;
  await checkPage(address, true);
  // The CPU backend in a page that is not cross-origin isolated (no SharedArrayBuffer).
  await checkPage(`${address}?backend=cpu`, false);
} finally {
  await browser.close();
  await server.shutdown();
}
console.log(failures === 0 ? "web:test passed" : `web:test failed: ${failures} mismatches`);
Deno.exit(failures === 0 ? 0 : 1);
