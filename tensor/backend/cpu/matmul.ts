// CPU matrix products: a naive reference kernel and a register-blocked fast kernel.
//
//   out[b, i, j] = Σ_k a[b, i, k] · b[b, k, j]        a [..., M, K] · b [..., K, N]
//
// Both read views through their strides, so transposed and broadcast operands cost
// nothing extra to pass in. The fast kernel is the classic GEMM recipe scaled down to
// JavaScript: copy ("pack") a block of 4 rows of A and a panel of 4 columns of B into
// small contiguous float64 arrays, then compute the 4×4 block of the result with 16
// accumulators held in local variables (registers), so each loaded value is used 4 times.
// The fast kernel is the `cpu-js` backend's matmul (bench/cpu_bench.ts times it beside the
// WebAssembly one); tests/tensor/op_table_indexing_test.ts checks it against the naive one.

import { allocArray, type TypedArray } from "../../dtype.ts";
import type { View } from "../../tensor.ts";
import { arrayOf, elementOffsets } from "./strided.ts";

interface MatmulGeometry {
  batchA: Int32Array; // storage offset of each batch matrix of a
  batchB: Int32Array;
  m: number;
  k: number;
  n: number;
  aRow: number; // stride between rows of a matrix of a
  aCol: number;
  bRow: number;
  bCol: number;
}

function geometry(a: View, b: View): MatmulGeometry {
  const r = a.shape.length;
  const batchShape = a.shape.slice(0, r - 2);
  return {
    batchA: elementOffsets(batchShape, a.strides.slice(0, r - 2), a.offset),
    batchB: elementOffsets(batchShape, b.strides.slice(0, r - 2), b.offset),
    m: a.shape[r - 2],
    k: a.shape[r - 1],
    n: b.shape[r - 1],
    aRow: a.strides[r - 2],
    aCol: a.strides[r - 1],
    bRow: b.strides[r - 2],
    bCol: b.strides[r - 1],
  };
}

/** Reference kernel: three nested loops, one dot product per output element. */
export function matmulNaive(a: View, b: View): TypedArray {
  const g = geometry(a, b);
  const A = arrayOf(a);
  const B = arrayOf(b);
  const out = allocArray(a.dtype, g.batchA.length * g.m * g.n);
  let o = 0;
  for (let batch = 0; batch < g.batchA.length; batch++) {
    const baseA = g.batchA[batch];
    const baseB = g.batchB[batch];
    for (let i = 0; i < g.m; i++) {
      for (let j = 0; j < g.n; j++) {
        let acc = 0;
        for (let p = 0; p < g.k; p++) {
          acc += A[baseA + i * g.aRow + p * g.aCol] * B[baseB + p * g.bRow + j * g.bCol];
        }
        out[o++] = acc;
      }
    }
  }
  return out;
}

/** Fast kernel: packed 4×4 register blocks (see the file header). */
export function matmulBlocked(a: View, b: View): TypedArray {
  const g = geometry(a, b);
  const { m, k, n } = g;
  const A = arrayOf(a);
  const B = arrayOf(b);
  const out = allocArray(a.dtype, g.batchA.length * m * n);
  const panels = Math.ceil(n / 4);
  const packedA = new Float64Array(4 * k); // packedA[4p + r] = a[i0 + r, p]
  const packedB = new Float64Array(panels * 4 * k); // panel q: [4p + c] = b[p, 4q + c]

  for (let batch = 0; batch < g.batchA.length; batch++) {
    const baseA = g.batchA[batch];
    const baseB = g.batchB[batch];
    const baseOut = batch * m * n;

    // Pack all of B once per batch: panels of 4 columns, zero-padded on the right.
    packedB.fill(0);
    for (let q = 0; q < panels; q++) {
      const panel = q * 4 * k;
      for (let c = 0; c < 4 && 4 * q + c < n; c++) {
        let src = baseB + (4 * q + c) * g.bCol;
        for (let p = 0; p < k; p++, src += g.bRow) packedB[panel + 4 * p + c] = B[src];
      }
    }

    for (let i0 = 0; i0 < m; i0 += 4) {
      const rows = Math.min(4, m - i0);
      packedA.fill(0);
      for (let r = 0; r < rows; r++) {
        let src = baseA + (i0 + r) * g.aRow;
        for (let p = 0; p < k; p++, src += g.aCol) packedA[4 * p + r] = A[src];
      }
      for (let q = 0; q < panels; q++) {
        const panel = q * 4 * k;
        let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
        let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
        let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
        let c30 = 0, c31 = 0, c32 = 0, c33 = 0;
        for (let p = 0; p < k; p++) {
          const pa = 4 * p;
          const pb = panel + 4 * p;
          const a0 = packedA[pa], a1 = packedA[pa + 1], a2 = packedA[pa + 2], a3 = packedA[pa + 3];
          const b0 = packedB[pb], b1 = packedB[pb + 1], b2 = packedB[pb + 2], b3 = packedB[pb + 3];
          c00 += a0 * b0, c01 += a0 * b1, c02 += a0 * b2, c03 += a0 * b3;
          c10 += a1 * b0, c11 += a1 * b1, c12 += a1 * b2, c13 += a1 * b3;
          c20 += a2 * b0, c21 += a2 * b1, c22 += a2 * b2, c23 += a2 * b3;
          c30 += a3 * b0, c31 += a3 * b1, c32 += a3 * b2, c33 += a3 * b3;
        }
        // Store the block, dropping the zero padding past the edges.
        const cols = Math.min(4, n - 4 * q);
        const row0 = baseOut + i0 * n + 4 * q;
        storeRow(out, row0, cols, c00, c01, c02, c03);
        if (rows > 1) storeRow(out, row0 + n, cols, c10, c11, c12, c13);
        if (rows > 2) storeRow(out, row0 + 2 * n, cols, c20, c21, c22, c23);
        if (rows > 3) storeRow(out, row0 + 3 * n, cols, c30, c31, c32, c33);
      }
    }
  }
  return out;
}

/** Writes the first `cols` of four values to out[at …]. */
function storeRow(
  out: TypedArray,
  at: number,
  cols: number,
  v0: number,
  v1: number,
  v2: number,
  v3: number,
): void {
  out[at] = v0;
  if (cols > 1) out[at + 1] = v1;
  if (cols > 2) out[at + 2] = v2;
  if (cols > 3) out[at + 3] = v3;
}
