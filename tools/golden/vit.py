"""Golden fixture for the whole ViT block stack, computed by PyTorch.

A tiny BEiT-style ViT written here in plain torch after the official `modeling_finetune.py`
building blocks: patch-embedding conv, CLS token, absolute position embedding, a *shared*
relative position bias, pre-norm blocks with q/v biases and layer scale, final LayerNorm
on the CLS token (no mean pooling), linear head. These paths complement the official-code
fixture (per-block relative bias, mean pooling). Every parameter is random (no zeros).

Writes tests/fixtures/golden_vit.safetensors: `param.<name>` (state-dict names), `images`
[4,1,28,28], `labels` [4], `logits` [4,10], `loss` (cross-entropy, label smoothing 0.1)
and `grad.<name>` for every parameter; plus the config as JSON metadata.

    /usr/bin/python3 tools/golden/vit.py tests/fixtures/golden_vit.safetensors
"""

import json
import math
import struct
import sys

import torch
import torch.nn.functional as F

torch.manual_seed(7)

CONFIG = {
    "img_size": 28, "patch_size": 4, "in_chans": 1, "num_classes": 10, "embed_dim": 32,
    "depth": 2, "num_heads": 2, "mlp_ratio": 4.0, "qkv_bias": True, "init_values": 0.1,
    "use_abs_pos_emb": True, "use_rel_pos_bias": False, "use_shared_rel_pos_bias": True,
    "use_mean_pooling": False, "norm_eps": 1e-6,
}
D, H, P, G = CONFIG["embed_dim"], CONFIG["num_heads"], CONFIG["patch_size"], 7
N, T = G * G, G * G + 1
R = (2 * G - 1) ** 2 + 3


def rel_index():
    idx = torch.zeros(T, T, dtype=torch.long)
    coords = [(r, c) for r in range(G) for c in range(G)]
    for q, (rq, cq) in enumerate(coords):
        for k, (rk, ck) in enumerate(coords):
            idx[q + 1, k + 1] = (rq - rk + G - 1) * (2 * G - 1) + (cq - ck + G - 1)
    idx[0, :] = R - 3
    idx[:, 0] = R - 2
    idx[0, 0] = R - 1
    return idx


def param(*shape, std=0.3):
    return (torch.randn(*shape) * std).requires_grad_(True)


params = {"cls_token": param(1, 1, D), "pos_embed": param(1, T, D),
          "patch_embed.proj.weight": param(D, 1, P, P), "patch_embed.proj.bias": param(D),
          "rel_pos_bias.relative_position_bias_table": param(R, H)}
for i in range(CONFIG["depth"]):
    b = f"blocks.{i}."
    params.update({
        b + "gamma_1": (0.1 + param(D, std=0.05)).detach().requires_grad_(True),
        b + "gamma_2": (0.1 + param(D, std=0.05)).detach().requires_grad_(True),
        b + "norm1.weight": (1 + param(D, std=0.1)).detach().requires_grad_(True), b + "norm1.bias": param(D, std=0.1),
        b + "attn.q_bias": param(D, std=0.1), b + "attn.v_bias": param(D, std=0.1),
        b + "attn.qkv.weight": param(3 * D, D, std=0.2),
        b + "attn.proj.weight": param(D, D, std=0.2), b + "attn.proj.bias": param(D, std=0.1),
        b + "norm2.weight": (1 + param(D, std=0.1)).detach().requires_grad_(True), b + "norm2.bias": param(D, std=0.1),
        b + "mlp.fc1.weight": param(4 * D, D, std=0.2), b + "mlp.fc1.bias": param(4 * D, std=0.1),
        b + "mlp.fc2.weight": param(D, 4 * D, std=0.1), b + "mlp.fc2.bias": param(D, std=0.1),
    })
params.update({"norm.weight": (1 + param(D, std=0.1)).detach().requires_grad_(True), "norm.bias": param(D, std=0.1),
               "head.weight": param(10, D, std=0.2), "head.bias": param(10, std=0.1)})


def forward(p, x):
    eps = CONFIG["norm_eps"]
    B = x.shape[0]
    t = F.conv2d(x, p["patch_embed.proj.weight"], p["patch_embed.proj.bias"], stride=P)  # [B, D, 7, 7]
    t = t.flatten(2).transpose(1, 2)  # [B, N, D]
    t = torch.cat([p["cls_token"].expand(B, -1, -1), t], dim=1) + p["pos_embed"]
    rel = p["rel_pos_bias.relative_position_bias_table"][rel_index().view(-1)].view(T, T, H).permute(2, 0, 1)
    for i in range(CONFIG["depth"]):
        b = f"blocks.{i}."
        h = F.layer_norm(t, (D,), p[b + "norm1.weight"], p[b + "norm1.bias"], eps)
        bias = torch.cat([p[b + "attn.q_bias"], torch.zeros_like(p[b + "attn.v_bias"]), p[b + "attn.v_bias"]])
        qkv = F.linear(h, p[b + "attn.qkv.weight"], bias).reshape(B, T, 3, H, D // H).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * (D // H) ** -0.5, qkv[1], qkv[2]
        a = (q @ k.transpose(-2, -1) + rel).softmax(dim=-1)
        o = (a @ v).transpose(1, 2).reshape(B, T, D)
        t = t + p[b + "gamma_1"] * F.linear(o, p[b + "attn.proj.weight"], p[b + "attn.proj.bias"])
        h = F.layer_norm(t, (D,), p[b + "norm2.weight"], p[b + "norm2.bias"], eps)
        m = F.linear(F.gelu(F.linear(h, p[b + "mlp.fc1.weight"], p[b + "mlp.fc1.bias"])), p[b + "mlp.fc2.weight"], p[b + "mlp.fc2.bias"])
        t = t + p[b + "gamma_2"] * m
    t = F.layer_norm(t, (D,), p["norm.weight"], p["norm.bias"], eps)
    return F.linear(t[:, 0], p["head.weight"], p["head.bias"])


images = torch.rand(4, 1, 28, 28)
labels = torch.tensor([3, 7, 0, 9])
logits = forward(params, images)
loss = F.cross_entropy(logits, labels, label_smoothing=0.1)
grads = torch.autograd.grad(loss, list(params.values()))

out = {f"param.{k}": v.detach() for k, v in params.items()}
out.update({"images": images, "labels": labels.int(), "logits": logits.detach(), "loss": loss.detach().reshape(1)})
out.update({f"grad.{k}": g for k, g in zip(params, grads)})

codes = {torch.float32: "F32", torch.int32: "I32"}
header, blobs, offset = {"__metadata__": {"config": json.dumps(CONFIG), "generator": "tools/golden/vit.py", "torch": torch.__version__}}, [], 0
for name, t in out.items():
    data = t.contiguous().numpy().tobytes()
    header[name] = {"dtype": codes[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
    blobs.append(data)
    offset += len(data)
h = json.dumps(header, separators=(",", ":")).encode()
h += b" " * (-len(h) % 8)
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
print(f"wrote {len(out)} tensors to {sys.argv[1]}; loss {loss.item():.6f}")
