// WGSL matrix products, batched, reading both operands through strides. Two families:
// the storage-buffer kernels just below (any adapter), and the texture path at the end of
// the file (CPU adapters, where it is several times faster; mod.ts chooses).
//
// On llvmpipe (a CPU rasteriser: each invocation is a SIMD lane), kernels that keep a
// block of C in registers beat classic shared-memory tiling: workgroup memory and
// barriers are emulated and cost more than the cache hits they buy. Each invocation here
// computes a TM × TN block of C; per step of k it loads TM values of A and TN values of B
// and does TM·TN multiply-adds.
//
// Loads are vec4 wherever the layout allows, chosen per operand:
//   A "k4": rows contiguous along k (x in x·Wᵀ)      A "m4": columns contiguous along m (Aᵀ views)
//   B "n4": rows contiguous along n (plain B)        B "k4": columns contiguous along k (Wᵀ views)
//   "s": scalar loads through the strides (anything else)
// The accumulators follow the loads: vec4 over columns when B is n4, vec4 over rows when
// A is m4, scalar dot products of two k4 vectors when both are k4.
// bench/webgpu_bench.ts measures them; tools/experiments/wgsl_matmul_minimal.ts compares block
// sizes of a plain kernel on raw WebGPU, reading storage buffers or textures.

import { TEXTURE_ROW } from "./context.ts";
import { axes, paramLayout } from "./params.ts";
import { paramsBlock, textureInput } from "./wgsl_common.ts";

/** The most batch axes a product addresses (after collapsing). */
export const MATMUL_MAX_BATCH_RANK = 6;

/**
 * The storage kernels' parameters: sizes, the batch's rank and shape, and each operand's
 * offset, row and column strides and batch strides (a: [M, K], b: [K, N]).
 */
export const MATMUL_PARAMS = paramLayout({
  m: "u32",
  k: "u32",
  n: "u32",
  batchRank: "u32",
  aOffset: "i32",
  bOffset: "i32",
  aRow: "i32",
  aCol: "i32",
  bRow: "i32",
  bCol: "i32",
  batchShape: ["u32", MATMUL_MAX_BATCH_RANK],
  aBatch: ["i32", MATMUL_MAX_BATCH_RANK],
  bBatch: ["i32", MATMUL_MAX_BATCH_RANK],
  biasOffset: "u32",
});

export type AMode = "k4" | "m4" | "s";
export type BMode = "n4" | "k4" | "s";

/** A matmul kernel variant. */
export interface MatmulTile {
  /** Rows of C per invocation (a multiple of 4). */
  tm: number;
  /** Columns of C per invocation (a multiple of 4). */
  tn: number;
  a: AMode;
  b: BMode;
  /** Adds a bias `[N]` to every row (parameter word 28: its offset). */
  bias?: boolean;
}

/** Workgroup shape: 8 × 8 invocations. */
export const MATMUL_WG = 8;

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

export function matmulSource(tile: MatmulTile): string {
  const { tm, tn, a, b } = tile;
  const kStep = a === "k4" || b === "k4" ? 4 : 1;
  const acc: "cols" | "rows" | "dot" = a === "k4" && b === "k4"
    ? "dot"
    : b === "n4"
    ? "cols"
    : a === "m4"
    ? "rows"
    : "cols";

  // Per-invocation bases, hoisted out of the k loop.
  const setup: string[] = [];
  for (const r of range(tm)) setup.push(`let row${r} = min(r0 + ${r}u, M - 1u);`);
  for (const c of range(tn)) setup.push(`let col${c} = min(c0 + ${c}u, N - 1u);`);
  if (a === "k4" || a === "s") {
    for (const r of range(tm)) setup.push(`let aRow${r} = aBase + i32(row${r}) * ar;`);
  }
  if (a === "m4") {
    for (const g of range(tm / 4)) {
      setup.push(`let aGrp${g} = aBase + i32(min(r0 + ${4 * g}u, M - 4u));`);
    }
  }
  if (b === "k4" || b === "s") {
    for (const c of range(tn)) setup.push(`let bCol${c} = bBase + i32(col${c}) * bc;`);
  }
  if (b === "n4") {
    for (const g of range(tn / 4)) {
      setup.push(`let bGrp${g} = bBase + i32(min(c0 + ${4 * g}u, N - 4u));`);
    }
  }

  // Accumulators.
  const accNames: string[] = [];
  if (acc === "cols") {
    for (const r of range(tm)) for (const g of range(tn / 4)) accNames.push(`acc${r}_${g}`);
  }
  if (acc === "rows") {
    for (const g of range(tm / 4)) for (const c of range(tn)) accNames.push(`acc${g}_${c}`);
  }
  if (acc === "dot") {
    for (const r of range(tm)) for (const c of range(tn)) accNames.push(`acc${r}_${c}`);
  }
  const accDecl = accNames.map((n) => `var ${n} = ${acc === "dot" ? "0.0" : "vec4<f32>(0.0)"};`)
    .join("\n  ");

  // Loads for one k step (k is the first k of the step).
  const loads: string[] = [];
  if (a === "k4") {
    for (const r of range(tm)) loads.push(`let ak${r} = a4[(aRow${r} + i32(k)) / 4];`);
  }
  if (a === "m4") {
    for (const kk of range(kStep)) {
      for (const g of range(tm / 4)) {
        loads.push(`let am${g}_${kk} = a4[(aGrp${g} + i32(k + ${kk}u) * ak) / 4];`);
      }
    }
  }
  if (a === "s") {
    for (const kk of range(kStep)) {
      for (const r of range(tm)) {
        loads.push(`let as${r}_${kk} = a1[aRow${r} + i32(k + ${kk}u) * ak];`);
      }
    }
  }
  if (b === "k4") {
    for (const c of range(tn)) loads.push(`let bk${c} = b4[(bCol${c} + i32(k)) / 4];`);
  }
  if (b === "n4") {
    for (const kk of range(kStep)) {
      for (const g of range(tn / 4)) {
        loads.push(`let bn${kk}_${g} = b4[(bGrp${g} + i32(k + ${kk}u) * bk) / 4];`);
      }
    }
  }
  if (b === "s") {
    for (const kk of range(kStep)) {
      for (const c of range(tn)) {
        loads.push(`let bs${kk}_${c} = b1[bCol${c} + i32(k + ${kk}u) * bk];`);
      }
    }
  }

  // Scalar value of A at (row r, k step kk) and of B at (kk, column c).
  const aAt = (r: number, kk: number) =>
    a === "k4"
      ? `ak${r}[${kk}]`
      : a === "m4"
      ? `am${Math.floor(r / 4)}_${kk}[${r % 4}]`
      : `as${r}_${kk}`;
  const bAt = (kk: number, c: number) =>
    b === "k4"
      ? `bk${c}[${kk}]`
      : b === "n4"
      ? `bn${kk}_${Math.floor(c / 4)}[${c % 4}]`
      : `bs${kk}_${c}`;
  const bVec = (kk: number, g: number) =>
    b === "n4"
      ? `bn${kk}_${g}`
      : `vec4<f32>(${range(4).map((j) => bAt(kk, 4 * g + j)).join(", ")})`;
  const aVec = (kk: number, g: number) =>
    a === "m4"
      ? `am${g}_${kk}`
      : `vec4<f32>(${range(4).map((j) => aAt(4 * g + j, kk)).join(", ")})`;

  const fmas: string[] = [];
  if (acc === "dot") {
    for (const r of range(tm)) {
      for (const c of range(tn)) fmas.push(`acc${r}_${c} += dot(ak${r}, bk${c});`);
    }
  } else {
    for (const kk of range(kStep)) {
      if (acc === "cols") {
        for (const g of range(tn / 4)) {
          const bv = `bv${kk}_${g}`;
          fmas.push(`let ${bv} = ${bVec(kk, g)};`);
          for (const r of range(tm)) {
            fmas.push(`acc${r}_${g} = fma(vec4<f32>(${aAt(r, kk)}), ${bv}, acc${r}_${g});`);
          }
        }
      } else {
        for (const g of range(tm / 4)) {
          const av = `av${kk}_${g}`;
          fmas.push(`let ${av} = ${aVec(kk, g)};`);
          for (const c of range(tn)) {
            fmas.push(`acc${g}_${c} = fma(${av}, vec4<f32>(${bAt(kk, c)}), acc${g}_${c});`);
          }
        }
      }
    }
  }

  // Stores, dropping rows and columns past the edges.
  const stores: string[] = [];
  for (const r of range(tm)) {
    for (const c of range(tn)) {
      const value = acc === "cols"
        ? `acc${r}_${Math.floor(c / 4)}[${c % 4}]`
        : acc === "rows"
        ? `acc${Math.floor(r / 4)}_${c}[${r % 4}]`
        : `acc${r}_${c}`;
      const biased = tile.bias ? ` + bias[${MATMUL_PARAMS.read("biasOffset")} + c0 + ${c}u]` : "";
      stores.push(
        `if (r0 + ${r}u < M && c0 + ${c}u < N) { out[outBase + (r0 + ${r}u) * N + c0 + ${c}u] = ${value}${biased}; }`,
      );
    }
  }

  const p = MATMUL_PARAMS;
  const aDecl = a === "s" ? "a1: array<f32>" : "a4: array<vec4<f32>>";
  const bDecl = b === "s" ? "b1: array<f32>" : "b4: array<vec4<f32>>";
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read> ${aDecl};
@group(0) @binding(1) var<storage, read> ${bDecl};
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
${tile.bias ? "@group(0) @binding(3) var<storage, read> bias: array<f32>;" : ""}
${paramsBlock(tile.bias ? 4 : 3)}

@compute @workgroup_size(${MATMUL_WG}, ${MATMUL_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let M = ${p.read("m")};
  let K = ${p.read("k")};
  let N = ${p.read("n")};
  // Offsets of this batch's matrices (batch index = workgroup z).
  var rem = wid.z;
  var aBase = ${p.read("aOffset")};
  var bBase = ${p.read("bOffset")};
  for (var d = i32(${p.read("batchRank")}) - 1; d >= 0; d--) {
    let size = ${p.read("batchShape", "u32(d)")};
    let i = i32(rem % size);
    rem = rem / size;
    aBase += i * ${p.read("aBatch", "u32(d)")};
    bBase += i * ${p.read("bBatch", "u32(d)")};
  }
  let ar = ${p.read("aRow")};
  let ak = ${p.read("aCol")};
  let bk = ${p.read("bRow")};
  let bc = ${p.read("bCol")};
  let outBase = wid.z * M * N;
  let r0 = (wid.y * ${MATMUL_WG}u + lid.y) * ${tm}u;
  let c0 = (wid.x * ${MATMUL_WG}u + lid.x) * ${tn}u;
  // Out-of-range rows and columns read clamped (valid) addresses; their results are dropped.
  ${setup.join("\n  ")}
  ${accDecl}
  for (var k = 0u; k < K; k += ${kStep}u) {
    ${loads.join("\n    ")}
    ${fmas.join("\n    ")}
  }
  ${stores.join("\n  ")}
}
`;
}

// ---------------------------------------------------------------------------------------
// The texture path, for CPU adapters (llvmpipe).
//
// llvmpipe loads from a storage buffer one SIMD lane at a time, each behind a branch on the
// lane's execution mask, so a storage load costs tens of instructions while a multiply-add
// of eight lanes costs one. Texel fetches go through its sampler code instead, which loads
// a whole rgba32f texel per lane without that branch: the same register-blocked kernel is
// several times faster when it reads A and B from textures
// (tools/experiments/wgsl_matmul_minimal.ts compares both).
//
// So on such adapters the kernel below reads texels, one texel = 4 consecutive values,
// addressed linearly as GpuContext.textureOf lays out a buffer (texel t at column
// t mod TEXTURE_ROW of row ⌊t / TEXTURE_ROW⌋). An operand whose rows (or, transposed,
// whose columns) are contiguous and 4-aligned is read straight from a texture copy of its
// buffer (a copy command, memcpy speed); any other (odd sizes, several batch axes) is
// first packed into the natural layout by a small kernel that reads through the strides.

/**
 * The pack kernel's parameters: the operand's rows R and columns C, its offset and strides,
 * the rows of all batches together, and the batch's rank, shape and strides (rank 0 for an
 * operand shared by every batch).
 */
export const PACK_PARAMS = paramLayout({
  rows: "u32",
  cols: "u32",
  batchRank: "u32",
  offset: "i32",
  rowStride: "i32",
  colStride: "i32",
  packedRows: "u32",
  ...axes("batch", MATMUL_MAX_BATCH_RANK),
});

/** Packs a strided [batch…, R, C] view into rows of ⌈C/4⌉ texels (see above). */
export function matmulPackSource(): string {
  const p = PACK_PARAMS;
  return /* wgsl */ `
${textureInput("src", 0)}
@group(0) @binding(1) var dst: texture_storage_2d<rgba32float, write>;
${paramsBlock(2)}

@compute @workgroup_size(${MATMUL_WG}, ${MATMUL_WG})
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let R = ${p.read("rows")};
  let C = ${p.read("cols")};
  let rowTexels = (C + 3u) / 4u;
  if (g.x >= rowTexels || g.y >= ${p.read("packedRows")}) { return; }
  var rem = g.y / R;
  var base = ${p.read("offset")} + i32(g.y % R) * ${p.read("rowStride")};
  for (var d = i32(${p.read("batchRank")}) - 1; d >= 0; d--) {
    let size = ${p.read("batchShape", "u32(d)")};
    base += i32(rem % size) * ${p.read("batchStrides", "u32(d)")};
    rem = rem / size;
  }
  let cs = ${p.read("colStride")};
  var v = vec4<f32>(0.0);
  for (var j = 0u; j < 4u; j++) {
    let c = g.x * 4u + j;
    if (c < C) { v[j] = src_at(u32(base + i32(c) * cs)); }
  }
  let t = g.y * rowTexels + g.x;
  textureStore(dst, vec2<u32>(t & ${TEXTURE_ROW - 1}u, t >> ${Math.log2(TEXTURE_ROW)}u), v);
}
`;
}

/**
 * How an operand's texels run: along its rows ("natural": A's texels hold 4 consecutive
 * k of one row, B's 4 consecutive n) or along its columns ("transposed": A's texels hold
 * 4 consecutive m of one k, B's 4 consecutive k of one n). Transposed operands are
 * views such as Wᵀ or gᵀ read in place, with no packing pass.
 */
export type TexelLayout = "natural" | "transposed";

/** A texture-path kernel variant: TM × TN block per invocation; vec4 stores when N % 4 = 0. */
export interface MatmulTextureTile {
  /** A multiple of 4 when A is transposed. */
  tm: number;
  /** A multiple of 4. */
  tn: number;
  vecOut: boolean;
  /** Workgroup shape: invocations along n (x) and along m (y). */
  wgx: number;
  wgy: number;
  /** Texel layouts of A and B (default natural). */
  a?: TexelLayout;
  b?: TexelLayout;
  /** Adds a bias `[N]` to every row (at TEXTURE_MATMUL_PARAMS' biasOffset). */
  bias?: boolean;
}

/**
 * The texture kernel's parameters: sizes; per operand (`a`, `b`) four words: its first
 * texel, texels between lines (rows of a natural operand, columns of a transposed one),
 * texels between batch matrices along the outer and along the inner batch axis; the bias
 * offset; the inner batch axis' size (batch z is (z / size, z % size): two batch axes, as
 * attention's [B, H] over views of [B, T, H, d], need no packing).
 */
export const TEXTURE_MATMUL_PARAMS = paramLayout({
  m: "u32",
  k: "u32",
  n: "u32",
  a: ["u32", 4],
  b: ["u32", 4],
  biasOffset: "u32",
  innerSize: "u32",
});

/**
 * Register-blocked matmul over two rgba32f textures in the linear texel layout of
 * textureOf / matmulPackSource, with the parameters of TEXTURE_MATMUL_PARAMS.
 *
 * Every step of the k loop covers 4 values of k. For each kk of the 4 the kernel needs
 * a(r, kk) for its TM rows (scalars) and b(kk, ·) for its TN columns (vec4s of 4
 * columns), then does TM·TN/4 vec4 multiply-adds; the layouts only change how those come
 * out of the texels. A natural B texel is already such a vec4; a transposed B gives one
 * texel per column, and a 4×4 block of them is transposed in registers.
 */
export function matmulTextureSource(tile: MatmulTextureTile): string {
  const p = TEXTURE_MATMUL_PARAMS;
  const { tm, tn, vecOut, wgx, wgy } = tile;
  const aT = tile.a === "transposed";
  const bT = tile.b === "transposed";
  if (aT && tm % 4 !== 0) throw new Error(`A transposed needs TM % 4 = 0 (got ${tm})`);
  const rows = range(tm);
  const quads = range(tn / 4);
  const lines = (xs: string[], indent: string) => xs.join(`\n${indent}`);
  // Loads done once per step of 4 k (texels along k), and per kk (texels across k).
  const blockLoads = [
    ...(aT ? [] : rows.map((r) => `let a${r} = ta_texel(aRow${r} + k);`)),
    ...(bT ? range(tn).map((c) => `let bc${c} = tb_texel(bLine${c} + k);`) : []),
  ];
  const kkLoads = (kk: number) => [
    ...(aT
      ? range(tm / 4).map((g) =>
        `let a${kk}_${g} = ta_texel(aQuad${g} + (4u * k + ${kk}u) * aStep);`
      )
      : []),
    ...quads.map((q) =>
      bT
        ? `let b${kk}_${q} = vec4<f32>(${range(4).map((j) => `bc${4 * q + j}[${kk}]`).join(", ")});`
        : `let b${kk}_${q} = tb_texel(bCol${q} + (4u * k + ${kk}u) * bStep);`
    ),
  ];
  const aValue = (r: number, kk: number) => aT ? `a${kk}_${r >> 2}[${r & 3}]` : `a${r}[${kk}]`;
  const fmas = (kk: number) =>
    rows.flatMap((r) =>
      quads.map((q) =>
        `acc${r}_${q} = fma(vec4<f32>(${aValue(r, kk)}), b${kk}_${q}, acc${r}_${q});`
      )
    );
  const stores: string[] = [];
  // With a bias, each quad of columns loads its 4 values once (clamped at the edge).
  if (tile.bias) {
    for (const q of quads) {
      const at = (j: number) =>
        `bias[${p.read("biasOffset")} + min(4u * (q0 + ${q}u) + ${j}u, N - 1u)]`;
      stores.push(`let bias${q} = vec4<f32>(${range(4).map(at).join(", ")});`);
    }
  }
  const value = (r: number, q: number) => tile.bias ? `(acc${r}_${q} + bias${q})` : `acc${r}_${q}`;
  for (const r of rows) {
    for (const q of quads) {
      if (vecOut) {
        stores.push(
          `if (r0 + ${r}u < M && q0 + ${q}u < nq) { out4[(outBase + (r0 + ${r}u) * N) / 4u + q0 + ${q}u] = ${
            value(r, q)
          }; }`,
        );
      } else {
        for (const j of range(4)) {
          stores.push(
            `if (r0 + ${r}u < M && 4u * (q0 + ${q}u) + ${j}u < N) { out1[outBase + (r0 + ${r}u) * N + 4u * (q0 + ${q}u) + ${j}u] = ${
              value(r, q)
            }[${j}]; }`,
          );
        }
      }
    }
  }
  // Rows and columns past the edges read clamped (valid) texels; their results are dropped.
  const setup = [
    ...(aT
      ? range(tm / 4).map((g) =>
        `let aQuad${g} = aFirst + min(r0 / 4u + ${g}u, (M + 3u) / 4u - 1u);`
      )
      : rows.map((r) => `let aRow${r} = aFirst + min(r0 + ${r}u, M - 1u) * aStep;`)),
    ...(bT
      ? range(tn).map((c) => `let bLine${c} = bFirst + min(4u * q0 + ${c}u, N - 1u) * bStep;`)
      : quads.map((q) => `let bCol${q} = bFirst + min(q0 + ${q}u, nq - 1u);`)),
  ];
  return /* wgsl */ `
${textureInput("ta", 0)}
${textureInput("tb", 1)}
@group(0) @binding(2) var<storage, read_write> ${
    vecOut ? "out4: array<vec4<f32>>" : "out1: array<f32>"
  };
${tile.bias ? "@group(0) @binding(3) var<storage, read> bias: array<f32>;" : ""}
${paramsBlock(tile.bias ? 4 : 3)}

@compute @workgroup_size(${wgx}, ${wgy})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let M = ${p.read("m")};
  let K = ${p.read("k")};
  let N = ${p.read("n")};
  let nq = (N + 3u) / 4u;
  let outer = wid.z / ${p.read("innerSize")};
  let inner = wid.z % ${p.read("innerSize")};
  let aFirst = ${p.read("a", "0u")} + outer * ${p.read("a", "2u")} + inner * ${p.read("a", "3u")};
  let aStep = ${p.read("a", "1u")};
  let bFirst = ${p.read("b", "0u")} + outer * ${p.read("b", "2u")} + inner * ${p.read("b", "3u")};
  let bStep = ${p.read("b", "1u")};
  let outBase = wid.z * M * N;
  let r0 = (wid.y * ${wgy}u + lid.y) * ${tm}u;
  let q0 = (wid.x * ${wgx}u + lid.x) * ${tn / 4}u;
  ${lines(setup, "  ")}
  ${lines(rows.flatMap((r) => quads.map((q) => `var acc${r}_${q} = vec4<f32>(0.0);`)), "  ")}
  let kFull = K / 4u;
  for (var k = 0u; k < kFull; k++) {
    ${lines(blockLoads, "    ")}
    ${lines(range(4).flatMap(kkLoads), "    ")}
    ${lines(range(4).flatMap(fmas), "    ")}
  }
  // The last K % 4 values of k (texels along k are zero-padded; lines past K not read).
  if (K % 4u != 0u) {
    let k = kFull;
    ${lines(blockLoads, "    ")}
    ${
    lines(
      range(3).map((kk) =>
        `if (4u * k + ${kk}u < K) {\n      ${lines([...kkLoads(kk), ...fmas(kk)], "      ")}\n    }`
      ),
      "    ",
    )
  }
  }
  ${lines(stores, "  ")}
}
`;
}
