// Training properties of the nn stack: checkpoints are atomic, resuming is bit-exact on
// the CPU (10 steps = 5 steps, save, load, 5 steps), and trainClassifier frees only its own
// tensors. (Live memory over many steps: tests/nn/train_loop_test.ts.)

import assert from "node:assert/strict";
import * as T from "../../mod.ts";
import {
  applyUpdates,
  loadCheckpoint,
  saveCheckpoint,
  trainClassifier,
  type ViTParams,
} from "../../nn/mod.ts";
import { images, labels, optimizer, vit } from "./_small_vit.ts";

interface TrainState {
  params: ViTParams;
  opt: unknown[];
  key: T.Key;
  step: number;
}

function initState(): TrainState {
  const params = vit.init(T.key(0));
  return { params, opt: optimizer.init(params), key: T.key(1), step: 0 };
}

/** One training step with dropout and drop path: everything random comes from the state's key. */
function trainStep(
  state: TrainState,
  x: T.Tensor,
  y: T.Tensor,
): { state: TrainState; loss: T.Tensor } {
  return T.tidy(() => {
    const [next, stepKey] = T.splitKey(state.key);
    const loss = (p: ViTParams) =>
      T.crossEntropy(vit.apply(p, x, { train: true, key: stepKey }), y, { labelSmoothing: 0.1 });
    const { value, grads } = T.valueAndGrad(loss)(state.params);
    const { updates, state: opt } = optimizer.update(grads, state.opt, state.params);
    return {
      state: { params: applyUpdates(state.params, updates), opt, key: next, step: state.step + 1 },
      loss: value,
    };
  });
}

function run(state: TrainState, steps: number): TrainState {
  const x = images();
  const y = labels();
  for (let i = 0; i < steps; i++) {
    const out = trainStep(state, x, y);
    T.dispose([state.params, state.opt, out.loss]);
    state = out.state;
  }
  return state;
}

Deno.test("resuming from a checkpoint is bit-exact on the CPU (10 steps = 5 + save/load + 5)", async () => {
  const straight = run(initState(), 10);
  const path = await Deno.makeTempFile({ suffix: ".ckpt" });
  const half = run(initState(), 5);
  await saveCheckpoint(path, { ...half, config: { note: "resume test", eps: Infinity } });
  const loaded = await loadCheckpoint<TrainState & { config: { note: string; eps: number } }>(path);
  assert.equal(loaded.step, 5);
  assert.equal(loaded.config.note, "resume test");
  assert.equal(loaded.config.eps, Infinity);
  assert.equal(String(loaded.key), String(half.key));
  const resumed = run({
    params: loaded.params,
    opt: loaded.opt,
    key: loaded.key,
    step: loaded.step,
  }, 5);
  const a = T.treeFlattenWithPath(straight.params);
  const b = T.treeFlattenWithPath(resumed.params);
  assert.deepEqual(a.map(([p]) => p), b.map(([p]) => p));
  for (let i = 0; i < a.length; i++) {
    assert.deepEqual(
      T.toArraySync(b[i][1] as T.Tensor),
      T.toArraySync(a[i][1] as T.Tensor),
      a[i][0],
    );
  }
  const optLeaves = T.treeLeaves(straight.opt);
  const optBack = T.treeLeaves(resumed.opt);
  optLeaves.forEach((leaf, i) => {
    if (leaf instanceof T.Tensor) {
      assert.deepEqual(T.toArraySync(optBack[i] as T.Tensor), T.toArraySync(leaf));
    } else assert.deepEqual(optBack[i], leaf);
  });
  await Deno.remove(path);
});

Deno.test("saveCheckpoint() writes atomically: no temporary files remain, an old file survives a failed write", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/model.ckpt`;
  await saveCheckpoint(path, { w: T.ones([2]), step: 1 });
  await assert.rejects(
    () => saveCheckpoint(path, { bad: () => 1 } as unknown),
    /the leaf at "bad" is a function/,
  );
  await assert.rejects(
    () => saveCheckpoint(`${dir}/missing/dir/x.ckpt`, { w: T.ones([1]) }),
    /Cannot write/,
  );
  const names = [...Deno.readDirSync(dir)].map((e) => e.name);
  assert.deepEqual(names, ["model.ckpt"]);
  const back = await loadCheckpoint<{ w: T.Tensor; step: number }>(path);
  assert.equal(back.step, 1);
  await assert.rejects(
    () => loadCheckpoint(`${dir}/nope.ckpt`),
    /Cannot use checkpoint .*nope\.ckpt: No such file/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("trainClassifier() leaves the caller's params alive and frees only its own tensors", async () => {
  const params = vit.init(T.key(3));
  const data = {
    pixels: Uint8Array.from({ length: 16 * 64 }, (_, i) => (i * 37) % 256),
    labels: Int32Array.from({ length: 16 }, (_, i) => i % 3),
    shape: [16, 1, 8, 8] as [number, number, number, number],
  };
  const before = T.memoryStats().liveTensors;
  const { params: trained } = await trainClassifier({
    apply: (p: ViTParams, x, o) => vit.apply(p, x, o),
    params,
    optimizer,
    data,
    epochs: 2,
    batchSize: 4,
    key: T.key(4),
    quiet: true,
  });
  // The input tree is still usable (a fine-tune shares it with the pretrained params)...
  for (const leaf of T.treeLeaves(params)) await T.toArray(leaf as T.Tensor);
  // ...and what is live now is exactly the returned params on top of what was there.
  assert.equal(T.memoryStats().liveTensors, before + T.treeLeaves(trained).length);
  T.dispose([params, trained]);
});
