"""Golden fixtures for Tessella's op tests, computed by PyTorch.

For each case: float32 inputs, the op's output, a fixed random cotangent, and the
gradient of sum(output * cotangent) with respect to every float input (the VJP).
Writes tests/fixtures/golden_ops.json. CI does not run this; it reads the committed file.

Run with Debian's PyTorch (the first python3 on PATH on our machines has no torch):

    apt-get install -y python3-torch
    /usr/bin/python3 tools/golden/ops.py tests/fixtures/golden_ops.json
"""

import json
import sys

import torch
import torch.nn.functional as F

torch.manual_seed(20261127)


def rand(*shape, lo=-2.0, hi=2.0):
    return (torch.rand(tuple(shape)) * (hi - lo) + lo).float()


def away(*shape, gap=0.1):
    """Values in [-2, 2] with |x| >= gap: no kinks for abs, relu, clip, max."""
    x = rand(*shape)
    return torch.where(x.abs() < gap, torch.sign(x + 1e-9) * (gap + x.abs()), x)


def distinct(*shape):
    """A shuffled grid: no ties for max/min/argmax."""
    n = 1
    for d in shape:
        n *= d
    return (torch.randperm(n).float() * 0.37 - n * 0.18 + 0.0123).reshape(shape)


def encode(t):
    if t is None:
        return None
    dtype = {torch.float32: "float32", torch.int64: "int32", torch.bool: "bool"}[t.dtype]
    return {"shape": list(t.shape), "dtype": dtype, "data": [float(v) if dtype == "float32" else int(v) for v in t.flatten().tolist()]}


CASES = []


def case(name, fn, inputs, **kwargs):
    """Records fn(*inputs) and its VJP for a random cotangent."""
    leaves = [x.clone().requires_grad_(x.dtype == torch.float32) for x in inputs]
    out = fn(*leaves)
    entry = {"name": name, "kwargs": kwargs, "inputs": [encode(x.detach()) for x in leaves], "output": encode(out.detach())}
    if out.dtype == torch.float32:
        cot = rand(*out.shape)
        grads = torch.autograd.grad(out, [x for x in leaves if x.requires_grad], grad_outputs=cot, allow_unused=True)
        grads = iter(grads)
        entry["cotangent"] = encode(cot)
        entry["grads"] = [encode(next(grads)) if x.requires_grad else None for x in leaves]
    CASES.append(entry)


# Elementwise, one input
case("neg", torch.neg, [rand(3, 4)])
case("abs", torch.abs, [away(3, 4)])
case("exp", torch.exp, [rand(3, 4)])
case("log", torch.log, [rand(3, 4, lo=0.1, hi=3)])
case("log1p", torch.log1p, [rand(3, 4, lo=-0.9, hi=3)])
case("sqrt", torch.sqrt, [rand(3, 4, lo=0.1, hi=3)])
case("rsqrt", torch.rsqrt, [rand(3, 4, lo=0.1, hi=3)])
case("square", torch.square, [rand(3, 4)])
case("reciprocal", torch.reciprocal, [away(3, 4, gap=0.3)])
case("sin", torch.sin, [rand(3, 4)])
case("cos", torch.cos, [rand(3, 4)])
case("tanh", torch.tanh, [rand(3, 4)])
case("sigmoid", torch.sigmoid, [rand(3, 4, lo=-6, hi=6)])
case("relu", torch.relu, [away(3, 4)])
case("gelu", F.gelu, [rand(3, 4, lo=-4, hi=4)])
case("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"), [rand(3, 4, lo=-4, hi=4)])
case("erf", torch.erf, [rand(3, 4)])
case("round", torch.round, [torch.tensor([0.5, 1.5, 2.5, -0.5, -1.5, 0.4, 2.6])])
case("clip", lambda x: torch.clamp(x, -0.5, 0.7), [away(3, 4)])

# Elementwise, two inputs, with broadcasting
case("add", torch.add, [rand(2, 3, 4), rand(4)])
case("sub", torch.sub, [rand(3, 1), rand(1, 4)])
case("mul", torch.mul, [rand(2, 1, 4), rand(3, 1)])
case("div", torch.div, [rand(3, 4), rand(4, lo=0.5, hi=2)])
case("pow", torch.pow, [rand(3, 4, lo=0.2, hi=2), rand(3, 4)])
case("maximum", torch.maximum, [rand(3, 4, lo=0.1, hi=2), rand(4, lo=-2, hi=-0.1)])
case("minimum", torch.minimum, [rand(3, 4, lo=0.1, hi=2), rand(3, 1, lo=-2, hi=-0.1)])
case("where", lambda a, b: torch.where(a > 0, a, b), [away(3, 4), rand(4)])

# Reductions
case("sum_axis", lambda x: x.sum(dim=1), [rand(2, 3, 4)])
case("sum_keepdims", lambda x: x.sum(dim=(0, 2), keepdim=True), [rand(2, 3, 4)])
case("mean", lambda x: x.mean(dim=-1), [rand(2, 3, 4)])
case("max_axis", lambda x: torch.amax(x, dim=1), [distinct(2, 3, 4)])
case("min_all", torch.amin, [distinct(3, 4)])
case("argmax", lambda x: torch.argmax(x, dim=1), [distinct(3, 4)])
case("logsumexp", lambda x: torch.logsumexp(x, dim=-1), [rand(3, 5, lo=-4, hi=4)])
case("var", lambda x: torch.var(x, dim=1, unbiased=False), [rand(3, 5)])
case("std_unbiased", lambda x: torch.std(x, dim=0, unbiased=True), [rand(3, 5)])
case("norm", lambda x: torch.linalg.vector_norm(x, ord=2, dim=-1), [rand(3, 5)])

# Movement
case("reshape", lambda x: x.reshape(4, 6), [rand(2, 3, 4)])
case("permute", lambda x: x.permute(2, 0, 1), [rand(2, 3, 4)])
case("slice_step", lambda x: x[:, 1::2], [rand(3, 6)])
case("flip", lambda x: torch.flip(x, dims=(0, 2)), [rand(2, 3, 4)])
case("pad", lambda x: F.pad(x, (1, 2, 0, 1), value=0.5), [rand(2, 3)])
case("concat", lambda a, b: torch.cat([a, b], dim=1), [rand(2, 3), rand(2, 2)])
case("stack", lambda a, b: torch.stack([a, b], dim=1), [rand(2, 3), rand(2, 3)])

# Indexing
case("gather", lambda x, i: torch.gather(x, 1, i), [rand(3, 5), torch.tensor([[0, 4], [2, 2], [1, 3]])])
case("embedding", lambda w, i: F.embedding(i, w), [rand(6, 3), torch.tensor([[5, 0, 2], [2, 2, 1]])])
case("scatter_add", lambda x, i, u: x.scatter_add(1, i, u), [rand(3, 5), torch.tensor([[0, 4, 0], [2, 2, 1], [1, 3, 3]]), rand(3, 3)])
case("one_hot", lambda i: F.one_hot(i, 5), [torch.tensor([[0, 4], [2, 1]])])

# Matmul
case("matmul", torch.matmul, [rand(3, 5), rand(5, 4)])
case("matmul_batched", torch.matmul, [rand(2, 1, 3, 5), rand(4, 5, 2)])
case("matmul_rows", torch.matmul, [rand(2, 3, 5), rand(5, 4)])
case("matmul_vector", torch.matmul, [rand(5), rand(2, 5, 3)])

# Composites
case("softmax", lambda x: torch.softmax(x, dim=-1), [rand(3, 5, lo=-4, hi=4)])
case("softmax_axis0", lambda x: torch.softmax(x, dim=0), [rand(3, 5, lo=-4, hi=4)])
case("log_softmax", lambda x: torch.log_softmax(x, dim=-1), [rand(3, 5, lo=-4, hi=4)])
case("layer_norm", lambda x, w, b: F.layer_norm(x, (6,), w, b, eps=1e-6), [rand(2, 3, 6), rand(6), rand(6)])
case("cross_entropy", lambda x, y: F.cross_entropy(x, y), [rand(4, 5, lo=-3, hi=3), torch.tensor([0, 4, 2, 2])])
case("cross_entropy_smoothing", lambda x, y: F.cross_entropy(x, y, label_smoothing=0.1), [rand(4, 5, lo=-3, hi=3), torch.tensor([1, 3, 0, 4])])
case("cosine_similarity", lambda a, b: F.cosine_similarity(a, b, dim=-1), [away(3, 5), away(3, 5)])
case("normalize", lambda x: F.normalize(x, dim=-1), [away(3, 5)])
case("mse_loss", F.mse_loss, [rand(3, 5), rand(3, 5)])

with open(sys.argv[1], "w") as f:
    json.dump({"generator": "tools/golden/ops.py", "torch": torch.__version__, "seed": 20261127, "cases": CASES}, f, separators=(",", ":"))
print(f"wrote {len(CASES)} cases to {sys.argv[1]}")
