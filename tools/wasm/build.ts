// Assembles the CPU backend's WebAssembly kernels (tensor/backend/wasm/module_wat.ts)
// into tensor/backend/wasm/kernels_bytes.ts: two variants, with relaxed-SIMD fused
// multiply-adds and without, base64-encoded. Needs the npm registry once (wabt); the
// generated file is committed, so nothing else does. tests/wasm/build_test.ts checks that
// the committed bytes are what the sources assemble to.
//
//   deno run --allow-read --allow-write tools/wasm/build.ts

import { assembleKernels, kernelsBytesSource } from "./assemble.ts";

const variants = await assembleKernels();
const target = new URL("../../tensor/backend/wasm/kernels_bytes.ts", import.meta.url);
await Deno.writeTextFile(target, kernelsBytesSource(variants));
console.log(`wrote ${variants.fma.length} + ${variants.plain.length} bytes`);
