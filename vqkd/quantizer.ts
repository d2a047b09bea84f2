// The normalised-EMA vector quantizer of VQ-KD (the official `NormEMAVectorQuantizer`).
// Inputs and codes live on the unit sphere; the nearest code is the most
// similar one; the codebook is not trained by gradients but moved by an exponential
// moving average toward the renormalised mean of the vectors assigned to each code.
//
//   z   = ℓ2(u)                                   u: encoder projections [B, N, C]
//   id  = argmin_k ‖z‖² + ‖e_k‖² − 2 z·e_k        (the codebook before this step's update)
//   ẑ   = z + sg(e_id − z)                         straight-through: value e_id, gradient to z
//   L   = β · mean((z − sg(e_id))²)                commitment, a mean over all M·C elements
//   e_k ← ℓ2(λ e_k + (1 − λ) ℓ2(S_k / max(n_k, 1)))  for used codes (training only)
//   cluster_size ← λ cluster_size + (1 − λ) n      (usage statistics, train and eval)
//
// The state tree carries the official buffer names (quantize.cluster_size,
// quantize.embedding.weight, .cluster_size, .embed_avg, .initted).
// The course's chapter docs/course/05_vqkd.md derives each line, with runnable examples.
// Legend: B batch · N tokens · C code dim · K codebook size · M = B·N vectors

import {
  add,
  argmax,
  argmin,
  cast,
  dispose,
  div,
  equal,
  fullLike,
  greater,
  type Key,
  l2Normalize,
  matmul,
  maximum,
  mean,
  mul,
  ones,
  permutation,
  randint,
  reshape,
  scatterAdd,
  square,
  stopGradient,
  sub,
  sum,
  take,
  type Tensor,
  tensor,
  tidy,
  toArray,
  transpose,
  unsqueeze,
  where,
  zeros,
} from "../tensor/mod.ts";

/** The quantizer's non-differentiated state, with the official buffer names. */
export interface QuantizerState {
  /** Usage EMA per code [K]. */
  cluster_size: Tensor; // [K] usage EMA
  /** The codebook and its k-means bookkeeping (official buffer names). */
  embedding: {
    weight: Tensor; // [K, C] the codebook (unit rows)
    cluster_size: Tensor; // [K] k-means bin counts
    embed_avg: Tensor; // [K, C] unused by this quantizer (zeros), kept for checkpoints
    initted: Tensor; // [1] 1 once k-means ran
  };
  /** Any other official key. */
  [key: string]: unknown;
}

/** Quantizer configuration. */
export interface QuantizerConfig {
  /** Codebook size K. */
  numCodes: number;
  /** Code dimension C. */
  codeDim: number;
  /** EMA decay λ (0.99). */
  decay?: number;
  /** Commitment weight β (1). */
  beta?: number;
}

/** The quantizer's output. */
export interface QuantizerOutput {
  /** Straight-through quantized vectors ẑ [B, N, C]. */
  quantized: Tensor;
  /** Code ids [B, N] (int32). */
  ids: Tensor;
  /** Commitment loss (0-d). */
  loss: Tensor;
  /** The updated state. */
  state: QuantizerState;
  /** Per-code assignment counts of this batch [K] (float32). */
  counts: Tensor;
}

/** A fresh, uninitialised state (zero codebook, initted = 0), as the official constructor. */
export function initQuantizerState(config: QuantizerConfig): QuantizerState {
  const { numCodes: k, codeDim: c } = config;
  return {
    cluster_size: zeros([k]),
    embedding: {
      weight: zeros([k, c]),
      cluster_size: zeros([k]),
      embed_avg: zeros([k, c]),
      initted: zeros([1]),
    },
  };
}

/** Counts of each id in 0 … K−1 (float32 [K]). */
export function bincount(ids: Tensor, numCodes: number): Tensor {
  const flat = reshape(ids, [ids.size]);
  return scatterAdd(
    zeros([numCodes], { backend: ids.backend }),
    flat,
    ones([ids.size], { backend: ids.backend }),
  );
}

/** Sums of the vectors assigned to each code: [K, C] = onehot(ids)ᵀ · z. */
function codeSums(ids: Tensor, z: Tensor, numCodes: number): Tensor {
  const onehot = cast(
    equal(unsqueeze(reshape(ids, [ids.size]), -1), rangeLike(numCodes, ids)),
    z.dtype,
  ); // [M, K]
  return matmul(transpose(onehot), z); // [K, C]
}

function rangeLike(n: number, like: Tensor): Tensor {
  return tensor(Int32Array.from({ length: n }, (_, i) => i), { backend: like.backend });
}

/** Nearest codes by the official squared distance ‖z‖² + ‖e‖² − 2 z·e (ties → lowest id). */
export function nearestCodes(z: Tensor, codebook: Tensor): Tensor {
  const zz = sum(square(z), { axis: 1, keepDims: true }); // [M, 1]
  const ee = sum(square(codebook), { axis: 1 }); // [K]
  const d = sub(add(zz, ee), mul(matmul(z, transpose(codebook)), 2)); // [M, K]
  return argmin(d, { axis: 1 }); // [M]
}

/**
 * Spherical k-means initialisation of the codebook (the official `kmeans`): K distinct input rows
 * chosen by a random permutation (with replacement when M < K), then 10 rounds of
 * "assign by cosine, average, renormalise; empty clusters keep their mean".
 *
 * @param k the key
 * @param state the quantizer state
 * @param vectors ℓ2-normalised vectors [M, C] (the first batch)
 * @param iterations 10 as the official code
 * @returns the state with the codebook, its bin counts and initted = 1
 */
export function kmeansInit(
  k: Key,
  state: QuantizerState,
  vectors: Tensor,
  iterations = 10,
): QuantizerState {
  const z = stopGradient(vectors);
  const [m] = z.shape;
  const numCodes = state.embedding.weight.shape[0];
  const picks = m >= numCodes
    ? take(permutation(k, m, { backend: z.backend }), rangeLike(numCodes, z)) // K distinct rows
    : randint(k, [numCodes], 0, m, { backend: z.backend });
  let means = take(z, picks, { axis: 0 }); // [K, C]
  let bins = zeros([numCodes], { backend: z.backend });
  for (let i = 0; i < iterations; i++) {
    const buckets = argmax(matmul(z, transpose(means)), { axis: 1 }); // [M]
    bins = bincount(buckets, numCodes); // [K]
    const empty = equal(bins, 0);
    const averaged = l2Normalize(
      div(codeSums(buckets, z, numCodes), unsqueeze(maximum(bins, 1), -1)),
    );
    means = where(unsqueeze(empty, -1), means, averaged);
  }
  return {
    ...state,
    embedding: {
      ...state.embedding,
      weight: means,
      cluster_size: bins,
      initted: fullLike(state.embedding.initted, 1),
    },
  };
}

/**
 * Quantizes encoder projections.
 *
 * @param config K, C, decay, beta
 * @param state the current state (codebook before this step's update)
 * @param u projections [B, N, C]
 * @param options `train`: update the codebook by EMA (else only the usage statistics)
 * @returns quantized vectors, ids, commitment loss, the new state and batch counts
 */
export function quantize(
  config: QuantizerConfig,
  state: QuantizerState,
  u: Tensor,
  options: { train?: boolean } = {},
): QuantizerOutput {
  const decay = config.decay ?? 0.99;
  const beta = config.beta ?? 1;
  const [b, n, c] = u.shape;
  const z = l2Normalize(u, { axis: -1 }); // [B, N, C]
  const flat = reshape(z, [b * n, c]); // [M, C]
  const codebook = stopGradient(state.embedding.weight); // [K, C]
  const ids = nearestCodes(stopGradient(flat), codebook); // [M]
  const zq = reshape(take(codebook, ids, { axis: 0 }), [b, n, c]); // [B, N, C]
  const loss = mul(mean(square(sub(z, zq))), beta); // zq is constant: the commitment term
  const quantized = add(z, stopGradient(sub(zq, z))); // value zq, gradient to z
  // Statistics and the EMA step use no gradients.
  const counts = bincount(ids, config.numCodes); // [K]
  const clusterSize = add(mul(state.cluster_size, decay), mul(counts, 1 - decay));
  let weight = state.embedding.weight;
  if (options.train) {
    const sums = codeSums(ids, stopGradient(flat), config.numCodes); // [K, C]
    const unused = unsqueeze(equal(counts, 0), -1); // [K, 1]
    const batchMean = l2Normalize(div(sums, unsqueeze(maximum(counts, 1), -1)));
    const target = where(unused, codebook, batchMean); // unused codes move toward themselves
    weight = l2Normalize(add(mul(codebook, decay), mul(target, 1 - decay)));
  }
  const next: QuantizerState = {
    ...state,
    cluster_size: clusterSize,
    embedding: { ...state.embedding, weight },
  };
  return { quantized, ids: reshape(ids, [b, n]), loss, state: next, counts };
}

/**
 * How many codes a histogram of uses per code (the quantizer's `counts`, summed over
 * batches) shows used at least once.
 */
export async function codesUsed(counts: Tensor): Promise<number> {
  const used = tidy(() => sum(cast(greater(counts, 0), "int32")));
  const n = (await toArray(used))[0];
  dispose(used);
  return n;
}
