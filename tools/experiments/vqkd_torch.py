"""VQ-KD in plain PyTorch, following the official modules as ../shared/spec/beitv2.md §1-2
describes them, to compare Tessella's tokenizer training with the official recipe on the
same data, configuration and budget (issue 6).

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

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

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


# --- the model (spec §1: BEiT-style fine-tune ViT; §2: VQ-KD) ---------------------------


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.v_bias = nn.Parameter(torch.zeros(dim))
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, d = x.shape
        bias = torch.cat([self.q_bias, torch.zeros_like(self.q_bias), self.v_bias])
        qkv = F.linear(x, self.qkv.weight, bias).reshape(b, n, 3, self.heads, -1)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        attn = ((q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)).softmax(-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Module()
        self.mlp.fc1 = nn.Linear(dim, 4 * dim)
        self.mlp.fc2 = nn.Linear(4 * dim, dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp.fc2(F.gelu(self.mlp.fc1(self.norm2(x))))


class ViT(nn.Module):
    """Mean-pooling mode: returns fc_norm of the patch tokens (the CLS token is dropped)."""

    def __init__(self, img, patch, chans, dim, depth, heads):
        super().__init__()
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(chans, dim, patch, patch)  # framework default init
        n = (img // patch) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, n + 1, dim))
        self.blocks = nn.ModuleList([Block(dim, heads) for _ in range(depth)])
        self.fc_norm = nn.LayerNorm(dim, eps=1e-6)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        for m in self.blocks.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        for i, blk in enumerate(self.blocks, start=1):
            blk.attn.proj.weight.data.div_(math.sqrt(2 * i))
            blk.mlp.fc2.weight.data.div_(math.sqrt(2 * i))

    def forward(self, x, pooled=False):
        x = self.patch_embed.proj(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(len(x), -1, -1), x], 1) + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        # pooled: the classifier's features, fc_norm of the mean patch token
        return self.fc_norm(x[:, 1:].mean(1) if pooled else x[:, 1:])


def task_layer(dim, out):
    layer = nn.Sequential(nn.Linear(dim, dim), nn.Tanh(), nn.Linear(dim, out))
    for m in layer:
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)
    return layer


class NormEmaQuantizer:
    """Spec §2.5: l2-normalised codes, k-means init, EMA toward renormalised batch means."""

    def __init__(self, k, c, decay=0.99):
        self.codes = torch.zeros(k, c)
        self.cluster_size = torch.zeros(k)  # EMA of the counts: a metric only (spec §2.5 step 5)
        self.k, self.decay, self.initted = k, decay, False

    def kmeans(self, z, iterations=10):
        means = z[torch.randperm(len(z))[: self.k]] if len(z) >= self.k else z[
            torch.randint(len(z), (self.k,))]
        for _ in range(iterations):
            assign = (z @ means.T).argmax(1)
            counts = torch.bincount(assign, minlength=self.k)
            sums = torch.zeros_like(means).index_add_(0, assign, z)
            new = F.normalize(sums / counts.clamp(min=1)[:, None], dim=-1)
            means = torch.where((counts == 0)[:, None], means, new)
        self.codes, self.initted = means, True

    def __call__(self, u, train):
        z = F.normalize(u, dim=-1).reshape(-1, u.shape[-1])
        if not self.initted and train:
            self.kmeans(z.detach())
        ids = (z.detach() @ self.codes.T).argmax(1)
        zq = self.codes[ids]
        counts = torch.bincount(ids, minlength=self.k).float()
        self.cluster_size = self.decay * self.cluster_size + (1 - self.decay) * counts
        if train:
            with torch.no_grad():
                sums = torch.zeros_like(self.codes).index_add_(0, ids, z.detach())
                mu = F.normalize(sums / counts.clamp(min=1)[:, None], dim=-1)
                mu = torch.where((counts == 0)[:, None], self.codes, mu)
                self.codes = F.normalize(self.decay * self.codes + (1 - self.decay) * mu, dim=-1)
        commit = ((z - zq.detach()) ** 2).mean()
        return (z + (zq - z).detach()).reshape(u.shape), commit, ids


class Vqkd(nn.Module):
    def __init__(self, target_dim, width=128, depth=4, heads=4, codes=512, code_dim=32):
        super().__init__()
        self.encoder = ViT(28, 4, 1, width, depth, heads)
        self.encode_task_layer = task_layer(width, code_dim)
        self.decoder = ViT(7, 1, code_dim, width, 1, heads)
        self.decode_task_layer = task_layer(width, target_dim)
        self.quantize = NormEmaQuantizer(codes, code_dim)

    def forward(self, x01, train):
        u = self.encode_task_layer(self.encoder(2 * x01 - 1))  # spec §2.2: x -> 2x - 1
        zq, commit, ids = self.quantize(u, train)
        b, c = len(x01), u.shape[-1]
        zq = zq.reshape(b, 7, 7, c).permute(0, 3, 1, 2)
        return self.decode_task_layer(self.decoder(zq)), commit, ids


def pixel_targets(x01):
    p = x01.reshape(-1, 7, 4, 7, 4).permute(0, 1, 3, 2, 4).reshape(len(x01), 49, 16)
    mu = p.mean(-1, keepdim=True)
    var = p.var(-1, unbiased=False, keepdim=True)
    return (p - mu) / torch.sqrt(var + 1e-6)


def cosine(a, b):
    return (F.normalize(a, dim=-1, eps=1e-12) * F.normalize(b, dim=-1, eps=1e-12)).sum(-1)


# --- the check against the official code's fixtures ------------------------------------


def read_safetensors(path):
    raw = open(path, "rb").read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8: 8 + n])
    types = {"F32": np.float32, "I64": np.int64, "BOOL": np.bool_}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        array = np.frombuffer(raw[8 + n + a: 8 + n + b], types[info["dtype"]])
        out[name] = torch.from_numpy(array.reshape(info["shape"]).copy())
    return out


def check_official(folder):
    config = json.load(open(f"{folder}/vqkd_config.json"))
    enc = config["encoder"]
    model = Vqkd(config["decoder_out_dim"], enc["embed_dim"], enc["depth"], enc["num_heads"],
                 config["n_embed"], config["embed_dim"])
    weights = read_safetensors(f"{folder}/vqkd_weights.safetensors")
    missing, unexpected = model.load_state_dict(
        {k: v for k, v in weights.items() if not k.startswith("quantize.")}, strict=False)
    assert not missing and not unexpected, (missing, unexpected)
    model.quantize.codes = weights["quantize.embedding.weight"]
    model.quantize.cluster_size = weights["quantize.cluster_size"]
    model.quantize.initted = bool(weights["quantize.embedding.initted"].item())
    images = read_safetensors(f"{folder}/vqkd_eval.safetensors")["images"]
    want = read_safetensors(f"{folder}/vqkd_train_step.safetensors")
    with torch.no_grad():  # the fixture's module ran the eval forward first (usage statistics)
        model(images, train=False)
    rec, commit, ids = model(images, train=True)
    rec_loss = (1 - cosine(rec, want["teacher_target"])).mean()
    loss = rec_loss + commit
    loss.backward()
    got = {"loss": loss, "quant_loss": commit, "rec_loss": rec_loss,
           "codebook_after": model.quantize.codes, "cluster_size_after": model.quantize.cluster_size}
    got.update({f"grad.{k}": p.grad for k, p in model.named_parameters()})
    worst = {}
    for name, value in got.items():
        b = want[name].reshape(value.shape).double()
        a = value.detach().double()
        atol, rtol = (1e-5, 1e-3) if name.startswith("grad.") else (1e-5, 1e-4)
        excess = ((a - b).abs() - (atol + rtol * b.abs())).max().item()
        worst[name] = excess
    tokens_equal = bool((ids.reshape(want["tokens"].shape) == want["tokens"]).all())
    failed = [k for k, e in worst.items() if e > 0]
    print(json.dumps({"tokens_equal": tokens_equal, "compared": len(worst), "failed": failed,
                      "loss": loss.item(), "official_loss": want["loss"].item()}))
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
            return teacher_vit((x01 - 0.286) / 0.353)

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
        logits = teacher_head(teacher_vit((test - 0.286) / 0.353, pooled=True))
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
