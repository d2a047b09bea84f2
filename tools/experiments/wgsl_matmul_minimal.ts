// A control for the WebGPU matmul kernels: the textbook register-blocked kernel,
// written against raw WebGPU with nothing of Tessella in between. Each invocation keeps a
// TM × TN block of C in vec4 accumulators and reads A (row-major, vec4 along k) and B
// (row-major, vec4 along n) either straight from storage buffers or, in the same layout,
// from rgba32float textures (one texel = 4 consecutive floats of a row). The kernels are
// otherwise identical, so the comparison isolates how operands are read.
//
// On llvmpipe the texture variants are several times faster: llvmpipe loads from a storage
// buffer lane by lane behind a branch on each lane's execution mask, while a texel fetch
// goes through its sampler code. Tessella's matmul takes the texture path on such adapters
// (tensor/backend/webgpu/matmul_wgsl.ts).
//
//   deno run -A tools/experiments/wgsl_matmul_minimal.ts      (1024², C = A·B, fp32)
//
// Prints GFLOP/s per variant: wall time of 4 chained products after a warm-up, one
// submission, one wait; the result is checked against a CPU product on a few entries.

const N = 1024;
const adapter = await navigator.gpu?.requestAdapter();
if (!adapter) throw new Error("No WebGPU adapter (on Linux: apt-get install mesa-vulkan-drivers)");
const device = await adapter.requestDevice();
console.log(`adapter: ${adapter.info.description || adapter.info.vendor}`);

function source(tm: number, tn: number, wgx: number, wgy: number, texture: boolean): string {
  const rows = Array.from({ length: tm }, (_, i) => i);
  const quads = Array.from({ length: tn / 4 }, (_, i) => i);
  const each = <T>(xs: number[], f: (x: number) => T[]) => xs.flatMap(f);
  const loadA = (r: number) =>
    texture ? `textureLoad(a, vec2<u32>(k, r0 + ${r}u), 0)` : `a[(r0 + ${r}u) * kq + k]`;
  const loadB = (kk: number, q: number) =>
    texture
      ? `textureLoad(b, vec2<u32>(q0 + ${q}u, 4u * k + ${kk}u), 0)`
      : `b[(4u * k + ${kk}u) * nq + q0 + ${q}u]`;
  const operands = texture
    ? `@group(0) @binding(0) var a: texture_2d<f32>;
@group(0) @binding(1) var b: texture_2d<f32>;`
    : `@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;`;
  return /* wgsl */ `
${operands}
@group(0) @binding(2) var<storage, read_write> c: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> dims: vec4<u32>; // N, K

@compute @workgroup_size(${wgx}, ${wgy})
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let r0 = g.y * ${tm}u;
  let q0 = g.x * ${tn / 4}u;
  let nq = dims.x / 4u;
  let kq = dims.y / 4u;
  ${each(rows, (r) => quads.map((q) => `var acc${r}_${q} = vec4<f32>(0.0);`)).join("\n  ")}
  for (var k = 0u; k < kq; k++) {
    ${rows.map((r) => `let a${r} = ${loadA(r)};`).join("\n    ")}
    ${
    each([0, 1, 2, 3], (kk) => quads.map((q) => `let b${kk}_${q} = ${loadB(kk, q)};`)).join(
      "\n    ",
    )
  }
    ${
    each([0, 1, 2, 3], (kk) =>
      each(rows, (r) =>
        quads.map((q) =>
          `acc${r}_${q} = fma(vec4<f32>(a${r}[${kk}]), b${kk}_${q}, acc${r}_${q});`
        ))).join("\n    ")
  }
  }
  ${
    each(rows, (r) => quads.map((q) => `c[(r0 + ${r}u) * nq + q0 + ${q}u] = acc${r}_${q};`)).join(
      "\n  ",
    )
  }
}`;
}

const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
const [A, B, C] = [0, 1, 2].map(() => device.createBuffer({ size: N * N * 4, usage }));
const dims = device.createBuffer({
  size: 16,
  usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
});
const x = Float32Array.from({ length: N * N }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
const y = Float32Array.from({ length: N * N }, (_, i) => ((i * 104729) % 1000) / 1000 - 0.5);
device.queue.writeBuffer(A, 0, x);
device.queue.writeBuffer(B, 0, y);
device.queue.writeBuffer(dims, 0, new Uint32Array([N, N, 0, 0]));
const packed = (data: Float32Array<ArrayBuffer>) => {
  const texture = device.createTexture({
    size: [N / 4, N],
    format: "rgba32float",
    usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST,
  });
  device.queue.writeTexture({ texture }, data, { bytesPerRow: N * 4 }, [N / 4, N]);
  return texture.createView();
};
const [TA, TB] = [packed(x), packed(y)];
const readback = device.createBuffer({
  size: N * N * 4,
  usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
});

const blocks: [number, number, number, number][] = [
  [4, 4, 8, 8],
  [8, 8, 8, 8],
  [8, 8, 16, 4],
  [8, 16, 8, 8],
  [16, 8, 8, 8],
  [16, 16, 8, 8],
];
const variants = [false, true].flatMap((texture) =>
  blocks.map(([tm, tn, wgx, wgy]) => ({ tm, tn, wgx, wgy, texture }))
);
for (const { tm, tn, wgx, wgy, texture } of variants) {
  device.pushErrorScope("validation");
  const module = device.createShaderModule({ code: source(tm, tn, wgx, wgy, texture) });
  const pipeline = device.createComputePipeline({
    layout: "auto",
    compute: { module, entryPoint: "main" },
  });
  const bind = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [
      { binding: 0, resource: texture ? TA : { buffer: A } },
      { binding: 1, resource: texture ? TB : { buffer: B } },
      { binding: 2, resource: { buffer: C } },
      { binding: 3, resource: { buffer: dims } },
    ],
  });
  const run = async (times: number) => {
    const encoder = device.createCommandEncoder();
    for (let i = 0; i < times; i++) {
      const pass = encoder.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bind);
      pass.dispatchWorkgroups(N / tn / wgx, N / tm / wgy);
      pass.end();
    }
    device.queue.submit([encoder.finish()]);
    await device.queue.onSubmittedWorkDone();
  };
  await run(1);
  const error = await device.popErrorScope();
  if (error) throw new Error(`${tm}x${tn}: ${error.message}`);
  const t0 = performance.now();
  await run(4);
  const seconds = (performance.now() - t0) / 4 / 1000;
  // Check a few entries of C against the CPU.
  const encoder = device.createCommandEncoder();
  encoder.copyBufferToBuffer(C, 0, readback, 0, N * N * 4);
  device.queue.submit([encoder.finish()]);
  await readback.mapAsync(GPUMapMode.READ);
  const c = new Float32Array(readback.getMappedRange().slice(0));
  readback.unmap();
  for (const [i, j] of [[0, 0], [N - 1, N - 1], [123, 987], [777, 5]]) {
    let want = 0;
    for (let k = 0; k < N; k++) want += x[i * N + k] * y[k * N + j];
    if (Math.abs(c[i * N + j] - want) > 1e-3 + 1e-4 * Math.abs(want)) {
      throw new Error(`${tm}x${tn}: C[${i},${j}] = ${c[i * N + j]}, want ${want}`);
    }
  }
  console.log(
    `${texture ? "textures" : "storage buffers"}, block ${tm}×${tn}, workgroup ${wgx}×${wgy}: ${
      (2 * N ** 3 / seconds / 1e9).toFixed(2)
    } GFLOP/s`,
  );
}
