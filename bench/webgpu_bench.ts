// WebGPU benchmarks beside the CPU backend: matmul GFLOP/s (512², 1024², the ViT shapes
// and batched attention products), elementwise and reduction GB/s, on the CPU and (when
// an adapter exists) WebGPU. Every measurement first checks its result against the CPU
// backend. (Training steps: steps_bench.ts; the CPU backend's own rows: cpu_bench.ts.) Matmuls are timed as 8 chained products with one wait at the end, median
// of 3 runs (WebGPU work is queued; the wait is what costs ~11 ms on llvmpipe), and on
// adapters with timestamp-query once more by the GPU's timestamps (kernel time only).
// On CPU adapters (llvmpipe), where WebGPU matmuls read their operands from textures, a
// column shows the storage-buffer kernels too.
//
//   deno task bench            (prints the tables; Deno.bench entries follow)

import * as T from "../mod.ts";
import { type GpuContext, isCpuAdapter, matmulTuning } from "../tensor/backend/webgpu/mod.ts";
import { check, gpuContext, median, sync } from "./_timing.ts";

const HAS_WEBGPU = await T.openBackend("webgpu").then(() => true, () => false);
const BACKENDS = HAS_WEBGPU ? ["cpu", "webgpu"] : ["cpu"];

interface MatmulCase {
  name: string;
  a: number[];
  b: number[];
  transposeB?: boolean;
}

const MATMULS: MatmulCase[] = [
  { name: "512²", a: [512, 512], b: [512, 512] },
  { name: "1024²", a: [1024, 1024], b: [1024, 1024] },
  { name: "ViT [4096,192]×[192,768]", a: [4096, 192], b: [192, 768] },
  { name: "ViT x·Wᵀ [3200,128]×[512,128]ᵀ", a: [3200, 128], b: [512, 128], transposeB: true },
  {
    name: "attention [128,50,64]×[128,50,64]ᵀ",
    a: [128, 50, 64],
    b: [128, 50, 64],
    transposeB: true,
  },
  { name: "attention [128,50,50]×[128,50,64]", a: [128, 50, 50], b: [128, 50, 64] },
];

/** GFLOP/s by the wall clock, and by timestamp queries (kernel time) where the adapter has them. */
async function benchMatmul(
  c: MatmulCase,
  backend: string,
): Promise<{ wall: number; kernel?: number }> {
  const a = await T.toBackend(T.normal(T.key(1), c.a, { backend: "cpu" }), backend);
  const b0 = await T.toBackend(T.normal(T.key(2), c.b, { backend: "cpu" }), backend);
  const b = c.transposeB ? T.matrixTranspose(b0) : b0;
  const cpu = T.matmul(
    await T.toBackend(a, "cpu"),
    await T.toBackend(b0, "cpu").then((t) => (c.transposeB ? T.matrixTranspose(t) : t)),
  );
  await check(`matmul ${c.name} on ${backend}`, T.matmul(a, b), cpu, 1e-3);
  const m = c.a[c.a.length - 2];
  const k = c.a[c.a.length - 1];
  const n = b.shape[b.rank - 1];
  const batch = c.a.slice(0, -2).reduce((x, y) => x * y, 1);
  const flops = 2 * batch * m * k * n;
  const chained = backend === "cpu" && flops > 1e9 ? 1 : 8;
  const runs: number[] = [];
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    const outs = [];
    for (let i = 0; i < chained; i++) outs.push(T.matmul(a, b));
    await sync(backend);
    runs.push((performance.now() - t0) / chained / 1000);
    T.dispose(outs);
  }
  let kernel: number | undefined;
  if (backend === "webgpu" && gpuContext().canTime) {
    // The same 8 chained products once more, timed by the GPU's own timestamps.
    gpuContext().startTiming();
    const outs = [];
    for (let i = 0; i < chained; i++) outs.push(T.matmul(a, b));
    kernel = flops / ((await gpuContext().stopTiming()) / chained) / 1e9;
    T.dispose(outs);
  }
  T.dispose([a, b0, cpu]);
  return { wall: flops / median(runs) / 1e9, kernel };
}

async function benchElementwise(
  backend: string,
): Promise<{ add: number; exp: number; sum: number }> {
  const n = 1 << 22; // 4M floats, 16 MB
  const x = await T.toBackend(T.normal(T.key(3), [n], { backend: "cpu" }), backend);
  const y = await T.toBackend(T.normal(T.key(4), [n], { backend: "cpu" }), backend);
  await check(
    `add on ${backend}`,
    T.add(x, y),
    T.add(await T.toBackend(x, "cpu"), await T.toBackend(y, "cpu")),
    1e-6,
  );
  const time = async (fn: () => T.Tensor, bytes: number) => {
    const runs: number[] = [];
    for (let r = 0; r < 3; r++) {
      const t0 = performance.now();
      const outs = [];
      for (let i = 0; i < 4; i++) outs.push(fn());
      await sync(backend);
      runs.push((performance.now() - t0) / 4 / 1000);
      T.dispose(outs);
    }
    return bytes / median(runs) / 1e9;
  };
  const result = {
    add: await time(() => T.add(x, y), 3 * 4 * n),
    exp: await time(() => T.exp(x), 2 * 4 * n),
    sum: await time(() => T.sum(x), 4 * n),
  };
  T.dispose([x, y]);
  return result;
}

const lines: string[] = [];
const adapter = HAS_WEBGPU
  ? (T.getBackend("webgpu") as unknown as { context: GpuContext }).context.adapterInfo.description
  : "none";
lines.push(`WebGPU adapter: ${adapter}`);
const timed = HAS_WEBGPU && gpuContext().canTime;
const bothPaths = HAS_WEBGPU && isCpuAdapter(gpuContext().adapterInfo);
const matmulColumns = [
  ...BACKENDS.map((b) => `${b} GFLOP/s`),
  ...(timed ? ["webgpu kernel GFLOP/s (timestamp-query)"] : []),
  ...(bothPaths ? ["webgpu GFLOP/s, storage-buffer operands"] : []),
];
lines.push("", `| matmul (float32) | ${matmulColumns.join(" | ")} |`);
lines.push("| --- | " + matmulColumns.map(() => "---:").join(" | ") + " |");
for (const c of MATMULS) {
  const rates = [];
  let kernel: number | undefined;
  for (const b of BACKENDS) {
    const r = await benchMatmul(c, b);
    rates.push(r.wall.toFixed(2));
    kernel ??= r.kernel;
  }
  if (timed) rates.push(kernel!.toFixed(2));
  if (bothPaths) {
    matmulTuning.path = "storage";
    rates.push((await benchMatmul(c, "webgpu")).wall.toFixed(2));
    matmulTuning.path = "auto";
  }
  lines.push(`| ${c.name} | ${rates.join(" | ")} |`);
}
lines.push("", "| 4M float32 elements | " + BACKENDS.map((b) => `${b} GB/s`).join(" | ") + " |");
lines.push("| --- | " + BACKENDS.map(() => "---:").join(" | ") + " |");
const ew = [];
for (const b of BACKENDS) ew.push(await benchElementwise(b));
for (const op of ["add", "exp", "sum"] as const) {
  lines.push(`| ${op} | ${ew.map((r) => r[op].toFixed(2)).join(" | ")} |`);
}
console.log(lines.join("\n"));

for (const backend of BACKENDS) {
  const a = await T.toBackend(T.normal(T.key(1), [512, 512], { backend: "cpu" }), backend);
  Deno.bench({
    name: `matmul 512² (${backend})`,
    group: "matmul 512",
    n: 5,
    warmup: 1,
    async fn() {
      const out = T.matmul(a, a);
      await T.toArray(T.slice(out, [[0, 1], [0, 1]]));
      T.dispose(out);
    },
  });
}
