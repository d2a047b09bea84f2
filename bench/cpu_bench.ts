// CPU backend benchmarks: the WebAssembly kernels on one thread and on all, beside the
// JavaScript oracle ("cpu-js"): matmul GFLOP/s (256², 512², 1024², the shapes of a ViT
// step), elementwise GB/s, and the time of one small op (what dispatch, views and the
// result's bookkeeping cost when there is almost no arithmetic). Every row first checks
// its result against the oracle. Printed as tables; `deno task bench` runs it.

import * as T from "../mod.ts";
import { check, secondsPerCall } from "./_timing.ts";

const THREADS = T.getNumThreads();
/** Columns: the CPU backend on 1 thread, on all threads, and the JavaScript oracle. */
const COLUMNS = [
  { label: "cpu, 1 thread", backend: "cpu", threads: 1 },
  { label: `cpu, ${THREADS} threads`, backend: "cpu", threads: THREADS },
  { label: "cpu-js", backend: "cpu-js", threads: 1 },
];

/** Runs `measure` once per column (with that column's backend and thread count). */
async function perColumn(measure: (backend: string) => Promise<number>): Promise<number[]> {
  const out: number[] = [];
  for (const column of COLUMNS) {
    T.setNumThreads(column.threads);
    out.push(await measure(column.backend));
  }
  T.setNumThreads(THREADS);
  return out;
}

const normal = (seed: number, shape: number[], backend: string) =>
  T.normal(T.key(seed), shape, { backend });

interface MatmulCase {
  name: string;
  a: number[];
  b: number[];
  /** The product's operands as views of the tensors made from `a` and `b`. */
  views?: (a: T.Tensor, b: T.Tensor) => [T.Tensor, T.Tensor];
}

const heads = (t: T.Tensor) => T.permute(T.reshape(t, [64, 50, 2, 64]), [0, 2, 1, 3]);
const MATMULS: MatmulCase[] = [
  { name: "256²", a: [256, 256], b: [256, 256] },
  { name: "512²", a: [512, 512], b: [512, 512] },
  { name: "1024²", a: [1024, 1024], b: [1024, 1024] },
  {
    name: "ViT fc1 x·Wᵀ [3200,128]·[512,128]ᵀ",
    a: [3200, 128],
    b: [512, 128],
    views: (a, b) => [a, T.matrixTranspose(b)],
  },
  {
    name: "ViT fc1 weight grad gᵀ·x [3200,512]ᵀ·[3200,128]",
    a: [3200, 512],
    b: [3200, 128],
    views: (a, b) => [T.matrixTranspose(a), b],
  },
  {
    name: "attention q·kᵀ, [B,T,H,d] views [64,50,2,64]",
    a: [64, 50, 128],
    b: [64, 50, 128],
    views: (a, b) => [heads(a), T.matrixTranspose(heads(b))],
  },
  {
    name: "attention p·v [64,2,50,50]·[64,2,50,64]",
    a: [64, 2, 50, 50],
    b: [64, 50, 128],
    views: (a, b) => [a, heads(b)],
  },
];

async function matmulRate(c: MatmulCase, backend: string): Promise<number> {
  const [a0, b0] = [normal(1, c.a, backend), normal(2, c.b, backend)];
  const [a, b] = c.views ? c.views(a0, b0) : [a0, b0];
  const [ja, jb] = [await T.toBackend(a0, "cpu-js"), await T.toBackend(b0, "cpu-js")];
  const [oa, ob] = c.views ? c.views(ja, jb) : [ja, jb];
  await check(`matmul ${c.name} on ${backend}`, T.matmul(a, b), T.matmul(oa, ob), 1e-3);
  const out = T.matmul(a, b);
  const flops = 2 * out.size * a.shape[a.rank - 1];
  const seconds = await secondsPerCall(backend, () => T.matmul(a, b), {
    repeat: flops > 1e9 ? 1 : 4,
  });
  T.dispose([out, a, b, a0, b0, oa, ob, ja, jb]);
  return flops / seconds / 1e9;
}

interface ElementwiseCase {
  name: string;
  /** Bytes moved per call (reads + writes), for GB/s. */
  bytes: number;
  op: (x: T.Tensor, y: T.Tensor) => T.Tensor;
}

const N = 1 << 22; // 4M float32 values, 16 MB
const ELEMENTWISE: ElementwiseCase[] = [
  { name: "add", bytes: 12 * N, op: T.add },
  {
    name: "mul by a row, [4096,1024]·[1024]",
    bytes: 8 * N,
    op: (x, y) => T.mul(x, T.slice(y, [[0, 1]])),
  },
  { name: "exp", bytes: 8 * N, op: (x) => T.exp(x) },
  { name: "gelu", bytes: 8 * N, op: (x) => T.gelu(x) },
  { name: "sum over rows, [4096,1024] → [4096]", bytes: 4 * N, op: (x) => T.sum(x, { axis: 1 }) },
  {
    name: "sum over columns, [4096,1024] → [1024]",
    bytes: 4 * N,
    op: (x) => T.sum(x, { axis: 0 }),
  },
  { name: "transposed copy", bytes: 8 * N, op: (x) => T.add(T.transpose(x), 0) },
  { name: "softmax over rows of 1024", bytes: 8 * N, op: (x) => T.softmax(x) },
  { name: "layerNorm over rows of 1024", bytes: 8 * N, op: (x) => T.layerNorm(x, null, null) },
];

async function elementwiseRate(c: ElementwiseCase, backend: string): Promise<number> {
  const [x, y] = [normal(3, [4096, 1024], backend), normal(4, [4096, 1024], backend)];
  const [jx, jy] = [await T.toBackend(x, "cpu-js"), await T.toBackend(y, "cpu-js")];
  await check(`${c.name} on ${backend}`, c.op(x, y), c.op(jx, jy), 1e-4);
  const seconds = await secondsPerCall(backend, () => c.op(x, y));
  T.dispose([x, y, jx, jy]);
  return c.bytes / seconds / 1e9;
}

/** Microseconds per op of `op` on tensors of `shape` (many calls per timing). */
async function microsecondsPerOp(shape: number[], backend: string): Promise<number> {
  const [x, y] = [normal(5, shape, backend), normal(6, shape, backend)];
  await check(
    `add ${shape} on ${backend}`,
    T.add(x, y),
    T.add(await T.toBackend(x, "cpu-js"), await T.toBackend(y, "cpu-js")),
    1e-6,
  );
  const seconds = await secondsPerCall(backend, () => T.add(x, y), { repeat: 200 });
  T.dispose([x, y]);
  return seconds * 1e6;
}

const lines: string[] = [];
const header = (first: string, unit: string) => [
  `| ${first} | ${COLUMNS.map((c) => `${c.label} ${unit}`).join(" | ")} |`,
  `| --- | ${COLUMNS.map(() => "---:").join(" | ")} |`,
];
lines.push(`CPU backend: WebAssembly SIMD, ${THREADS} threads by default.`, "");
lines.push(...header("matmul (float32)", "GFLOP/s"));
for (const c of MATMULS) {
  const rates = await perColumn((b) => matmulRate(c, b));
  lines.push(`| ${c.name} | ${rates.map((r) => r.toFixed(1)).join(" | ")} |`);
}
lines.push("", ...header("4M float32 elements", "GB/s"));
for (const c of ELEMENTWISE) {
  const rates = await perColumn((b) => elementwiseRate(c, b));
  lines.push(`| ${c.name} | ${rates.map((r) => r.toFixed(2)).join(" | ")} |`);
}
lines.push("", ...header("one op: add", "µs"));
for (const shape of [[4], [128, 50, 64]]) {
  const times = await perColumn((b) => microsecondsPerOp(shape, b));
  lines.push(`| add on [${shape.join(", ")}] | ${times.map((t) => t.toFixed(1)).join(" | ")} |`);
}
console.log(lines.join("\n"));

const a = T.normal(T.key(1), [512, 512]);
Deno.bench({
  name: "cpu matmul 512² float32 (WebAssembly, all threads)",
  n: 20,
  warmup: 3,
  fn: () => T.dispose(T.matmul(a, a)),
});
