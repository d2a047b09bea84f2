"""VQ-KD in plain PyTorch (the modules of tools/experiments/beit_torch.py), to compare
Tessella's tokenizer training with the official recipe on the same data, configuration and
budget.

The configuration is the reference run's: K = 512 codes of dimension 32, encoder width 128
depth 4 (4 heads, 4x4 patches on 28x28), decoder depth 1, batch 128, one epoch over the
60,000 training images, target = the `pixels` teacher (each 4x4 patch normalised by its own
mean and std), or with --teacher the `supervised` teacher: the patch tokens of the ViT
classifier that `deno task pretrain` trains and saves as teacher.ckpt (read from that file,
so both libraries distil the very same network). Optimiser and augmentation as the official code and as
tools/experiments/vqkd_reference.ts: AdamW (0.9, 0.99), weight decay 1e-4 (not on 1-D
parameters, cls_token, pos_embed), linear warm-up over a quarter of the steps then cosine
to 1e-5, random resized crop (scale 0.08-1, ratio 3/4-4/3, bicubic) and horizontal flip.
Evaluation on the 10,000 test images, as Tessella's evaluateTokenizer: codebook usage
(codes used at least once / K) and the mean cosine of the decoder's output to the target
over all patches (constant patches have a zero target and count as 0), plus the mean over
non-constant patches.

    /usr/bin/python3 tools/experiments/vqkd_torch.py [--lr 1e-3] [--crop-min 0.08]
        [--epochs 1] [--train-size 60000] [--threads 1] [--seed 0] [--data DIR]
        [--teacher runs/default/teacher.ckpt [--teacher-heads 2]]
    /usr/bin/python3 tools/experiments/vqkd_torch.py --check-official tests/fixtures/official

The second form checks this model against the fixtures made by running the official code
(tests/fixtures/official/README.md): one training step from the official weights must give
the same tokens, losses, EMA codebook, cluster sizes and gradients.

Needs torch and numpy (Debian's python3-torch); prints one JSON line.
"""

import argparse
import gzip
import json
import math
import time

import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from beit_torch import (ViT, Vqkd, check_vqkd_step, cosine, pixel_targets,  # noqa: E402
                        read_safetensors)

parser = argparse.ArgumentParser()
parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
parser.add_argument("--lr", type=float, default=1e-3)
parser.add_argument("--crop-min", type=float, default=0.08)
parser.add_argument("--epochs", type=float, default=1)
parser.add_argument("--batch", type=int, default=128)
parser.add_argument("--train-size", type=int, default=60_000)
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--teacher", metavar="CKPT",
                    help="distil the patch tokens of this Tessella classifier checkpoint (the "
                         "`supervised` target, e.g. runs/default/teacher.ckpt) instead of pixels")
parser.add_argument("--teacher-heads", type=int, default=2)
parser.add_argument("--check-official", metavar="DIR",
                    help="instead of training, check the model against the official-code fixtures in DIR")
args = parser.parse_args()
torch.manual_seed(args.seed)
torch.set_num_threads(args.threads)
rng = np.random.default_rng(args.seed)


def images(path):
    raw = gzip.open(path).read()
    x = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 1, 28, 28)
    return torch.from_numpy(x.astype(np.float32) / 255)


train = images(f"{args.data}/train-images-idx3-ubyte.gz")[: args.train_size]
test = images(f"{args.data}/t10k-images-idx3-ubyte.gz")


# --- the model: tools/experiments/beit_torch.py (the official modules' behaviour) --------


# --- the check against the official code's fixtures ------------------------------------


def check_official(folder):
    report = {}
    tokens_equal = check_vqkd_step(folder, report)
    failed = [k for k, e in report.items() if e > 0]
    print(json.dumps({"tokens_equal": tokens_equal, "compared": len(report), "failed": failed,
                      "worst_excess": max(report.values())}))
    raise SystemExit(0 if tokens_equal and not failed else 1)


if args.check_official:
    check_official(args.check_official)


# --- the targets ------------------------------------------------------------------------


def load_teacher(path, heads):
    """A classifier checkpoint written by Tessella (`deno task pretrain`'s teacher.ckpt: a
    safetensors file whose tensors are named `value.<official name>`), as a frozen mean-pooling
    ViT and its head. Its patch tokens are the `supervised` target (vqkd/teachers.ts
    classifierTeacher: images normalised with mean 0.286, std 0.353, then fc_norm of each patch
    token)."""
    weights = {k[len("value."):]: v for k, v in read_safetensors(path).items()
               if k.startswith("value.")}
    width = weights["cls_token"].shape[-1]
    depth = 1 + max(int(k.split(".")[1]) for k in weights if k.startswith("blocks."))
    patch = weights["patch_embed.proj.weight"].shape[-1]
    vit = ViT(28, patch, 1, width, depth, heads)
    vit.load_state_dict({k: v for k, v in weights.items() if not k.startswith("head.")})
    head = nn.Linear(width, weights["head.weight"].shape[0])
    head.load_state_dict({"weight": weights["head.weight"], "bias": weights["head.bias"]})
    for p in [*vit.parameters(), *head.parameters()]:
        p.requires_grad_(False)
    return vit.eval(), head


if args.teacher:
    teacher_vit, teacher_head = load_teacher(args.teacher, args.teacher_heads)

    def targets(x01):
        with torch.no_grad():
            return teacher_vit.patch_tokens((x01 - 0.286) / 0.353)

    target_dim = teacher_vit.fc_norm.weight.shape[0]
else:
    targets, target_dim = pixel_targets, 16


# --- augmentation: random resized crop (torchvision's sampling) + flip ------------------


def resized_crop(img):
    h = w = 28
    area = h * w
    for _ in range(10):
        target = area * rng.uniform(args.crop_min, 1.0)
        ratio = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        cw = int(round(math.sqrt(target * ratio)))
        ch = int(round(math.sqrt(target / ratio)))
        if 0 < cw <= w and 0 < ch <= h:
            top = int(rng.integers(0, h - ch + 1))
            left = int(rng.integers(0, w - cw + 1))
            break
    else:
        ch, cw, top, left = h, w, 0, 0
    crop = img[None, :, top: top + ch, left: left + cw]
    out = F.interpolate(crop, size=(h, w), mode="bicubic", align_corners=False)[0]
    return out.flip(-1) if rng.random() < 0.5 else out


# --- training ---------------------------------------------------------------------------

model = Vqkd(target_dim)
decay, no_decay = [], []
for name, p in model.named_parameters():
    (no_decay if p.ndim < 2 or "cls_token" in name or "pos_embed" in name else decay).append(p)
opt = torch.optim.AdamW(
    [{"params": decay, "weight_decay": 1e-4}, {"params": no_decay, "weight_decay": 0}],
    lr=args.lr, betas=(0.9, 0.99))
per_epoch = len(train) // args.batch
total = int(args.epochs * per_epoch)
warmup = int(round(total / 4 if args.epochs <= 4 else per_epoch))


def lr_at(step):
    if step < warmup:
        return args.lr * step / warmup
    t = (step - warmup) / max(1, total - warmup)
    return 1e-5 + 0.5 * (args.lr - 1e-5) * (1 + math.cos(math.pi * t))


t0 = time.time()
rec_curve = []
step = 0
while step < total:
    order = torch.from_numpy(rng.permutation(len(train)))
    for i in range(per_epoch):
        if step >= total:
            break
        batch = torch.stack([resized_crop(img) for img in train[order[i * args.batch:(i + 1) * args.batch]]])
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        rec, commit, _ = model(batch, train=True)
        rec_loss = (1 - cosine(rec, targets(batch))).mean()
        loss = rec_loss + commit
        opt.zero_grad()
        loss.backward()
        opt.step()
        rec_curve.append(round(rec_loss.item(), 4))
        step += 1

seconds = time.time() - t0
model.eval()
used = torch.zeros(512, dtype=torch.bool)
cos_all, cos_nonconst = [], []
with torch.no_grad():
    for i in range(0, len(test), 500):
        x = test[i: i + 500]
        rec, _, ids = model(x, train=False)
        target = targets(x)
        c = cosine(rec, target)
        used[ids] = True
        cos_all.append(c.reshape(-1))
        cos_nonconst.append(c[target.norm(dim=-1) > 1e-6])
extra = {}
if args.teacher:  # the teacher's own test accuracy: proof that it was read as Tessella reads it
    with torch.no_grad():
        labels = torch.from_numpy(np.frombuffer(gzip.open(
            f"{args.data}/t10k-labels-idx1-ubyte.gz").read(), np.uint8, offset=8).astype(np.int64))
        logits = teacher_head(teacher_vit.features((test - 0.286) / 0.353))
        extra["teacher_test_accuracy"] = (logits.argmax(1) == labels).float().mean().item()
print(json.dumps({
    "target": "supervised" if args.teacher else "pixels", **extra,
    "lr": args.lr, "crop_min": args.crop_min, "epochs": args.epochs, "steps": total,
    "train_images": len(train),
    "test_usage": used.float().mean().item(),
    "cosine": torch.cat(cos_all).mean().item(),
    "cosine_non_constant": torch.cat(cos_nonconst).mean().item(),
    "rec_loss_every_50_steps": rec_curve[::50],
    "seconds": round(seconds, 1),
}))
