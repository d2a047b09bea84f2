"""A context-free baseline for the pixel-target VQ-KD comparison (docs/results.md).

Spherical k-means with 512 codes on Fashion-MNIST's per-patch-normalised 4x4 pixel targets
(the `pixels` teacher: (x - mean) / (std + 1e-6), then l2-normalised), fitted on 200,000
non-constant training patches, 15 iterations, seed 0. Prints the mean cosine of each test
patch to its nearest code, over non-constant patches and over all patches with constant
(zero-target) patches counted as 0, as Tessella's evaluateTokenizer counts them.

    /usr/bin/python3 tools/experiments/pixel_kmeans_baseline.py [DATA_DIR]

Needs numpy only; DATA_DIR defaults to Debian's /usr/share/datasets/fashion-mnist.
"""

import gzip
import sys

import numpy as np

DATA = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist"
CODES, ITERATIONS, SAMPLE = 512, 15, 200_000


def patch_targets(path):
    raw = gzip.open(path).read()
    x = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28).astype(np.float32) / 255
    p = x.reshape(-1, 7, 4, 7, 4).transpose(0, 1, 3, 2, 4).reshape(-1, 16)
    t = (p - p.mean(-1, keepdims=True)) / (p.std(-1, keepdims=True) + 1e-6)
    norm = np.linalg.norm(t, axis=-1, keepdims=True)
    return t / np.maximum(norm, 1e-12), norm[:, 0] > 1e-6


rng = np.random.default_rng(0)
train, train_ok = patch_targets(f"{DATA}/train-images-idx3-ubyte.gz")
test, test_ok = patch_targets(f"{DATA}/t10k-images-idx3-ubyte.gz")
x = train[train_ok][rng.choice(train_ok.sum(), SAMPLE, replace=False)]
codes = x[rng.choice(len(x), CODES, replace=False)]
for _ in range(ITERATIONS):
    assign = (x @ codes.T).argmax(1)
    for k in range(CODES):
        members = x[assign == k]
        if len(members):
            v = members.sum(0)
            codes[k] = v / np.linalg.norm(v)
best = (test @ codes.T).max(1)
print(f"constant test patches: {1 - test_ok.mean():.4f}")
print(f"mean cosine, non-constant patches: {best[test_ok].mean():.4f}")
print(f"mean cosine, all patches (constant = 0): {(best * test_ok).mean():.4f}")
