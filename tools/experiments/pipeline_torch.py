"""A PyTorch twin of `deno task pretrain`: the same stages (supervised teacher, VQ-KD, BEiT v2
pretraining, linear probes, fine-tuning) with the same data subsets, steps, recipes and
evaluation, written in plain PyTorch (tools/experiments/beit_torch.py), to tell a budget from a
bug: at equal budget the two should agree within seed noise.

The recipe is read from a run's run.json (what `deno task pretrain` writes into its output
folder), or printed for a preset without running it:

    deno run tools/experiments/preset_json.ts default > /tmp/default.json
    /usr/bin/python3 tools/experiments/pipeline_torch.py --config /tmp/default.json \
        [--seed N] [--rows main|all] [--threads 2] [--out result.json]
    /usr/bin/python3 tools/experiments/pipeline_torch.py --check-official tests/fixtures/official

The second form checks the modules against the fixtures made with the official code
(tests/fixtures/official/README.md): the tokenizer's training step, the pretraining model's
outputs, losses and gradients, and the classifier's logits.

What is the same as Tessella's pipeline: data (the class-balanced subsets, file order), model
configs and initialisation regimes, optimisers (AdamW betas, weight decay and its mask, clipping,
layer-wise lr decay), schedules (warm-up then cosine, warm-up lengths), augmentations
(distributions; not the random draws: the generators differ), masking (the official generator),
losses, probe protocol and fine-tuning recipe. Random streams differ, so single runs differ by
seed noise. Not in CI: torch is optional. Prints one JSON line.
"""

import argparse
import gzip
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from beit_torch import (BeitPretrain, Vqkd, ViT, blockwise_mask, check_vqkd_step,  # noqa: E402
                        compare, cosine, excess, load_official, pixel_targets, read_safetensors)

MEAN, STD = 0.286, 0.353

parser = argparse.ArgumentParser()
parser.add_argument("--config", help="a run.json, or a preset printed by preset_json.ts")
parser.add_argument("--seed", type=int, help="default: the config's seed")
parser.add_argument("--rows", choices=["main", "all"], default="main",
                    help="all: the results preset's comparison rows too")
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
parser.add_argument("--out", help="also write the JSON result to this file")
parser.add_argument("--check-official", metavar="DIR")
args = parser.parse_args()
torch.set_num_threads(args.threads)


# --- the check against the official code's fixtures ------------------------------------


def from_config(cls, path, *names):
    """A model built from a JSON config: the input's size, patch and channels, then `names`."""
    cfg = json.load(open(path))
    inputs = ("img_size", "patch_size", "in_chans")
    return cls(*(cfg[name] for name in inputs + names))


def check_official(folder):
    report = {}
    # The pretraining model: both branches' logits and tokens, losses and gradients.
    model = from_config(BeitPretrain, f"{folder}/beit_config.json", "vocab_size", "embed_dim",
                        "depth", "num_heads", "early_layers", "head_layers", "init_values",
                        "use_abs_pos_emb")
    load_official(model, f"{folder}/beit_weights.safetensors")
    want = read_safetensors(f"{folder}/beit_eval.safetensors")
    x, mask = want["images_normalized"], want["mask"]
    model.eval()
    with torch.no_grad():
        main, cls_pt = model(x, mask)
        got = {"patch_tokens": main[:, 1:], "patch_tokens_cls_pt": cls_pt[:, 1:],
               "logits_all": model.lm_head(main[:, 1:]),
               "logits_cls_pt_all": model.lm_head(cls_pt[:, 1:])}
    model.train()
    loss_main, loss_cls, _, _ = model.losses(x, mask, want["labels"].long())
    (loss_main + loss_cls).backward()
    got.update({"loss_main": loss_main, "loss_cls_pt": loss_cls})
    got.update({f"grad.{k}": p.grad for k, p in model.named_parameters()})
    compare(report, "beit ", got, want)
    # The classifier (fine-tune style, per-block relative bias, layer scale, mean pooling).
    vit = from_config(ViT, f"{folder}/vit_config.json", "embed_dim", "depth", "num_heads",
                      "num_classes", "use_abs_pos_emb", "use_rel_pos_bias", "use_mean_pooling",
                      "init_values")
    load_official(vit, f"{folder}/vit_weights.safetensors")
    want = read_safetensors(f"{folder}/vit_eval.safetensors")
    with torch.no_grad():
        report["vit logits"] = excess(vit.eval()(want["images_normalized"]), want["logits"],
                                      1e-5, 1e-4)
    # The tokenizer: one training step from the official weights.
    tokens_equal = check_vqkd_step(folder, report)
    failed = [k for k, e in report.items() if e > 0]
    print(json.dumps({"compared": len(report), "failed": failed, "vqkd_tokens_equal": tokens_equal,
                      "worst_excess": max(report.values())}))
    raise SystemExit(0 if tokens_equal and not failed else 1)


if args.check_official:
    check_official(args.check_official)
if not args.config:
    parser.error("--config is required (or --check-official)")

cfg = json.load(open(args.config))
seed = args.seed if args.seed is not None else cfg.get("seed", 0)
torch.manual_seed(seed)
rng = np.random.default_rng(seed)


# --- data: the same class-balanced subsets as Tessella (first of each class, file order) ---


def load(split, count):
    prefix = "train" if split == "train" else "t10k"
    raw = gzip.open(f"{args.data}/{prefix}-images-idx3-ubyte.gz").read()
    x = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 1, 28, 28)
    y = np.frombuffer(gzip.open(f"{args.data}/{prefix}-labels-idx1-ubyte.gz").read(), np.uint8,
                      offset=8)
    if count < len(y):
        quota = [count // 10 + (c < count % 10) for c in range(10)]
        picked = []
        for i, label in enumerate(y):
            if quota[label] > 0:
                quota[label] -= 1
                picked.append(i)
            if len(picked) == count:
                break
        x, y = x[picked], y[picked]
    return torch.from_numpy(x.astype(np.float32) / 255), torch.from_numpy(y.astype(np.int64))


train_x, train_y = load("train", cfg["train"])
test_x, test_y = load("test", cfg["test"])


def normalize(x):
    return (x - MEAN) / STD


def batches(n, batch, drop_last=True):
    """One epoch's shuffled index batches (the loaders drop a last partial batch)."""
    order = torch.from_numpy(rng.permutation(n))
    count = n // batch if drop_last else math.ceil(n / batch)
    return [order[i * batch:(i + 1) * batch] for i in range(count)]


def warmup_cosine(base, final, total, warmup):
    def lr(step):
        if step < warmup:
            return base * step / (warmup - 1) if warmup > 1 else 0.0
        if step >= total:
            return final
        return final + 0.5 * (base - final) * (1 + math.cos(math.pi * (step - warmup) /
                                                           (total - warmup)))
    return lr


def adamw(model, lr, betas=(0.9, 0.999), weight_decay=0.05, lr_scale=None):
    """AdamW with the official decay mask (no decay for 1-D tensors, biases, cls_token,
    pos_embed) and optional per-parameter lr multipliers (layer-wise decay)."""
    groups = {}
    for name, p in model.named_parameters():
        last = name.split(".")[-1]
        decay = p.ndim > 1 and not name.endswith(".bias") and last not in ("cls_token",
                                                                             "pos_embed")
        scale = lr_scale(name) if lr_scale else 1.0
        groups.setdefault((decay, scale), []).append(p)
    opt = torch.optim.AdamW([{"params": ps, "weight_decay": weight_decay if d else 0.0,
                              "lr_scale": s} for (d, s), ps in groups.items()],
                            lr=lr, betas=betas, eps=1e-8)
    return opt


def set_lr(opt, lr):
    for g in opt.param_groups:
        g["lr"] = lr * g["lr_scale"]


# --- augmentations (the distributions of data/transforms.ts) ------------------------------


def crop_box(scale, ratio=(3 / 4, 4 / 3), h=28, w=28):
    for _ in range(10):
        target = h * w * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
        cw, ch = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
        if 0 < cw <= w and 0 < ch <= h:
            return int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1)), ch, cw
    return 0, 0, h, w


def resized_crops(x, scale):
    out = torch.empty_like(x)
    for i in range(len(x)):
        top, left, ch, cw = crop_box(scale)
        crop = x[i: i + 1, :, top: top + ch, left: left + cw]
        out[i] = F.interpolate(crop, size=(28, 28), mode="bicubic", align_corners=False)[0]
    return out.clamp(0, 1)


def flips(x):
    flip = torch.from_numpy(rng.random(len(x)) < 0.5)
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def shifts(x, pad):
    """RandomCrop(28, padding=pad): zero padding, then a random 28x28 window."""
    padded = F.pad(x, (pad, pad, pad, pad))
    out = torch.empty_like(x)
    offsets = rng.integers(0, 2 * pad + 1, size=(len(x), 2))
    for i, (dy, dx) in enumerate(offsets):
        out[i] = padded[i, :, dy: dy + 28, dx: dx + 28]
    return out


def color_jitter(x, brightness=0.4, contrast=0.4):
    """Brightness and contrast factors in [0.6, 1.4] in random order (saturation and hue do
    nothing to one channel)."""
    out = x.clone()
    for i in range(len(x)):
        fb, fc = rng.uniform(1 - brightness, 1 + brightness), rng.uniform(1 - contrast,
                                                                          1 + contrast)
        ops = ["b", "c"] if rng.random() < 0.5 else ["c", "b"]
        for op in ops:
            if op == "b":
                out[i] = (out[i] * fb).clamp(0, 1)
            else:
                out[i] = (fc * out[i] + (1 - fc) * out[i].mean()).clamp(0, 1)
    return out


# --- the stages ---------------------------------------------------------------------------

timings = {}


def timed(name, images):
    def wrap(fn):
        t0 = time.time()
        value = fn()
        seconds = time.time() - t0
        timings[name] = {"seconds": round(seconds, 1), "images": images}
        print(f"{name}: {seconds:.0f} s", file=sys.stderr)
        return value
    return wrap


def train_classifier(model, data_x, data_y, epochs, batch, lr, augment, lr_scale=None,
                     label_smoothing=0.0, warmup_steps=None, final_lr=1e-5):
    per_epoch = len(data_y) // batch
    total = epochs * per_epoch
    schedule = warmup_cosine(lr, final_lr, total,
                             total // 10 if warmup_steps is None else warmup_steps)
    opt = adamw(model, lr, lr_scale=lr_scale)
    model.train()
    step = 0
    for _ in range(epochs):
        for idx in batches(len(data_y), batch):
            set_lr(opt, schedule(step))
            loss = F.cross_entropy(model(augment(data_x[idx])), data_y[idx],
                                   label_smoothing=label_smoothing)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
    return model.eval()


@torch.no_grad()
def accuracy(model, x, y):
    model.eval()
    hits = sum((model(normalize(x[i: i + 500])).argmax(1) == y[i: i + 500]).sum().item()
               for i in range(0, len(y), 500))
    return hits / len(y)


@torch.no_grad()
def features(fn, x):
    return torch.cat([fn(normalize(x[i: i + 500])) for i in range(0, len(x), 500)])


def linear_probe(train_f, test_f, epochs):
    """Standardised features, one linear layer, AdamW lr 1e-3 without weight decay, batch 256
    (the last partial batch kept), test top-1 after each epoch."""
    mu, sigma = train_f.mean(0), train_f.var(0, unbiased=False).sqrt() + 1e-6
    xs, xt = (train_f - mu) / sigma, (test_f - mu) / sigma
    head = nn.Linear(xs.shape[1], 10)
    opt = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=0.0)
    curve = []
    for _ in range(epochs):
        for idx in batches(len(train_y), 256, drop_last=False):
            loss = F.cross_entropy(head(xs[idx]), train_y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            curve.append((head(xt).argmax(1) == test_y).float().mean().item())
    return curve


t = cfg["teacher"]
v = cfg["vqkd"]
b = cfg["beit"]
f = cfg["finetune"]
probe_epochs = cfg["probe"]["epochs"]
rows = {}


def teacher_stage():
    model = ViT(28, 4, 1, t["embedDim"], t["depth"], t["heads"], num_classes=10)
    aug = t.get("augment", "crop+flip")

    def augment(x):
        if aug == "crop+flip":
            x = shifts(x, 2)
        if aug != "none":
            x = flips(x)
        return normalize(x)
    return train_classifier(model, train_x, train_y, t["epochs"], t["batchSize"], t["lr"],
                            augment)


def vqkd_stage(targets, target_dim):
    model = Vqkd(target_dim, v["embedDim"], v["depth"], v["heads"], v["codes"], v["codeDim"],
                 v["decoderDepth"])
    opt = adamw(model, v["lr"], betas=(0.9, 0.99), weight_decay=1e-4)
    per_epoch = len(train_y) // v["batchSize"]
    total = v["epochs"] * per_epoch
    schedule = warmup_cosine(v["lr"], 1e-5, total, round(min(1, v["epochs"] / 4) * per_epoch))
    step, curve = 0, []
    for _ in range(v["epochs"]):
        for idx in batches(len(train_y), v["batchSize"]):
            x = flips(resized_crops(train_x[idx], (0.08, 1)))
            set_lr(opt, schedule(step))
            rec, commit, _ = model(x, train=True)
            rec_loss = (1 - cosine(rec, targets(x))).mean()
            opt.zero_grad()
            (rec_loss + commit).backward()
            opt.step()
            curve.append(rec_loss.item())
            step += 1
    model.eval()
    used = torch.zeros(v["codes"], dtype=torch.bool)
    cos = []
    with torch.no_grad():
        for i in range(0, len(test_y), 500):
            x = test_x[i: i + 500]
            rec, _, ids = model(x, train=False)
            used[ids] = True
            cos.append(cosine(rec, targets(x)).reshape(-1))
    return model, {"usage": used.float().mean().item(), "cosine": torch.cat(cos).mean().item()}


def pretrain_stage(tokenizer, bottleneck):
    model = BeitPretrain(28, 4, 1, v["codes"], b["embedDim"], b["depth"], b["heads"],
                         b["earlyLayers"], b["headLayers"] if bottleneck else 0)
    opt = adamw(model, b["lr"], betas=(0.9, 0.98), weight_decay=0.05)
    per_epoch = len(train_y) // b["batchSize"]
    total = b["epochs"] * per_epoch
    schedule = warmup_cosine(b["lr"], 1e-5, total, round(b["warmupEpochs"] * per_epoch))
    step, curve = 0, []
    model.train()
    for _ in range(b["epochs"]):
        for idx in batches(len(train_y), b["batchSize"]):
            x = resized_crops(flips(color_jitter(train_x[idx])), (0.2, 1))
            with torch.no_grad():
                labels = tokenizer.tokens(x)
            mask = torch.from_numpy(np.stack([blockwise_mask(rng, 7, 20, 4) for _ in idx]))
            set_lr(opt, schedule(step))
            loss_main, loss_cls, acc, _ = model.losses(normalize(x), mask, labels)
            loss = loss_main + loss_cls if bottleneck else loss_main
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 3.0)
            opt.step()
            curve.append(round(loss_main.item(), 4))
            step += 1
    return model.eval(), curve


def finetune(pretrained):
    depth, decay = b["depth"], f["layerDecay"]
    model = ViT(28, 4, 1, b["embedDim"], depth, b["heads"], num_classes=10,
                use_abs_pos_emb=False, use_rel_pos_bias=True, init_values=0.1,
                drop_path_rate=0.1)
    if pretrained is not None:
        state = pretrained.state_dict()
        table = state["rel_pos_bias.relative_position_bias_table"]
        mine = model.state_dict()
        for name in mine:
            if name.endswith("attn.relative_position_bias_table"):
                mine[name] = table.clone()
            elif name in state and not name.startswith(("fc_norm", "head")):
                mine[name] = state[name].clone()
        model.load_state_dict(mine)

    def layer(name):
        if name.split(".")[0] in ("cls_token", "mask_token", "pos_embed", "patch_embed"):
            return 0
        if name.startswith("blocks."):
            return int(name.split(".")[1]) + 1
        return depth + 1

    padding, flip = f.get("cropPadding", 4), f.get("flip", True)

    def augment(x):
        if padding > 0:
            x = shifts(x, padding)
        return normalize(flips(x) if flip else x)

    per_epoch = len(train_y) // f["batchSize"]
    trained = train_classifier(
        model, train_x, train_y, f["epochs"], f["batchSize"], f["lr"],
        augment,
        lr_scale=lambda name: decay ** (depth + 1 - layer(name)), label_smoothing=0.1,
        warmup_steps=round(min(1, f["epochs"] / 4) * per_epoch), final_lr=1e-6)
    return accuracy(trained, test_x, test_y)


def probe_row(name, fn):
    t0 = time.time()
    curve = linear_probe(features(fn, train_x), features(fn, test_x), probe_epochs)
    rows[name] = {"probe": curve[-1], "probe_curve": [round(c, 4) for c in curve],
                  "seconds": round(time.time() - t0, 1)}


def finetune_row(name, pretrained):
    t0 = time.time()
    rows[name]["finetune"] = finetune(pretrained)
    rows[name]["seconds"] += round(time.time() - t0, 1)


started = time.time()
n_train = len(train_y)
teacher = timed("teacher", t["epochs"] * (n_train // t["batchSize"]) * t["batchSize"])(
    teacher_stage)
for p in teacher.parameters():
    p.requires_grad_(False)


def teacher_targets(x01):
    with torch.no_grad():
        return teacher.patch_tokens(normalize(x01))


tokenizer, tokenizer_report = timed(
    "vqkd", v["epochs"] * (n_train // v["batchSize"]) * v["batchSize"])(
    lambda: vqkd_stage(teacher_targets, t["embedDim"]))
mim_images = b["epochs"] * (n_train // b["batchSize"]) * b["batchSize"]
beit, beit_curve = timed("beit", mim_images)(lambda: pretrain_stage(tokenizer, True))
probe_row("BEiT v2 (VQ-KD, supervised teacher)", beit.cls_feature)
random_init = BeitPretrain(28, 4, 1, v["codes"], b["embedDim"], b["depth"], b["heads"],
                           b["earlyLayers"], b["headLayers"]).eval()
probe_row("random init", random_init.cls_feature)
finetune_row("BEiT v2 (VQ-KD, supervised teacher)", beit)
finetune_row("random init", None)
probe_row("the teacher itself (saw labels)", teacher.features)
rows["the teacher itself (saw labels)"]["finetune"] = accuracy(teacher, test_x, test_y)
if args.rows == "all":
    probe_row("BEiT v2, probe on mean-pooled patch tokens", beit.mean_patch_feature)
    rows["linear classifier on raw pixels"] = {
        "probe": linear_probe(train_x.reshape(n_train, -1), test_x.reshape(len(test_y), -1),
                              probe_epochs)[-1]}
    pixel_tok, _ = timed("vqkd_pixels", v["epochs"] * (n_train // v["batchSize"]) *
                         v["batchSize"])(lambda: vqkd_stage(pixel_targets, 16))
    pixel_mim, _ = timed("beit_pixels", mim_images)(lambda: pretrain_stage(pixel_tok, False))
    probe_row("MIM on pixel tokens (BEiT v1-style)", pixel_mim.cls_feature)
    finetune_row("MIM on pixel tokens (BEiT v1-style)", pixel_mim)
    no_cls, _ = timed("beit_no_cls", mim_images)(lambda: pretrain_stage(tokenizer, False))
    probe_row("BEiT v2 without the CLS bottleneck", no_cls.cls_feature)
    finetune_row("BEiT v2 without the CLS bottleneck", no_cls)

result = {
    "library": f"PyTorch {torch.__version__}", "threads": args.threads, "seed": seed,
    "config": args.config, "rows": rows, "tokenizer": tokenizer_report, "timings": timings,
    "mim_loss_main_every_50_steps": beit_curve[::50],
    "seconds": round(time.time() - started, 1),
}
print(json.dumps(result))
if args.out:
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
