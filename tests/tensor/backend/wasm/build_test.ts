// The committed kernel bytes are what the kernel generators assemble to: a change to a
// `*_wat.ts` file without `deno run -A tools/wasm/build.ts` fails here.

import assert from "node:assert/strict";
import { assembleKernels, kernelsBytesSource } from "../../../../tools/wasm/assemble.ts";

Deno.test("kernels_bytes.ts holds the assembled kernel generators (run tools/wasm/build.ts)", async () => {
  const committed = await Deno.readTextFile(
    new URL("../../../../tensor/backend/wasm/kernels_bytes.ts", import.meta.url),
  );
  assert.ok(committed === kernelsBytesSource(await assembleKernels()), "kernels_bytes.ts is stale");
});
