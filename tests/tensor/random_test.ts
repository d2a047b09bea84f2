// PRNG: Threefry known-answer vectors, determinism, independence of split keys, and the
// distributions' moments and bounds.

import assert from "node:assert/strict";
import * as T from "../../mod.ts";
import { values } from "../_helpers.ts";

const hex = (pair: number[]) => pair.map((w) => "0x" + w.toString(16).padStart(8, "0"));

Deno.test("threefry2x32() reproduces the Random123 known-answer vectors (20 rounds)", () => {
  assert.deepEqual(hex(T.threefry2x32(0, 0, 0, 0)), ["0x6b200159", "0x99ba4efe"]);
  assert.deepEqual(
    hex(T.threefry2x32(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff)),
    ["0x1cb996fc", "0xbb002be7"],
  );
  assert.deepEqual(
    hex(T.threefry2x32(0x13198a2e, 0x03707344, 0x243f6a88, 0x85a308d3)),
    ["0xc4923a9c", "0x483df7a0"],
  );
});

Deno.test("key() holds the seed's 64-bit words", () => {
  assert.equal(String(T.key(0)), "Key(0x00000000, 0x00000000)");
  assert.equal(String(T.key(2 ** 32 + 5)), "Key(0x00000001, 0x00000005)");
  assert.equal(String(T.key(-1)), "Key(0xffffffff, 0xffffffff)");
});

Deno.test("random functions are deterministic per key and differ across split keys", () => {
  const k = T.key(123);
  assert.deepEqual(values(T.uniform(k, [8])), values(T.uniform(k, [8])));
  const [a, b] = T.splitKey(k);
  assert.notDeepEqual(values(T.uniform(a, [8])), values(T.uniform(b, [8])));
  assert.notDeepEqual(String(a), String(k));
  assert.equal(T.splitKey(k, 5).length, 5);
  assert.equal(new Set(T.splitKey(k, 50).map(String)).size, 50);
  assert.notEqual(String(T.foldIn(k, 1)), String(T.foldIn(k, 2)));
  assert.equal(String(T.foldIn(k, 1)), String(T.foldIn(k, 1)));
});

Deno.test("randomWords() computes each word independently of how many are drawn after it", () => {
  // Counter-based: word j of a length-n draw depends only on (key, j, n's halving).
  const k = T.key(9);
  const w = T.randomWords(k, 6);
  const [y0, y1] = T.threefry2x32(k.hi, k.lo, 1, 4);
  assert.equal(w[1], y0);
  assert.equal(w[4], y1);
});

function moments(xs: number[]): { mean: number; std: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const v = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length;
  return { mean, std: Math.sqrt(v) };
}

Deno.test("uniform() lies in [minval, maxval) with the right mean", () => {
  const xs = values(T.uniform(T.key(1), [20000], { minval: -2, maxval: 4 }));
  assert.ok(xs.every((x) => x >= -2 && x < 4));
  const { mean, std } = moments(xs);
  assert.ok(Math.abs(mean - 1) < 0.05, `mean ${mean}`);
  assert.ok(Math.abs(std - 6 / Math.sqrt(12)) < 0.03, `std ${std}`);
  const u64 = values(T.uniform(T.key(1), [1000], { dtype: "float64" }));
  assert.ok(u64.some((x) => Math.fround(x) !== x)); // finer than the float32 grid
});

Deno.test("normal() has mean 0 and std 1; truncatedNormal() respects its bounds", () => {
  const xs = values(T.normal(T.key(2), [20000]));
  const { mean, std } = moments(xs);
  assert.ok(Math.abs(mean) < 0.03, `mean ${mean}`);
  assert.ok(Math.abs(std - 1) < 0.03, `std ${std}`);
  const t = values(T.truncatedNormal(T.key(3), [20000], { lower: -1, upper: 1 }));
  assert.ok(t.every((x) => x >= -1 && x <= 1));
  // std of N(0,1) truncated to ±1: √(1 − 2φ(1)/(2Φ(1) − 1)) ≈ 0.5396 (BEiT's ±1σ init)
  assert.ok(Math.abs(moments(t).std - 0.5396) < 0.01, `std ${moments(t).std}`);
});

Deno.test("bernoulli(), randint() and permutation() produce valid samples", () => {
  const b = values(T.bernoulli(T.key(4), 0.3, [20000]));
  assert.ok(Math.abs(b.reduce((a, v) => a + v, 0) / b.length - 0.3) < 0.02);
  const r = values(T.randint(T.key(5), [5000], -3, 4));
  assert.ok(r.every((v) => Number.isInteger(v) && v >= -3 && v < 4));
  assert.equal(new Set(r).size, 7);
  const p = values(T.permutation(T.key(6), 100));
  assert.deepEqual([...p].sort((x, y) => x - y), Array.from({ length: 100 }, (_, i) => i));
  assert.notDeepEqual(p, Array.from({ length: 100 }, (_, i) => i));
});
