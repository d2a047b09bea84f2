// Optimizers and schedules: table-driven convergence on a parabola and on Rosenbrock's
// valley, AdamW against a hand-computed reference, the official weight-decay mask,
// gradient clipping, the cosine schedule's official values and layer-wise decay.

import assert from "node:assert/strict";
import * as T from "../../mod.ts";
import {
  adamw,
  addDecayedWeights,
  applyUpdates,
  chain,
  clipByGlobalNorm,
  constant,
  defaultDecayMask,
  globalNorm,
  type GradientTransformation,
  layerwiseLrDecay,
  scaleByAdam,
  scaleByLearningRate,
  scaleByTree,
  sgd,
  warmupCosine,
} from "../../nn/mod.ts";
import { testOnBackends } from "../_backends.ts";
import { assertClose, assertTensorClose } from "../_helpers.ts";

type P = { x: T.Tensor };
const parabola = (p: P) =>
  T.sum(T.square(T.sub(p.x, T.tensor([3, -1, 0.5], { backend: p.x.backend }))));
/** A problem: its loss, a start and the minimum. */
const PARABOLA = { loss: parabola, start: [0, 0, 0], target: [3, -1, 0.5] };
const rosenbrock = (p: P) => {
  const [x, y] = T.split(p.x, 2);
  return T.sum(T.add(T.square(T.sub(1, x)), T.mul(T.square(T.sub(y, T.square(x))), 100)));
};
/** A problem: its loss, a start and the minimum. */
const ROSENBROCK = { loss: rosenbrock, start: [-1.2, 1], target: [1, 1] };

const CASES: {
  name: string;
  loss: (p: P) => T.Tensor;
  start: number[];
  target: number[];
  opt: () => GradientTransformation<unknown[]>;
  steps: number;
  tol: number;
}[] = [
  {
    name: "sgd on a parabola",
    ...PARABOLA,
    opt: () => sgd({ learningRate: 0.1 }),
    steps: 100,
    tol: 1e-4,
  },
  {
    name: "sgd with momentum on a parabola",
    ...PARABOLA,
    opt: () => sgd({ learningRate: 0.05, momentum: 0.9 }),
    steps: 300,
    tol: 1e-4,
  },
  {
    name: "adamw on a parabola",
    ...PARABOLA,
    opt: () => adamw({ learningRate: 0.1, weightDecay: 0 }),
    steps: 400,
    tol: 1e-3,
  },
  {
    name: "adamw with warmup-cosine on Rosenbrock",
    ...ROSENBROCK,
    opt: () =>
      adamw({
        learningRate: warmupCosine({
          baseValue: 0.05,
          finalValue: 1e-4,
          totalSteps: 3000,
          warmupSteps: 50,
        }),
        weightDecay: 0,
        b2: 0.99,
      }),
    steps: 3000,
    tol: 2e-2,
  },
  {
    name: "sgd with momentum on Rosenbrock",
    ...ROSENBROCK,
    opt: () => sgd({ learningRate: 8e-4, momentum: 0.9 }),
    steps: 3000,
    tol: 1e-3,
  },
];

for (const c of CASES) {
  testOnBackends(`${c.name} converges`, async () => {
    const opt = c.opt();
    let params: P = { x: T.tensor(c.start) };
    let state = opt.init(params);
    for (let i = 0; i < c.steps; i++) {
      const next = T.tidy(() => {
        const grads = T.grad(c.loss)(params);
        const { updates, state: s } = opt.update(grads, state, params);
        return { params: applyUpdates(params, updates), state: s };
      });
      T.dispose([params, state]);
      params = next.params;
      state = next.state;
    }
    assertClose(await T.toArray(params.x), c.target, { atol: c.tol, rtol: 0 }, c.name);
  });
}

Deno.test("adamw() matches PyTorch's AdamW update computed by hand (with weight decay)", () => {
  const lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.05;
  const opt = adamw({ learningRate: lr, b1, b2, eps, weightDecay: wd, mask: { w: true } });
  let params = { w: T.tensor([0.5, -1.5], { dtype: "float64" }) };
  let state = opt.init(params);
  const gradsSeq = [[0.1, -0.2], [0.3, 0.1], [-0.05, 0.4]];
  let p = [0.5, -1.5], m = [0, 0], v = [0, 0];
  gradsSeq.forEach((g, step) => {
    const t = step + 1;
    p = p.map((pi, i) => {
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] ** 2;
      const mhat = m[i] / (1 - b1 ** t);
      const vhat = v[i] / (1 - b2 ** t);
      return pi - lr * (mhat / (Math.sqrt(vhat) + eps) + wd * pi); // decoupled decay on the old p
    });
    m = [...m];
    v = [...v];
    const { updates, state: s } = opt.update(
      { w: T.tensor(g, { dtype: "float64" }) },
      state,
      params,
    );
    params = applyUpdates(params, updates);
    state = s;
  });
  assertClose(T.toArraySync(params.w), p, { atol: 1e-15, rtol: 1e-12 }, "adamw");
});

Deno.test("defaultDecayMask() follows the official parameter groups", () => {
  const params = {
    cls_token: T.zeros([1, 1, 4]),
    mask_token: T.zeros([1, 1, 4]),
    pos_embed: T.zeros([1, 5, 4]),
    patch_embed: { proj: { weight: T.zeros([4, 1, 2, 2]), bias: T.zeros([4]) } },
    rel_pos_bias: { relative_position_bias_table: T.zeros([12, 2]) },
    blocks: [{
      gamma_1: T.zeros([4]),
      norm1: { weight: T.zeros([4]) },
      attn: { qkv: { weight: T.zeros([12, 4]) } },
    }],
    encoder: { cls_token: T.zeros([1, 1, 4]) },
    step: T.zeros([], { dtype: "int32" }),
  };
  assert.deepEqual(defaultDecayMask(params), {
    cls_token: false,
    mask_token: true, // decayed, as the official code (3-D, not in no_weight_decay)
    pos_embed: false,
    patch_embed: { proj: { weight: true, bias: false } },
    rel_pos_bias: { relative_position_bias_table: true }, // decayed too
    blocks: [{ gamma_1: false, norm1: { weight: false }, attn: { qkv: { weight: true } } }],
    encoder: { cls_token: false },
    step: false,
  });
});

Deno.test("clipByGlobalNorm() rescales only when the global norm is above the limit", () => {
  const grads = {
    a: T.tensor([3], { dtype: "float64" }),
    b: T.tensor([4], { dtype: "float64" }),
    none: null,
  };
  assertClose(T.toArraySync(globalNorm(grads)), [5], { atol: 1e-12, rtol: 0 });
  const clip = clipByGlobalNorm(1);
  const out = clip.update(grads, clip.init(grads)).updates;
  assertClose(
    [...T.toArraySync(out.a), ...T.toArraySync(out.b)],
    [3 / (5 + 1e-6), 4 / (5 + 1e-6)],
    { atol: 1e-12, rtol: 0 },
  );
  assert.equal(out.none, null);
  const loose = clipByGlobalNorm(10).update(grads, {}).updates;
  assert.deepEqual(T.toArraySync(loose.a), new Float64Array([3]));
});

Deno.test("warmupCosine() reproduces the official schedules", () => {
  // VQ-KD: 100 epochs × 2502 steps, 10 warmup epochs, peak 2e-4, min 1e-5
  const vqkd = warmupCosine({
    baseValue: 2e-4,
    finalValue: 1e-5,
    totalSteps: 250_200,
    warmupSteps: 25_020,
  });
  assert.equal(vqkd(0), 0);
  assert.equal(vqkd(25_019), 2e-4);
  assert.equal(vqkd(25_020), 2e-4);
  assert.ok(Math.abs(vqkd(250_199) - 1e-5) < 1e-12);
  assert.equal(vqkd(300_000), 1e-5);
  // Pretraining: 625 steps per epoch, 10 warmup epochs, peak 1.5e-3
  const pretrain = warmupCosine({
    baseValue: 1.5e-3,
    finalValue: 1e-5,
    totalSteps: 625 * 300,
    warmupSteps: 6250,
  });
  assert.equal(pretrain(6249), 1.5e-3);
  assert.ok(Math.abs(pretrain(3124) - (1.5e-3 * 3124) / 6249) < 1e-18);
  // Halfway through the cosine part the value is the midpoint.
  const s = warmupCosine({ baseValue: 1, finalValue: 0, totalSteps: 110, warmupSteps: 10 });
  assert.ok(Math.abs(s(60) - 0.5) < 1e-12);
  assert.equal(constant(0.3)(1000), 0.3);
  assert.throws(
    () => warmupCosine({ baseValue: 1, finalValue: 0, totalSteps: 10, warmupSteps: 11 }),
    /warmupSteps/,
  );
});

Deno.test("layerwiseLrDecay() gives the official multipliers", () => {
  const params = {
    cls_token: 0,
    patch_embed: { proj: { weight: 0 } },
    blocks: [{ attn: 0 }, { attn: 0 }, { attn: 0 }],
    fc_norm: { weight: 0 },
    head: { weight: 0 },
  };
  const m = layerwiseLrDecay(params, { depth: 3, decay: 0.5 });
  assert.deepEqual(m, {
    cls_token: 0.5 ** 4,
    patch_embed: { proj: { weight: 0.5 ** 4 } },
    blocks: [{ attn: 0.5 ** 3 }, { attn: 0.5 ** 2 }, { attn: 0.5 }],
    fc_norm: { weight: 1 },
    head: { weight: 1 },
  });
  const opt = adamw({ learningRate: 1, weightDecay: 0, lrMultipliers: { a: 0.25, b: 1 } });
  const p = { a: T.tensor([1], { dtype: "float64" }), b: T.tensor([1], { dtype: "float64" }) };
  const { updates } = opt.update(
    { a: T.tensor([1], { dtype: "float64" }), b: T.tensor([1], { dtype: "float64" }) },
    opt.init(p),
    p,
  );
  assertClose([T.toArraySync(updates.a)[0], T.toArraySync(updates.b)[0]], [-0.25, -1], {
    atol: 1e-6,
    rtol: 0,
  });
});

Deno.test("optimizers pass null gradients through and keep integer leaves", () => {
  const opt = chain(scaleByAdam(), scaleByLearningRate(0.1));
  const params = { w: T.tensor([1]), ids: T.tensor([1, 2], { dtype: "int32" }) };
  const grads = T.grad((p: typeof params) => T.sum(p.w))(params);
  assert.equal(grads.ids, null);
  const { updates } = opt.update(grads, opt.init(params), params);
  const next = applyUpdates(params, updates);
  assert.equal(next.ids, params.ids);
  assert.ok(T.toArraySync(next.w)[0] < 1);
});

testOnBackends(
  "adamw()'s fused step equals its chain of transformations, state included",
  async (backend) => {
    // clipping, a schedule, the default decay mask (matrices decay, biases do not), per-leaf
    // learning-rate multipliers, and a non-tensor leaf, over three steps
    const options = {
      learningRate: warmupCosine({
        baseValue: 0.01,
        finalValue: 1e-4,
        warmupSteps: 1,
        totalSteps: 5,
      }),
      weightDecay: 0.05,
      clipNorm: 1,
      lrMultipliers: { w: 0.5, bias: 1, step: 1 },
    };
    const fused = adamw(options);
    const chained = chain(
      clipByGlobalNorm(1) as GradientTransformation<unknown>,
      scaleByAdam() as GradientTransformation<unknown>,
      addDecayedWeights({ weightDecay: 0.05 }) as GradientTransformation<unknown>,
      scaleByLearningRate(options.learningRate) as GradientTransformation<unknown>,
      scaleByTree(options.lrMultipliers) as GradientTransformation<unknown>,
    );
    const on = (t: T.Tensor) => T.toBackend(t, backend);
    let params: Record<string, unknown> = {
      w: await on(T.normal(T.key(1), [3, 4])),
      bias: await on(T.normal(T.key(2), [4])),
      step: null,
    };
    let [sf, sc] = [fused.init(params), chained.init(params)];
    let pc = params;
    for (let t = 0; t < 3; t++) {
      const grads = {
        w: await on(T.normal(T.key(10 + t), [3, 4])),
        bias: await on(T.normal(T.key(20 + t), [4])),
        step: null,
      };
      const f = fused.update(grads, sf, params);
      const c = chained.update(grads, sc, pc);
      const [fl, cl] = [T.treeLeaves(f), T.treeLeaves(c)];
      assert.equal(fl.length, cl.length);
      for (let i = 0; i < fl.length; i++) {
        if (fl[i] instanceof T.Tensor) {
          // float32 roundings in a different order (one kernel vs. eleven ops)
          await assertTensorClose(fl[i] as T.Tensor, cl[i] as T.Tensor, {
            atol: 1e-7,
            rtol: 1e-5,
          });
        } else assert.deepEqual(fl[i], cl[i]);
      }
      params = applyUpdates(params, f.updates);
      pc = applyUpdates(pc, c.updates);
      [sf, sc] = [f.state, c.state];
    }
  },
);
