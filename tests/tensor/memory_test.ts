// Memory management: tidy/dispose/keep, the use-after-dispose error, and a leak test:
// training steps inside tidy() hold live tensors and bytes flat, on every backend.

import assert from "node:assert/strict";
import * as T from "../../mod.ts";
import { testOnBackends } from "../_backends.ts";
import { assertClose } from "../_helpers.ts";

testOnBackends("tidy() frees intermediates and keeps what it returns", async (backend) => {
  await T.useBackend(backend);
  const x = T.ones([4]);
  const before = T.memoryStats();
  const y = T.tidy(() => T.add(T.mul(x, 2), T.exp(x)));
  const after = T.memoryStats();
  assert.equal(after.liveTensors, before.liveTensors + 1);
  assert.ok(!y.disposed && !x.disposed);
  assert.equal((await T.toArray(y))[0], Math.fround(2 + Math.E));
  const pair = T.tidy(() => ({ a: T.neg(x), b: [T.sqrt(x)] }));
  assert.ok(!pair.a.disposed && !pair.b[0].disposed);
  T.dispose([x, y, pair]);
  assert.equal(T.memoryStats().liveTensors, before.liveTensors - 1);
  await T.useBackend("cpu");
});

testOnBackends("nested tidy() hands returned tensors to the enclosing scope", async (backend) => {
  await T.useBackend(backend);
  const start = T.memoryStats().liveTensors;
  let inner: T.Tensor | undefined;
  T.tidy(() => {
    inner = T.tidy(() => T.mul(T.ones([2]), 3));
    assert.ok(!inner.disposed);
    return undefined;
  });
  assert.ok(inner!.disposed); // the outer scope freed it
  assert.equal(T.memoryStats().liveTensors, start);
  await T.useBackend("cpu");
});

testOnBackends(
  "keep() survives tidy(); dispose() frees; using a disposed tensor is an error",
  async (backend) => {
    await T.useBackend(backend);
    let kept: T.Tensor | undefined;
    T.tidy(() => {
      kept = T.keep(T.ones([3]));
      T.ones([3]);
    });
    assert.ok(!kept!.disposed);
    T.dispose(kept);
    assert.ok(kept!.disposed);
    T.dispose(kept); // twice is harmless
    assert.throws(() => T.add(kept!, 1), /Cannot use a disposed tensor \(Tensor\(float32 \[3\]/);
    await assert.rejects(() => T.toArray(kept!), /Cannot use a disposed tensor/);
    await T.useBackend("cpu");
  },
);

testOnBackends(
  "a view keeps its storage alive after the base tensor is disposed",
  async (backend) => {
    await T.useBackend(backend);
    const base = T.tensor([[1, 2], [3, 4]]);
    const view = T.transpose(base);
    T.dispose(base);
    assert.deepEqual(Array.from(await T.toArray(view)), [1, 3, 2, 4]);
    T.dispose(view);
    await T.useBackend("cpu");
  },
);

Deno.test("tidy() rejects async functions and cleans up when fn throws", () => {
  const start = T.memoryStats().liveTensors;
  assert.throws(() => T.tidy(() => Promise.resolve(1)), /Cannot tidy an async function/);
  assert.throws(() =>
    T.tidy(() => {
      T.ones([2]);
      throw new Error("boom");
    }), /boom/);
  assert.equal(T.memoryStats().liveTensors, start);
});

testOnBackends("memoryStats() reports pooled bytes after tensors are freed", async (backend) => {
  await T.useBackend(backend);
  const t = T.zeros([1024]);
  const live = T.memoryStats().liveBytesByBackend[backend];
  T.dispose(t);
  const after = T.memoryStats();
  assert.equal(after.liveBytesByBackend[backend], live - 4096);
  if (backend === "webgpu") assert.ok(after.poolBytes >= 4096);
  await T.useBackend("cpu");
});

testOnBackends(
  "emptyCache() frees pooled buffers; later ops still compute right",
  async (backend) => {
    await T.useBackend(backend);
    try {
      const x = T.normal(T.key(1), [300, 200]);
      const w = T.normal(T.key(2), [200, 100]);
      const want = await T.toArray(T.matmul(x, w));
      // Pooled buffers (and textures) from a few ops, some still pending when emptied.
      T.dispose([T.exp(T.matmul(x, w)), T.add(x, 1), T.zeros([100_000])]);
      const pending = T.sum(T.matmul(x, w), { axis: 0 });
      const before = T.memoryStats();
      if (backend === "webgpu") assert.ok(before.poolBytes > 400_000, `${before.poolBytes}`);
      T.emptyCache();
      const after = T.memoryStats();
      assert.equal(after.liveBytes, before.liveBytes); // live tensors untouched
      assert.ok(after.poolBytes < 300_000, `${after.poolBytes} bytes still pooled`); // constants
      const columnSums = Array.from({ length: 100 }, (_, j) => {
        let total = 0;
        for (let i = 0; i < 300; i++) total += want[i * 100 + j];
        return total;
      });
      // sums of 300 products of sums of 200: float32 rounding well below this
      assertClose(await T.toArray(pending), columnSums, { atol: 1e-3, rtol: 1e-4 });
      assert.deepEqual(await T.toArray(T.matmul(x, w)), want);
      T.dispose([x, w, pending]);
    } finally {
      await T.useBackend("cpu");
    }
  },
);

// Leak test: 500 steps of a small MLP trained with SGD; every step runs inside tidy()
// and replaces the parameters, disposing the old ones.
testOnBackends("500 MLP training steps hold live tensors and bytes flat", async (backend) => {
  await T.useBackend(backend);
  const [k1, k2, k3] = T.splitKey(T.key(0), 3);
  let params = {
    w1: T.mul(T.normal(k1, [8, 16]), 0.3),
    b1: T.zeros([16]),
    w2: T.mul(T.normal(k2, [16, 3]), 0.3),
    b2: T.zeros([3]),
  };
  const x = T.normal(k3, [32, 8]);
  const labels = T.tensor(Array.from({ length: 32 }, (_, i) => i % 3), { dtype: "int32" });
  type P = typeof params;
  const loss = (p: P) => {
    const h = T.relu(T.add(T.matmul(x, p.w1), p.b1));
    return T.crossEntropy(T.add(T.matmul(h, p.w2), p.b2), labels);
  };
  const step = (p: P): { params: P; loss: T.Tensor } =>
    T.tidy(() => {
      const { value, grads } = T.valueAndGrad(loss)(p);
      const next = T.treeMap((w: T.Tensor, g: T.Tensor) => T.sub(w, T.mul(g, 0.1)), p, grads) as P;
      return { params: next, loss: value };
    });
  const samples: { tensors: number; bytes: number }[] = [];
  let first = NaN;
  let last = NaN;
  for (let i = 0; i < 500; i++) {
    const out = step(params);
    T.dispose(params);
    params = out.params;
    if (i === 0) first = (await T.toArray(out.loss))[0];
    if (i === 499) last = (await T.toArray(out.loss))[0];
    T.dispose(out.loss);
    if (i % 100 === 99) {
      const s = T.memoryStats();
      samples.push({ tensors: s.liveTensors, bytes: s.liveBytesByBackend[backend] });
    }
  }
  for (const s of samples) {
    assert.deepEqual(s, samples[0], `live memory grew: ${JSON.stringify(samples)}`);
  }
  assert.ok(last < first, `loss should fall (${first} → ${last})`);
  T.dispose([params, x, labels]);
  await T.useBackend("cpu");
});
