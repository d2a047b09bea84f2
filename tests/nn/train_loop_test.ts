// The shared training loop: live memory flat over 50 steps of a ViT and what it frees and
// keeps (on every backend), resume positions, skipped batches, metrics, and freeing a batch
// when its step throws.

import assert from "node:assert/strict";
import * as T from "../../mod.ts";
import {
  adamw,
  applyUpdates,
  linearLayer,
  type LinearParams,
  type ViTParams,
} from "../../nn/mod.ts";
import { type StepPosition, trainLoop } from "../../nn/train_loop.ts";
import { testOnBackends } from "../_backends.ts";
import { images, labels, optimizer as optimizerOfVit, vit } from "./_small_vit.ts";

const head = linearLayer({ inFeatures: 4, outFeatures: 3 });
const optimizer = adamw({ learningRate: 1e-2, weightDecay: 0.05 });

interface Batch {
  x: T.Tensor;
  y: T.Tensor;
}

/** `count` batches of 8 examples; each batch's tensors are new, as a data loader's are. */
async function* batches(epoch: number, count = 4): AsyncIterable<Batch> {
  for (let i = 0; i < count; i++) {
    const k = T.foldIn(T.key(7), epoch * 100 + i);
    yield {
      x: T.normal(k, [8, 4]),
      y: T.tensor([0, 1, 2, 0, 1, 2, 0, 1], { dtype: "int32" }),
    };
  }
}

function step(carry: { params: LinearParams; opt: unknown[] }, batch: Batch) {
  const { value, grads } = T.valueAndGrad((p: LinearParams) =>
    T.crossEntropy(head.apply(p, batch.x), batch.y)
  )(carry.params);
  const { updates, state } = optimizer.update(grads, carry.opt, carry.params);
  return {
    carry: { params: applyUpdates(carry.params, updates), opt: state },
    metrics: value,
  };
}

testOnBackends(
  "trainLoop: 50 steps of a 2-block ViT (dropout, drop path, AdamW) hold live tensors and bytes flat",
  async (backend) => {
    const before = T.memoryStats().liveTensors;
    const params = vit.init(T.key(0));
    const samples: string[] = [];
    const losses: number[] = [];
    const final = await trainLoop({
      label: "vit",
      carry: { params, opt: optimizerOfVit.init(params) },
      epochs: 5,
      batchesPerEpoch: 10,
      // Ten batches per epoch, each new tensors (as a loader's), freed after its step.
      batches: async function* () {
        for (let i = 0; i < 10; i++) yield { x: images(), y: labels() };
      },
      release: (batch) => batch,
      metrics: ["loss"],
      step: ({ params, opt }, batch, at) => {
        const loss = (p: ViTParams) =>
          T.crossEntropy(
            vit.apply(p, batch.x, { train: true, key: T.foldIn(T.key(1), at.step) }),
            batch.y,
            {
              labelSmoothing: 0.1,
            },
          );
        const { value, grads } = T.valueAndGrad(loss)(params);
        const { updates, state } = optimizerOfVit.update(grads, opt, params);
        return { carry: { params: applyUpdates(params, updates), opt: state }, metrics: value };
      },
      onStep: ({ loss }) => losses.push(loss),
      afterEpoch: () => {
        const s = T.memoryStats();
        samples.push(`${s.liveTensors} tensors, ${s.liveBytesByBackend[backend]} bytes`);
        return Promise.resolve();
      },
      quiet: true,
    });
    assert.ok(
      samples.every((s) => s === samples[0]),
      `live memory changed: ${samples.join(" | ")}`,
    );
    assert.equal(losses.length, 50);
    assert.ok(losses[49] < losses[0], `loss should fall (${losses[0]} → ${losses[49]})`);
    // The initial params were the loop's: replaced by the first step and freed.
    assert.ok(T.treeLeaves<T.Tensor>(params).every((t) => t.disposed));
    T.dispose(final);
    assert.equal(T.memoryStats().liveTensors, before, "everything the loop made is freed");
  },
);

testOnBackends("trainLoop: borrowed tensors stay the caller's; the rest is freed", async () => {
  const params = head.init(T.key(0));
  const opt = optimizer.init(params);
  const before = T.memoryStats().liveTensors;
  const final = await trainLoop({
    label: "test",
    carry: { params, opt },
    borrowed: params,
    epochs: 2,
    batchesPerEpoch: 4,
    batches: (epoch) => batches(epoch),
    release: (batch) => batch,
    step,
    quiet: true,
  });
  assert.ok(!params.weight.disposed && !params.bias!.disposed, "the caller's params were freed");
  assert.deepEqual(params.weight.shape, [3, 4]);
  // The initial optimizer state was the loop's: freed once replaced.
  const tensors = (tree: unknown) =>
    T.treeLeaves(tree).filter((leaf): leaf is T.Tensor => leaf instanceof T.Tensor);
  assert.ok(tensors(opt).length > 0 && tensors(opt).every((t) => t.disposed));
  assert.equal(
    T.memoryStats().liveTensors,
    before - tensors(opt).length + tensors(final).length,
  );
  T.dispose([final, params]);
});

Deno.test("trainLoop: resume positions, skipped batches, epoch means", async () => {
  const seen: StepPosition[] = [];
  const released: T.Tensor[] = [];
  const means: number[] = [];
  const final = await trainLoop({
    label: "test",
    carry: { n: T.tensor(0) },
    epochs: 3,
    startEpoch: 1,
    batchesPerEpoch: 4,
    batches: (epoch) => batches(epoch),
    release: (batch) => {
      released.push(batch.x, batch.y);
      return batch;
    },
    // The first batch of every epoch is skipped (as VQ-KD's k-means batches are).
    beforeStep: (carry, _batch, at) => ({ carry, skip: at.index === 0 }),
    metrics: ["n"],
    step: (carry, _batch, at) => {
      seen.push(at);
      const n = T.add(carry.n, 1);
      return { carry: { n }, metrics: T.reshape(n, [1]) };
    },
    afterEpoch: (_carry, summary) => {
      assert.equal(summary.steps, 3);
      means.push(summary.mean.n);
      return Promise.resolve();
    },
    quiet: true,
  });
  assert.deepEqual(
    seen.map((at) => [at.epoch, at.index, at.step]),
    [[1, 1, 5], [1, 2, 6], [1, 3, 7], [2, 1, 9], [2, 2, 10], [2, 3, 11]],
  );
  assert.deepEqual(means, [2, 5]);
  assert.equal(released.length, 16, "every batch is freed, skipped or not");
  assert.ok(released.every((t) => t.disposed));
  assert.equal((await T.toArray(final.n))[0], 6);
  T.dispose(final);
});

Deno.test("trainLoop: a step that throws frees its batch and the tensors it made", async () => {
  const carry = { w: T.ones([2]) };
  const before = T.memoryStats().liveTensors;
  let batch: Batch | undefined;
  await assert.rejects(
    trainLoop({
      label: "test",
      carry,
      epochs: 1,
      batchesPerEpoch: 4,
      batches: async function* (epoch) {
        for await (const b of batches(epoch)) yield (batch = b);
      },
      release: (b) => b,
      step: (c) => {
        T.mul(c.w, 2);
        throw new Error("boom");
      },
      quiet: true,
    }),
    /boom/,
  );
  assert.ok(batch!.x.disposed && batch!.y.disposed);
  assert.equal(T.memoryStats().liveTensors, before);
  T.dispose(carry);
});
