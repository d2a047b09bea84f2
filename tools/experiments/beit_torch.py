"""BEiT v2's modules in plain PyTorch, written from the official model classes' behaviour (the
parameter names are the official state-dict names, so Tessella checkpoints and the official
fixtures load into them): the fine-tune style ViT (classifier, VQ-KD encoder and decoder), the
pretraining model with the CLS bottleneck, VQ-KD with its l2-normalised EMA codebook, blockwise
masking, and a reader for safetensors files.

Used by tools/experiments/vqkd_torch.py and tools/experiments/pipeline_torch.py. Needs torch and
numpy (Debian's python3-torch).
"""

import json
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


# --- initialisation ---------------------------------------------------------------------


def trunc_normal_(t, std, bound):
    """Normal(0, std) truncated at +-bound (the official code's two regimes: +-2 absolute for
    the fine-tune style, +-std for the pretraining model)."""
    with torch.no_grad():
        return nn.init.trunc_normal_(t, std=std, a=-bound, b=bound)


def init_linears(module, std, bound):
    for m in module.modules():
        if isinstance(m, nn.Linear):
            trunc_normal_(m.weight, std, bound)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


# --- the transformer parts --------------------------------------------------------------


def relative_position_index(grid):
    """The [T, T] index into a relative-bias table of (2G-1)^2 + 3 rows (token 0 is CLS)."""
    n, t = grid * grid, grid * grid + 1
    rows = (2 * grid - 1) ** 2 + 3
    index = torch.zeros(t, t, dtype=torch.long)
    coords = torch.stack(torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij"))
    coords = coords.flatten(1)  # [2, N]
    rel = coords[:, :, None] - coords[:, None, :] + grid - 1  # [2, N, N]
    index[1:, 1:] = rel[0] * (2 * grid - 1) + rel[1]
    index[0, :] = rows - 3
    index[:, 0] = rows - 2
    index[0, 0] = rows - 1
    return index


class RelativePositionBias(nn.Module):
    """A learned table of relative-position biases per head, indexed for a G x G grid + CLS."""

    def __init__(self, grid, heads):
        super().__init__()
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * grid - 1) ** 2 + 3, heads))
        self.register_buffer("relative_position_index", relative_position_index(grid),
                             persistent=False)

    def forward(self):
        t = self.relative_position_index.shape[0]
        bias = self.relative_position_bias_table[self.relative_position_index.reshape(-1)]
        return bias.reshape(t, t, -1).permute(2, 0, 1)  # [H, T, T]


class Attention(nn.Module):
    def __init__(self, dim, heads, qkv_bias=True, grid=None):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        if qkv_bias:
            self.q_bias = nn.Parameter(torch.zeros(dim))
            self.v_bias = nn.Parameter(torch.zeros(dim))
        else:
            self.q_bias = self.v_bias = None
        if grid is not None:  # a table of its own (fine-tuning)
            self.relative_position_bias_table = nn.Parameter(
                torch.zeros((2 * grid - 1) ** 2 + 3, heads))
            self.register_buffer("relative_position_index", relative_position_index(grid),
                                 persistent=False)
        else:
            self.relative_position_bias_table = None
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, rel_bias=None):
        b, n, d = x.shape
        bias = None
        if self.q_bias is not None:
            bias = torch.cat([self.q_bias, torch.zeros_like(self.q_bias), self.v_bias])
        qkv = F.linear(x, self.qkv.weight, bias).reshape(b, n, 3, self.heads, -1)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        attn = (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)
        if self.relative_position_bias_table is not None:
            table = self.relative_position_bias_table[self.relative_position_index.reshape(-1)]
            attn = attn + table.reshape(n, n, -1).permute(2, 0, 1)
        if rel_bias is not None:
            attn = attn + rel_bias
        return self.proj((attn.softmax(-1) @ v).transpose(1, 2).reshape(b, n, d))


def drop_path(x, rate, training):
    if rate == 0 or not training:
        return x
    keep = 1 - rate
    mask = x.new_empty(x.shape[0], *([1] * (x.ndim - 1))).bernoulli_(keep)
    return x * mask / keep


class Block(nn.Module):
    def __init__(self, dim, heads, init_values=None, drop_path_rate=0.0, grid=None,
                 qkv_bias=True):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads, qkv_bias, grid)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Module()
        self.mlp.fc1 = nn.Linear(dim, 4 * dim)
        self.mlp.fc2 = nn.Linear(4 * dim, dim)
        self.drop_path_rate = drop_path_rate
        if init_values:
            self.gamma_1 = nn.Parameter(init_values * torch.ones(dim))
            self.gamma_2 = nn.Parameter(init_values * torch.ones(dim))
        else:
            self.gamma_1 = self.gamma_2 = None

    def forward(self, x, rel_bias=None):
        a = self.attn(self.norm1(x), rel_bias)
        if self.gamma_1 is not None:
            a = self.gamma_1 * a
        x = x + drop_path(a, self.drop_path_rate, self.training)
        m = self.mlp.fc2(F.gelu(self.mlp.fc1(self.norm2(x))))
        if self.gamma_2 is not None:
            m = self.gamma_2 * m
        return x + drop_path(m, self.drop_path_rate, self.training)


def rescale_blocks(blocks, first_layer=1):
    """Divides attn.proj and mlp.fc2 weights of the i-th block (1-based) by sqrt(2i)."""
    with torch.no_grad():
        for i, blk in enumerate(blocks, start=first_layer):
            blk.attn.proj.weight.div_(math.sqrt(2 * i))
            blk.mlp.fc2.weight.div_(math.sqrt(2 * i))


class PatchEmbed(nn.Module):
    def __init__(self, patch, chans, dim):
        super().__init__()
        self.proj = nn.Conv2d(chans, dim, patch, patch)  # framework default init

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class ViT(nn.Module):
    """The fine-tune style Vision Transformer (official modeling_finetune.VisionTransformer):
    CLS token, optional absolute position embedding, blocks with optional per-block relative
    position bias and layer scale, then mean pooling with fc_norm (or the final norm's CLS),
    and an optional linear head."""

    def __init__(self, img, patch, chans, dim, depth, heads, num_classes=0,
                 use_abs_pos_emb=True, use_rel_pos_bias=False, use_mean_pooling=True,
                 init_values=None, drop_path_rate=0.0, init_scale=0.001):
        super().__init__()
        grid = img // patch
        self.patch_embed = PatchEmbed(patch, chans, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid + 1, dim)) \
            if use_abs_pos_emb else None
        rates = torch.linspace(0, drop_path_rate, depth).tolist()
        self.blocks = nn.ModuleList([
            Block(dim, heads, init_values, rates[i], grid if use_rel_pos_bias else None)
            for i in range(depth)])
        self.use_mean_pooling = use_mean_pooling
        if use_mean_pooling:
            self.norm, self.fc_norm = None, nn.LayerNorm(dim, eps=1e-6)
        else:
            self.norm, self.fc_norm = nn.LayerNorm(dim, eps=1e-6), None
        self.head = nn.Linear(dim, num_classes) if num_classes > 0 else None
        if self.pos_embed is not None:
            trunc_normal_(self.pos_embed, 0.02, 2)
        trunc_normal_(self.cls_token, 0.02, 2)
        init_linears(self.blocks, 0.02, 2)
        if self.head is not None:
            init_linears(self.head, 0.02, 2)
            with torch.no_grad():
                self.head.weight.mul_(init_scale)
                self.head.bias.mul_(init_scale)
        rescale_blocks(self.blocks)

    def tokens(self, x):
        x = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(len(x), -1, -1), x], 1)
        if self.pos_embed is not None:
            x = x + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        return x

    def features(self, x):
        """The pooled features the head sees: fc_norm(mean patch token), or norm(x)[CLS]."""
        x = self.tokens(x)
        return self.fc_norm(x[:, 1:].mean(1)) if self.use_mean_pooling else self.norm(x)[:, 0]

    def patch_tokens(self, x):
        """Every patch token after the last norm (fc_norm in mean-pooling mode)."""
        x = self.tokens(x)[:, 1:]
        return self.fc_norm(x) if self.use_mean_pooling else self.norm(x)

    def forward(self, x):
        return self.head(self.features(x))


class BeitPretrain(nn.Module):
    """The BEiT v2 pretraining model with the CLS bottleneck (official
    VisionTransformerForMaskedImageModelingCLS, shared relative position bias, shared lm_head
    and norm): masked patches are replaced by the mask token; the bottleneck blocks see the
    last block's CLS token with the patch tokens of block `early_layers`."""

    def __init__(self, img, patch, chans, vocab, dim, depth, heads, early_layers, head_layers,
                 init_values=0.1, use_abs_pos_emb=False):
        super().__init__()
        grid = img // patch
        self.grid, self.early_layers = grid, early_layers
        self.patch_embed = PatchEmbed(patch, chans, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid + 1, dim)) \
            if use_abs_pos_emb else None
        self.rel_pos_bias = RelativePositionBias(grid, heads)
        self.blocks = nn.ModuleList([Block(dim, heads, init_values) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.lm_head = nn.Linear(dim, vocab)
        # Pretrain style: normal(0.02) truncated at +-1 sigma for every draw.
        for t in [self.cls_token, self.mask_token, self.patch_embed.proj.weight,
                  *([self.pos_embed] if self.pos_embed is not None else [])]:
            trunc_normal_(t, 0.02, 0.02)
        nn.init.zeros_(self.patch_embed.proj.bias)
        init_linears(self.blocks, 0.02, 0.02)
        init_linears(self.lm_head, 0.02, 0.02)
        rescale_blocks(self.blocks)
        # The bottleneck blocks keep the framework's default init (they are created after
        # the official initialiser ran), then the rescale for layers early+1, early+2, ...
        self.cls_pt_layers = nn.ModuleList([Block(dim, heads, init_values)
                                            for _ in range(head_layers)])
        rescale_blocks(self.cls_pt_layers, early_layers + 1)

    def forward(self, x, mask):
        """x: normalised images; mask: bool [B, N]. Returns the normalised tokens of both
        branches [B, T, D] (main, bottleneck)."""
        x = self.patch_embed(x)
        w = mask[..., None].to(x.dtype)
        x = x * (1 - w) + self.mask_token * w
        x = torch.cat([self.cls_token.expand(len(x), -1, -1), x], 1)
        if self.pos_embed is not None:
            x = x + self.pos_embed
        bias = self.rel_pos_bias()
        early = None
        for i, blk in enumerate(self.blocks, start=1):
            x = blk(x, bias)
            if i == self.early_layers:
                early = x[:, 1:]
        s = torch.cat([x[:, :1], early], 1)
        for blk in self.cls_pt_layers:
            s = blk(s, bias)
        return self.norm(x), self.norm(s)

    def losses(self, x, mask, labels):
        """Cross-entropy of each branch on the masked positions, and their accuracies."""
        main, cls_pt = self.forward(x, mask)
        target = labels[mask]
        logits = self.lm_head(main[:, 1:][mask])
        logits_cls = self.lm_head(cls_pt[:, 1:][mask])
        return (F.cross_entropy(logits, target), F.cross_entropy(logits_cls, target),
                (logits.argmax(1) == target).float().mean(),
                (logits_cls.argmax(1) == target).float().mean())

    def cls_feature(self, x):
        """The linear-probe feature: the last layer's CLS token after the final norm."""
        mask = torch.zeros(len(x), self.grid * self.grid, dtype=torch.bool)
        return self.forward(x, mask)[0][:, 0]

    def mean_patch_feature(self, x):
        mask = torch.zeros(len(x), self.grid * self.grid, dtype=torch.bool)
        return self.forward(x, mask)[0][:, 1:].mean(1)


# --- VQ-KD ------------------------------------------------------------------------------


def task_layer(dim, out):
    layer = nn.Sequential(nn.Linear(dim, dim), nn.Tanh(), nn.Linear(dim, out))
    init_linears(layer, 0.02, 2)
    return layer


class NormEmaQuantizer:
    """l2-normalised codes, spherical k-means init on the first training batch, EMA of the
    codes toward the renormalised batch means (dead codes are kept, not re-initialised)."""

    def __init__(self, k, c, decay=0.99):
        self.codes = torch.zeros(k, c)
        self.cluster_size = torch.zeros(k)  # EMA of the counts: a metric only
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
    """The tokenizer: a mean-pooling ViT encoder of 4x4 patches on 28x28 images, its patch
    tokens projected and quantised, and a decoder ViT over the 7x7 grid of codes that
    predicts `target_dim` features per patch."""

    def __init__(self, target_dim, width=128, depth=4, heads=4, codes=512, code_dim=32,
                 decoder_depth=1):
        super().__init__()
        self.encoder = ViT(28, 4, 1, width, depth, heads)
        self.encode_task_layer = task_layer(width, code_dim)
        self.decoder = ViT(7, 1, code_dim, width, decoder_depth, heads)
        self.decode_task_layer = task_layer(width, target_dim)
        self.quantize = NormEmaQuantizer(codes, code_dim)

    def forward(self, x01, train):
        u = self.encode_task_layer(self.encoder.patch_tokens(2 * x01 - 1))  # x -> 2x - 1
        zq, commit, ids = self.quantize(u, train)
        b, c = len(x01), u.shape[-1]
        zq = zq.reshape(b, 7, 7, c).permute(0, 3, 1, 2)
        return self.decode_task_layer(self.decoder.patch_tokens(zq)), commit, ids

    def tokens(self, x01):
        u = self.encode_task_layer(self.encoder.patch_tokens(2 * x01 - 1))
        z = F.normalize(u, dim=-1)
        return (z @ self.quantize.codes.T).argmax(-1)  # [B, 49]


def pixel_targets(x01):
    """Each 4x4 patch normalised by its own mean and std (the `pixels` teacher)."""
    p = x01.reshape(-1, 7, 4, 7, 4).permute(0, 1, 3, 2, 4).reshape(len(x01), 49, 16)
    mu = p.mean(-1, keepdim=True)
    var = p.var(-1, unbiased=False, keepdim=True)
    return (p - mu) / torch.sqrt(var + 1e-6)


def cosine(a, b):
    return (F.normalize(a, dim=-1, eps=1e-12) * F.normalize(b, dim=-1, eps=1e-12)).sum(-1)


# --- blockwise masking ------------------------------------------------------------------


def blockwise_mask(rng, grid, num_masked, min_block, max_block=None, min_aspect=0.3):
    """The official MaskingGenerator: rectangles of random area and aspect until the count is
    reached (a rectangle never spans the whole grid), then random single patches up to exactly
    `num_masked`."""
    h = w = grid
    max_block = max_block or num_masked
    log_aspect = (math.log(min_aspect), math.log(1 / min_aspect))
    mask = np.zeros((h, w), dtype=bool)
    count = 0
    while count < num_masked:
        cap = min(num_masked - count, max_block)
        delta = 0
        for _ in range(10):
            target = min_block + (cap - min_block) * rng.random()  # random.uniform: any order
            aspect = math.exp(rng.uniform(*log_aspect))
            bh = int(round(math.sqrt(target * aspect)))
            bw = int(round(math.sqrt(target / aspect)))
            if bw < w and bh < h:
                top = int(rng.integers(0, h - bh + 1))
                left = int(rng.integers(0, w - bw + 1))
                new = bh * bw - mask[top: top + bh, left: left + bw].sum()
                if 0 < new <= cap:
                    mask[top: top + bh, left: left + bw] = True
                    delta = new
                if delta > 0:
                    break
        if delta == 0:
            break
        count += delta
    if count < num_masked:
        free = np.flatnonzero(~mask.reshape(-1))
        mask.reshape(-1)[rng.choice(free, num_masked - count, replace=False)] = True
    return mask.reshape(-1)


# --- files ------------------------------------------------------------------------------


def read_safetensors(path):
    raw = open(path, "rb").read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8: 8 + n])
    types = {"F32": np.float32, "I64": np.int64, "I32": np.int32, "BOOL": np.bool_}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        array = np.frombuffer(raw[8 + n + a: 8 + n + b], types[info["dtype"]])
        out[name] = torch.from_numpy(array.reshape(info["shape"]).copy())
    return out


# --- checks against the official code's fixtures (tests/fixtures/official) --------------


def excess(a, b, atol, rtol):
    """max(|a - b| - (atol + rtol |b|)): positive where a tolerance is exceeded."""
    a, b = a.detach().double().reshape(b.shape), b.double()
    return ((a - b).abs() - (atol + rtol * b.abs())).max().item()


def compare(report, prefix, got, want):
    """Adds each value's tolerance excess to `report` (gradients a little looser)."""
    for name, value in got.items():
        tol = (1e-5, 1e-3) if name.startswith("grad.") else (1e-5, 1e-4)
        report[f"{prefix}{name}"] = excess(value, want[name], *tol)


def load_official(model, path):
    """Loads an official state dict (the regenerated relative_position_index buffers aside)."""
    weights = {k: v for k, v in read_safetensors(path).items()
               if not k.endswith("relative_position_index")}
    model.load_state_dict(weights, strict=True)
    return model


def check_vqkd_step(folder, report):
    """One tokenizer training step from the official weights: losses, EMA codebook, cluster
    sizes and every gradient into `report`; returns whether the tokens are equal."""
    cfg = json.load(open(f"{folder}/vqkd_config.json"))
    enc = cfg["encoder"]
    tok = Vqkd(cfg["decoder_out_dim"], enc["embed_dim"], enc["depth"], enc["num_heads"],
               cfg["n_embed"], cfg["embed_dim"], cfg["decoder"]["depth"])
    weights = read_safetensors(f"{folder}/vqkd_weights.safetensors")
    tok.load_state_dict({k: v for k, v in weights.items() if not k.startswith("quantize.")})
    tok.quantize.codes = weights["quantize.embedding.weight"]
    tok.quantize.cluster_size = weights["quantize.cluster_size"]
    tok.quantize.initted = bool(weights["quantize.embedding.initted"].item())
    images = read_safetensors(f"{folder}/vqkd_eval.safetensors")["images"]
    want = read_safetensors(f"{folder}/vqkd_train_step.safetensors")
    with torch.no_grad():  # the fixture's module ran the eval forward first (usage statistics)
        tok(images, train=False)
    rec, commit, ids = tok(images, train=True)
    rec_loss = (1 - cosine(rec, want["teacher_target"])).mean()
    (rec_loss + commit).backward()
    got = {"loss": rec_loss + commit, "quant_loss": commit, "rec_loss": rec_loss,
           "codebook_after": tok.quantize.codes, "cluster_size_after": tok.quantize.cluster_size}
    got.update({f"grad.{k}": p.grad for k, p in tok.named_parameters()})
    compare(report, "vqkd ", got, want)
    return bool((ids.reshape(want["tokens"].shape) == want["tokens"]).all())
