"""Small random-weight CLIP and DINO checkpoints, and their features, for the teacher tests.

No real weights can be downloaded here, so this writes tiny models with the published
architectures, in plain torch:
  - CLIP's image tower (OpenAI `model.py` VisionTransformer): conv1 without bias,
    class_embedding, positional_embedding, ln_pre, residual attention blocks with
    nn.MultiheadAttention (in_proj_weight/in_proj_bias, out_proj) and QuickGELU MLPs
    (c_fc, c_proj), ln_post, proj. LayerNorm eps 1e-5. Saved as `visual.*` in a .pth, once
    in float32 and once in float16 under `teacher_model.` (as the tokenizer files carry it).
  - DINO's ViT (`vision_transformer.py`): patch_embed.proj with bias, cls_token, pos_embed,
    blocks with a full qkv bias and exact GELU, final norm with eps 1e-6. Saved as a .pth.
Features follow the official teacher wrappers: CLIP = ln_post(patch tokens) @ proj on CLIP-normalised inputs;
DINO = norm(patch tokens) on ImageNet-normalised inputs. Inputs: 2 RGB 28×28 images in [0, 1].

    /usr/bin/python3 tools/golden/teachers.py tests/fixtures/teachers
"""

import json
import os
import struct
import sys
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(11)
out_dir = sys.argv[1]
os.makedirs(out_dir, exist_ok=True)


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([("c_fc", nn.Linear(width, width * 4)), ("gelu", QuickGELU()), ("c_proj", nn.Linear(width * 4, width))]))
        self.ln_2 = nn.LayerNorm(width)

    def forward(self, x):  # x: [T, B, W] as OpenAI's code
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class ClipVisual(nn.Module):
    def __init__(self, width=64, layers=2, heads=1, patch=4, size=28, output_dim=16):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch, stride=patch, bias=False)
        scale = width ** -0.5
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn((size // patch) ** 2 + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = nn.Module()
        self.transformer.resblocks = nn.Sequential(*[ResidualAttentionBlock(width, heads) for _ in range(layers)])
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, output_dim))

    def patch_features(self, x):
        x = self.conv1(x).flatten(2).permute(0, 2, 1)  # [B, N, W]
        cls = self.class_embedding.to(x.dtype) + torch.zeros(x.shape[0], 1, x.shape[-1])
        x = torch.cat([cls, x], dim=1) + self.positional_embedding
        x = self.ln_pre(x).permute(1, 0, 2)
        x = self.transformer.resblocks(x).permute(1, 0, 2)
        return self.ln_post(x)[:, 1:] @ self.proj


class DinoBlock(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = nn.Module()
        self.attn.qkv = nn.Linear(dim, 3 * dim, bias=True)
        self.attn.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Module()
        self.mlp.fc1 = nn.Linear(dim, 4 * dim)
        self.mlp.fc2 = nn.Linear(4 * dim, dim)

    def forward(self, x):
        B, T, C = x.shape
        qkv = self.attn.qkv(self.norm1(x)).reshape(B, T, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        a = (q @ k.transpose(-2, -1) * (C // self.heads) ** -0.5).softmax(dim=-1)
        x = x + self.attn.proj((a @ v).transpose(1, 2).reshape(B, T, C))
        return x + self.mlp.fc2(F.gelu(self.mlp.fc1(self.norm2(x))))


class Dino(nn.Module):
    def __init__(self, dim=48, depth=2, heads=3, patch=4, size=28):
        super().__init__()
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.2)
        self.pos_embed = nn.Parameter(torch.randn(1, (size // patch) ** 2 + 1, dim) * 0.2)
        self.blocks = nn.ModuleList([DinoBlock(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def patch_features(self, x):
        x = self.patch_embed.proj(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)[:, 1:]


def perturb(module):
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn_like(p) * 0.05)


clip, dino = ClipVisual(), Dino()
perturb(clip)
perturb(dino)
images = torch.rand(2, 3, 28, 28)
clip_mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
clip_std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
in_mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
in_std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
with torch.no_grad():
    clip_features = clip.patch_features((images - clip_mean) / clip_std)
    dino_features = dino.patch_features((images - in_mean) / in_std)
    half = OrderedDict((f"teacher_model.visual.{k}", v.half()) for k, v in clip.state_dict().items())
    clip_half_features = ClipVisual()
    clip_half_features.load_state_dict({k[len("teacher_model.visual."):]: v.float() for k, v in half.items()})
    clip_half_out = clip_half_features.patch_features((images - clip_mean) / clip_std)

torch.save(OrderedDict((f"visual.{k}", v) for k, v in clip.state_dict().items()), os.path.join(out_dir, "clip_tiny.pth"))
torch.save(half, os.path.join(out_dir, "clip_tiny_fp16.pth"))
torch.save(dino.state_dict(), os.path.join(out_dir, "dino_tiny.pth"))

tensors = {"images": images, "clip_features": clip_features, "clip_fp16_features": clip_half_out, "dino_features": dino_features}
header, blobs, offset = {"__metadata__": {"generator": "tools/golden/teachers.py", "torch": torch.__version__}}, [], 0
for name, t in tensors.items():
    data = t.contiguous().numpy().tobytes()
    header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
    blobs.append(data)
    offset += len(data)
h = json.dumps(header, separators=(",", ":")).encode()
h += b" " * (-len(h) % 8)
with open(os.path.join(out_dir, "features.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
print("wrote", sorted(os.listdir(out_dir)))
