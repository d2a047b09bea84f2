"""Golden edge cases for Tessella's ops, computed by PyTorch.

Seeded random cases in the spirit of the differential test (tests/differential_test.ts),
but with PyTorch as the reference: elementwise ops, reductions and composites on shapes
with size-0 and size-1 axes and broadcasting pairs, with NaN, +-inf and signed zeros mixed
into ordinary values; weakly typed Python numbers meeting bool, int and float tensors;
variance and std with few elements; cosine similarity of broadcast operands. Each case
records its inputs, the output and, for float outputs, the VJP of a fixed cotangent.
Writes tests/fixtures/golden_edge.json; CI reads the committed file (no torch needed).

Non-finite floats are written as the strings "NaN", "Infinity", "-Infinity", and -0.0 as
"-0" (JSON has no spelling for them).

The intended differences from PyTorch (docs/semantics.md) are left out of the inputs:
sign of NaN, casts of non-finite floats to integers, integer powers.

    /usr/bin/python3 tools/golden/edge.py tests/fixtures/golden_edge.json
"""

import json
import math
import random
import sys

import torch
import torch.nn.functional as F

SEED = 20261202
rng = random.Random(SEED)
torch.manual_seed(SEED)

SPECIALS = [float("nan"), float("inf"), float("-inf"), 0.0, -0.0]


def number(v):
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    if v == 0 and math.copysign(1.0, v) < 0:
        return "-0"
    return v


def encode(t):
    if isinstance(t, bool):
        return {"scalar": t}
    if not isinstance(t, torch.Tensor):
        return {"scalar": number(t)}
    dtype = {torch.float32: "float32", torch.int64: "int32", torch.int32: "int32", torch.bool: "bool"}[t.dtype]
    data = t.flatten().tolist()
    return {"shape": list(t.shape), "dtype": dtype, "data": [number(float(v)) if dtype == "float32" else int(v) for v in data]}


def shape(max_rank=3, min_dim=0, max_dim=4, min_rank=0):
    return [rng.randint(min_dim, max_dim) for _ in range(rng.randint(min_rank, max_rank))]


def broadcast_pair():
    out = shape(min_dim=0)
    def derive():
        drop = rng.randint(0, len(out))
        return [1 if rng.random() < 0.3 else d for d in out[drop:]]
    return derive(), derive()


def values(s, lo=-3.0, hi=3.0, special=0.25):
    n = 1
    for d in s:
        n *= d
    data = []
    for _ in range(n):
        if rng.random() < special:
            data.append(rng.choice(SPECIALS))
        else:
            data.append(round(rng.uniform(lo, hi), 3))
    return torch.tensor(data, dtype=torch.float32).reshape(s)


CASES = []


def case(name, fn, inputs, grad=True, **kwargs):
    """Records fn(*inputs) and, for float outputs, its VJP for a fixed cotangent."""
    leaves = [x.clone().requires_grad_(grad and x.dtype == torch.float32) if isinstance(x, torch.Tensor) else x for x in inputs]
    out = fn(*leaves)
    entry = {"name": name, "kwargs": kwargs, "inputs": [encode(x.detach() if isinstance(x, torch.Tensor) else x) for x in leaves], "output": encode(out.detach())}
    wrt = [x for x in leaves if isinstance(x, torch.Tensor) and x.requires_grad]
    if grad and out.dtype == torch.float32 and wrt and out.requires_grad:
        cot = torch.tensor([math.sin(1.3 * i + 0.7) for i in range(out.numel())], dtype=torch.float32).reshape(out.shape)
        grads = iter(torch.autograd.grad(out, wrt, grad_outputs=cot, allow_unused=True))
        entry["cotangent"] = encode(cot)
        entry["grads"] = []
        for x in leaves:
            if isinstance(x, torch.Tensor) and x.requires_grad:
                g = next(grads)
                entry["grads"].append(encode(g if g is not None else torch.zeros_like(x)))
            else:
                entry["grads"].append(None)
    CASES.append(entry)


UNARY = {
    "neg": torch.neg, "abs": torch.abs, "exp": torch.exp, "log": torch.log, "log1p": torch.log1p,
    "sqrt": torch.sqrt, "rsqrt": torch.rsqrt, "square": torch.square, "reciprocal": torch.reciprocal,
    "sin": torch.sin, "cos": torch.cos, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu,
    "erf": torch.erf, "gelu": F.gelu, "floor": torch.floor, "ceil": torch.ceil, "round": torch.round,
    "isfinite": torch.isfinite, "logical_not": torch.logical_not, "to_bool": lambda x: x.bool(),
}
BINARY = {
    "add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div, "pow": torch.pow,
    "maximum": torch.maximum, "minimum": torch.minimum, "eq": torch.eq, "ne": torch.ne, "lt": torch.lt,
    "le": torch.le, "gt": torch.gt, "ge": torch.ge, "logical_and": torch.logical_and,
    "logical_or": torch.logical_or, "where": lambda a, b: torch.where(a > 0, a, b),
}
# Gradients through kinks and non-finite values follow each library's conventions; these
# are compared on the forward pass only.
NO_GRAD = {"floor", "ceil", "round", "isfinite", "logical_not", "to_bool", "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or"}

for name, fn in UNARY.items():
    for _ in range(6):
        x = values(shape())
        case(name, fn, [x], grad=name not in NO_GRAD and bool(torch.isfinite(x).all()) and not (x == 0).any())

for name, fn in BINARY.items():
    for _ in range(6):
        sa, sb = broadcast_pair()
        lo = 0.1 if name == "pow" else -3.0
        a, b = values(sa, lo=lo), values(sb)
        if name == "pow":
            b = torch.where(torch.rand(b.shape) < 0.5, b.round(), b)  # integer exponents, for negative bases
        finite = bool(torch.isfinite(a).all() and torch.isfinite(b).all())
        case(name, fn, [a, b], grad=name not in NO_GRAD and finite and name not in {"maximum", "minimum", "where"})

# Reductions over random axes, keepdim or not.
REDUCE = {
    "sum": lambda x, d, k: x.sum(dim=d, keepdim=k),
    "mean": lambda x, d, k: x.mean(dim=d, keepdim=k),
    "amax": lambda x, d, k: torch.amax(x, dim=d, keepdim=k),
    "amin": lambda x, d, k: torch.amin(x, dim=d, keepdim=k),
    "logsumexp": lambda x, d, k: torch.logsumexp(x, dim=d, keepdim=k),
    "var": lambda x, d, k: torch.var(x, dim=d, keepdim=k, unbiased=False),
    "var_ddof1": lambda x, d, k: torch.var(x, dim=d, keepdim=k, unbiased=True),
    "std": lambda x, d, k: torch.std(x, dim=d, keepdim=k, unbiased=False),
    "std_ddof1": lambda x, d, k: torch.std(x, dim=d, keepdim=k, unbiased=True),
    "norm": lambda x, d, k: torch.linalg.vector_norm(x, ord=2, dim=d, keepdim=k),
}
for name, fn in REDUCE.items():
    for i in range(10):
        # amax/amin need a non-empty reduced axis; logsumexp too in PyTorch 1.13.
        s = shape(min_rank=1, min_dim=1 if name in {"amax", "amin", "logsumexp"} else (0 if i % 3 == 0 else 1))
        x = values(s, special=0.2 if i % 2 else 0.0)
        axes = sorted(rng.sample(range(len(s)), rng.randint(1, len(s))))
        keep = rng.random() < 0.5
        finite = bool(torch.isfinite(x).all())
        case(name, lambda t, a=tuple(axes), k=keep, f=fn: f(t, a, k), [x], grad=finite and name not in {"amax", "amin"}, axis=axes, keepDims=keep)

# Few elements: n <= ddof gives NaN; an empty axis gives NaN (mean 0/0).
case("var_ddof1", lambda t: torch.var(t, dim=(1,), keepdim=False, unbiased=True), [torch.zeros(2, 0)], grad=False, axis=[1], keepDims=False)
case("std_ddof1", lambda t: torch.std(t, dim=(0,), keepdim=False, unbiased=True), [torch.tensor([3.0])], grad=False, axis=[0], keepDims=False)
case("std", lambda t: torch.std(t, dim=(0,), keepdim=False, unbiased=False), [torch.tensor([float("nan"), 1.0])], grad=False, axis=[0], keepDims=False)
case("std", lambda t: torch.std(t, dim=(0,), keepdim=False, unbiased=False), [torch.tensor([float("inf"), 1.0])], grad=False, axis=[0], keepDims=False)
case("norm", lambda t: torch.linalg.vector_norm(t, dim=(0,)), [torch.tensor([float("nan"), 1.0])], grad=False, axis=[0], keepDims=False)
case("norm", lambda t: torch.linalg.vector_norm(t, dim=(0,)), [torch.tensor([0.0, 0.0])], axis=[0], keepDims=False)

# Composites along the last axis.
for _ in range(8):
    s = shape(min_rank=1, min_dim=1)
    x = values(s, special=0.15)
    finite = bool(torch.isfinite(x).all())
    case("softmax", lambda t: torch.softmax(t, dim=-1), [x], grad=finite)
    case("log_softmax", lambda t: torch.log_softmax(t, dim=-1), [x], grad=finite)
    case("normalize", lambda t: F.normalize(t, dim=-1), [x], grad=finite and bool((x != 0).any()))
    # Over one element the output is (x − mean)/√eps: PyTorch's rounding of the mean,
    # times 1000, against our exact 0. Rows of two or more.
    if s[-1] > 1:
        case("layer_norm", lambda t: F.layer_norm(t, t.shape[-1:], eps=1e-6), [x], grad=finite)

# Cosine similarity of broadcast operands (no zero vectors: the eps conventions differ
# between PyTorch versions).
for _ in range(10):
    sa, sb = broadcast_pair()
    while len(sa) == 0 and len(sb) == 0:
        sa, sb = broadcast_pair()
    rank = max(len(sa), len(sb))
    out = [max(x, y) if x != 0 and y != 0 else 0 for x, y in zip([1] * (rank - len(sa)) + sa, [1] * (rank - len(sb)) + sb)]
    if 0 in out:
        continue
    a = values(sa, lo=0.2, hi=3.0, special=0.0)
    b = values(sb, lo=0.2, hi=3.0, special=0.0)
    axis = -1 if rng.random() < 0.5 else 0
    case("cosine_similarity", lambda x, y, d=axis: F.cosine_similarity(x, y, dim=d), [a, b], axis=axis)
case("cosine_similarity", lambda x, y: F.cosine_similarity(x, y, dim=0), [torch.tensor([1.0, 2.0, 3.0]), torch.tensor([1.0])], axis=0)

# Python numbers meeting tensors of each dtype ("weak" scalars), both operand orders.
# Arithmetic on two bools is left out: PyTorch and NumPy give bool (logical or / and),
# Tessella counts in int32 (docs/semantics.md).
TENSORS = [torch.tensor([True, False]), torch.tensor([3, -2], dtype=torch.int32), torch.tensor([1.5, -2.0])]


def weak_maximum(a, s):
    dtype = torch.result_type(a, s)
    return torch.maximum(a.to(dtype), torch.tensor(s, dtype=dtype))


SCALAR_OPS = {
    "add": lambda a, s: a + s, "sub": lambda a, s: a - s, "mul": lambda a, s: a * s,
    "div": lambda a, s: a / s, "maximum": weak_maximum, "lt": lambda a, s: a < s,
    "eq": lambda a, s: a == s,
    "rsub": lambda a, s: s - a, "rdiv": lambda a, s: s / a, "rlt": lambda a, s: s < a,
}
for t in TENSORS:
    for scalar in (2, -1, 0.5, True):
        for name, fn in SCALAR_OPS.items():
            if t.dtype == torch.bool and isinstance(scalar, bool) and name in {"add", "mul"}:
                continue
            if (t.dtype == torch.bool or isinstance(scalar, bool)) and name in {"sub", "rsub"}:
                continue  # PyTorch refuses to subtract with bools (NumPy counts in int)
            case(f"scalar_{name}", fn, [t, scalar], grad=False)

with open(sys.argv[1], "w") as f:
    json.dump({"generator": "tools/golden/edge.py", "torch": torch.__version__, "seed": SEED, "cases": CASES}, f, separators=(",", ":"))
print(f"{len(CASES)} cases")
