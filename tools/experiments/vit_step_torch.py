"""The CPU bench's ViT training steps in PyTorch, timed beside Tessella's.

The model is bench/vit_train_step.ts's ViT written as plain torch modules, as the
official BEiT ViT class builds it: 4x4 patch embedding (a conv), CLS token, absolute
position embedding, pre-norm blocks (LayerNorm eps 1e-6; qkv with q and v biases, 2
heads; GELU MLP of ratio 4), mean pooling of the patch tokens with its LayerNorm (fc_norm),
linear head; cross-entropy;
AdamW (lr 1e-3, weight decay 0.05). One step is forward, zero_grad, backward, step (with
zero_grad before the forward the same step was ~4x slower here: an allocator effect).

For each size (width 128 depth 6 batch 64; width 64 depth 4 batch 128; width 64 depth 2
batch 128) it times PyTorch on 1 and on 2 threads and Tessella's CPU backend
(`deno run -A tools/experiments/vit_step.ts cpu --size W,D,B --json`), alternating the
two twice, and prints the medians and the ratio Tessella / PyTorch (PyTorch at its best).

    OPENBLAS_CORETYPE=SkylakeX OPENBLAS_L2_SIZE= /usr/bin/python3 tools/experiments/vit_step_torch.py

Debian's python3-torch needs libopenblas0-pthread for a fast BLAS (apt-get install
python3-torch libopenblas0-pthread); the variables above select its AVX-512 kernels.
Set DENO to the deno binary (default: `npx -y deno@2.9.6`).
"""

import json
import os
import shlex
import statistics
import subprocess
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

SIZES = [(128, 6, 64), (64, 4, 128), (64, 2, 128)]
STEPS = 12  # timed steps per measurement, after 3 warm-up steps


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.v_bias = nn.Parameter(torch.zeros(dim))
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, t, d = x.shape
        bias = torch.cat([self.q_bias, torch.zeros_like(self.v_bias), self.v_bias])
        qkv = F.linear(x, self.qkv.weight, bias).reshape(b, t, 3, self.heads, d // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        a = ((q * (d // self.heads) ** -0.5) @ k.transpose(-2, -1)).softmax(dim=-1)
        return self.proj((a @ v).transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    def __init__(self, dim, depth, heads=2, patch=4, img=28, classes=10):
        super().__init__()
        n = (img // patch) ** 2
        self.patch_embed = nn.Conv2d(1, dim, patch, stride=patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, n + 1, dim) * 0.02)
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(depth))
        self.fc_norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        t = self.patch_embed(x).flatten(2).transpose(1, 2)
        t = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), t], dim=1) + self.pos_embed
        for block in self.blocks:
            t = block(t)
        return self.head(self.fc_norm(t[:, 1:].mean(1)))


def torch_median(width, depth, batch, threads):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = ViT(width, depth)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    images = torch.rand(batch, 1, 28, 28)
    labels = torch.arange(batch) % 10
    times = []
    for i in range(STEPS + 3):
        t0 = time.perf_counter()
        loss = F.cross_entropy(model(images), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss.item()
        if i >= 3:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def tessella_median(width, depth, batch):
    deno = shlex.split(os.environ.get("DENO", "npx -y deno@2.9.6"))
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    command = deno + ["run", "-A", "tools/experiments/vit_step.ts", "cpu", "--size",
                      f"{width},{depth},{batch}", "--steps", str(STEPS + 1), "--json"]
    out = subprocess.run(command, cwd=root, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])["median"]


def main():
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    torch.set_num_threads(1)
    for _ in range(3):
        a @ b
    t0 = time.perf_counter()
    for _ in range(5):
        a @ b
    gflops = 5 * 2 * 1024**3 / (time.perf_counter() - t0) / 1e9
    print(f"torch {torch.__version__}; matmul 1024x1024, 1 thread: {gflops:.0f} GFLOP/s "
          "(a reference BLAS gives ~2: install libopenblas0-pthread)")
    rows = []
    for width, depth, batch in SIZES:
        runs = {"torch 1 thread": [], "torch 2 threads": [], "tessella": []}
        for _ in range(2):  # alternated: the machine drifts by tens of percent within minutes
            runs["torch 1 thread"].append(torch_median(width, depth, batch, 1))
            runs["torch 2 threads"].append(torch_median(width, depth, batch, 2))
            runs["tessella"].append(tessella_median(width, depth, batch))
        best = {k: min(v) for k, v in runs.items()}
        torch_best = min(best["torch 1 thread"], best["torch 2 threads"])
        rows.append((width, depth, batch, best, best["tessella"] / torch_best))
    print("| ViT step | PyTorch 1 thread | PyTorch 2 threads | Tessella cpu | Tessella / PyTorch |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for width, depth, batch, best, ratio in rows:
        print(f"| width {width} depth {depth} batch {batch} | {best['torch 1 thread']:.3f} s | "
              f"{best['torch 2 threads']:.3f} s | {best['tessella']:.3f} s | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
