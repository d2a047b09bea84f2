// WGSL matrix products, batched, reading both operands through strides.
//
// On llvmpipe (a CPU rasteriser: each invocation is a SIMD lane), kernels that keep a
// block of C in registers and read A and B straight from storage buffers beat classic
// shared-memory tiling: workgroup memory and barriers are emulated and cost more than
// the cache hits they buy. Each invocation here computes a TM × TN block of C, with B's
// row segment loaded once per k and reused for TM rows. bench/matmul_webgpu_bench.ts
// compares the variants.
//
// Parameter words: 0 M, 1 K, 2 N, 3 batch rank, 4 A offset, 5 B offset, 6 A row stride,
// 7 A k stride, 8 B k stride, 9 B column stride, 10–15 batch shape, 16–21 A batch
// strides, 22–27 B batch strides.

import { paramsBlock } from "./wgsl_common.ts";

/** Register-block sizes of a matmul kernel variant. */
export interface MatmulTile {
  /** Rows of C per invocation. */
  tm: number;
  /** Columns of C per invocation (a multiple of 4: vec4 accumulators). */
  tn: number;
  /** Whether B's columns are contiguous and N % 4 == 0 and offsets are aligned (vec4 loads). */
  vecB: boolean;
}

/** Workgroup shape: 8 × 8 invocations. */
export const MATMUL_WG = 8;

export function matmulSource(tile: MatmulTile): string {
  const { tm, tn, vecB } = tile;
  const vecs = tn / 4;
  const accDecl = Array.from({ length: tm * vecs }, (_, i) => `var acc${i} = vec4<f32>(0.0);`).join(
    "\n  ",
  );
  const bLoads = Array.from({ length: vecs }, (_, v) => {
    if (vecB) return `let b${v} = bv[(bBase + i32(k) * bk) / 4 + i32(cvec${v})];`;
    const cols = [0, 1, 2, 3].map((c) => `b[u32(bBase + i32(k) * bk + i32(col${v * 4 + c}) * bc)]`);
    return `let b${v} = vec4<f32>(${cols.join(", ")});`;
  }).join("\n      ");
  const fmas = Array.from({ length: tm }, (_, r) => {
    const a = `let a${r} = a[u32(aBase + i32(row${r}) * ar + i32(k) * ak)];`;
    const adds = Array.from(
      { length: vecs },
      (_, v) => `acc${r * vecs + v} = fma(vec4<f32>(a${r}), b${v}, acc${r * vecs + v});`,
    );
    return [a, ...adds].join(" ");
  }).join("\n      ");
  const rowDecl = Array.from({ length: tm }, (_, r) => `let row${r} = min(r0 + ${r}u, M - 1u);`)
    .join("\n  ");
  const colDecl = vecB
    ? Array.from({ length: vecs }, (_, v) => `let cvec${v} = min(c0 / 4u + ${v}u, N / 4u - 1u);`)
      .join("\n  ")
    : Array.from({ length: tn }, (_, c) => `let col${c} = min(c0 + ${c}u, N - 1u);`).join("\n  ");
  const stores = Array.from(
    { length: tm },
    (_, r) =>
      Array.from({ length: vecs }, (_, v) =>
        [0, 1, 2, 3].map((c) => {
          const col = `c0 + ${v * 4 + c}u`;
          return `if (r0 + ${r}u < M && ${col} < N) { out[outBase + (r0 + ${r}u) * N + ${col}] = acc${
            r * vecs + v
          }[${c}]; }`;
        }).join("\n  ")).join("\n  "),
  ).join("\n  ");
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> ${vecB ? "bv: array<vec4<f32>>" : "b: array<f32>"};
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
${paramsBlock(3)}

@compute @workgroup_size(${MATMUL_WG}, ${MATMUL_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let M = P(0u);
  let K = P(1u);
  let N = P(2u);
  // Offsets of this batch's matrices (batch index = workgroup z).
  var rem = wid.z;
  var aBase = Pi(4u);
  var bBase = Pi(5u);
  for (var d = i32(P(3u)) - 1; d >= 0; d--) {
    let size = P(10u + u32(d));
    let c = i32(rem % size);
    rem = rem / size;
    aBase += c * Pi(16u + u32(d));
    bBase += c * Pi(22u + u32(d));
  }
  let ar = Pi(6u);
  let ak = Pi(7u);
  let bk = Pi(8u);
  let bc = Pi(9u);
  let outBase = wid.z * M * N;
  let r0 = (wid.y * ${MATMUL_WG}u + lid.y) * ${tm}u;
  let c0 = (wid.x * ${MATMUL_WG}u + lid.x) * ${tn}u;
  // Out-of-range rows and columns read clamped (valid) addresses; their results are dropped.
  ${rowDecl}
  ${colDecl}
  ${accDecl}
  for (var k = 0u; k < K; k++) {
      ${bLoads}
      ${fmas}
  }
  ${stores}
}
`;
}
