// BEiT's relative position bias (the official `RelativePositionBias`): a learned table of (2Wh−1)(2Ww−1) + 3 rows
// × H heads, indexed by the relative offset of two patches, plus three rows for pairs
// involving the CLS token. The index matrix is deterministic and regenerated here; the
// official checkpoints also store it (as relative_position_index), and loading ignores it.
// Legend: Wh, Ww grid · N = Wh·Ww patches · T = N + 1 tokens · R table rows · H heads

import { type Key, permute, reshape, take, type Tensor, tensor, zeros } from "../tensor/mod.ts";

/** Number of table rows for a grid: (2Wh − 1)(2Ww − 1) + 3. */
export function relativePositionTableSize(wh: number, ww: number): number {
  return (2 * wh - 1) * (2 * ww - 1) + 3;
}

const indexCache = new Map<string, Int32Array>();

/**
 * The [T, T] index into the table (row-major, T = Wh·Ww + 1; token 0 is CLS):
 * patch→patch (Δr + Wh − 1)(2Ww − 1) + (Δc + Ww − 1); CLS→any R − 3; any→CLS R − 2;
 * CLS→CLS R − 1.
 */
export function relativePositionIndex(wh: number, ww: number): Int32Array {
  const cacheKey = `${wh}x${ww}`;
  const cached = indexCache.get(cacheKey);
  if (cached) return cached;
  const n = wh * ww;
  const t = n + 1;
  const r = relativePositionTableSize(wh, ww);
  const index = new Int32Array(t * t);
  for (let q = 0; q < n; q++) {
    const [rq, cq] = [Math.floor(q / ww), q % ww];
    for (let k = 0; k < n; k++) {
      const [rk, ck] = [Math.floor(k / ww), k % ww];
      index[(q + 1) * t + (k + 1)] = (rq - rk + wh - 1) * (2 * ww - 1) + (cq - ck + ww - 1);
    }
  }
  for (let k = 0; k < t; k++) index[k] = r - 3; // CLS as query (row 0)
  for (let q = 0; q < t; q++) index[q * t] = r - 2; // CLS as key (column 0)
  index[0] = r - 1; // CLS ↔ CLS (assigned last, as the official code)
  indexCache.set(cacheKey, index);
  return index;
}

/** Looks up the bias [H, T, T] from a table [R, H]. */
export function relativePositionBiasFromTable(table: Tensor, wh: number, ww: number): Tensor {
  const t = wh * ww + 1;
  const index = tensor(relativePositionIndex(wh, ww), { shape: [t * t], backend: table.backend });
  const rows = take(table, index, { axis: 0 }); // [T·T, H]
  return permute(reshape(rows, [t, t, table.shape[1]]), [2, 0, 1]); // [H, T, T]
}

/** Parameters of a shared relative position bias. */
export interface RelativePositionBiasParams {
  /** The table [(2Wh − 1)(2Ww − 1) + 3, H] of per-head biases by relative offset (3 extra rows for CLS). */
  relative_position_bias_table: Tensor;
  /** Any other official key. */
  [key: string]: Tensor;
}

/**
 * A relative position bias shared by all blocks (BEiT pretraining's `rel_pos_bias`).
 *
 * @param config `window` [Wh, Ww], `numHeads`
 * @returns `{ init, apply }`: apply(params) gives the bias [H, T, T]
 */
export function relativePositionBias(
  config: { window: readonly [number, number]; numHeads: number },
): {
  init(k: Key): RelativePositionBiasParams;
  apply(params: RelativePositionBiasParams): Tensor;
} {
  const [wh, ww] = config.window;
  return {
    init: () => ({
      relative_position_bias_table: zeros([relativePositionTableSize(wh, ww), config.numHeads]),
    }),
    apply: (p) => relativePositionBiasFromTable(p.relative_position_bias_table, wh, ww),
  };
}
