"""The PyTorch half of the export round trip: loads the .pth files that `deno task export`
wrote (torch.load, then a strict load_state_dict into BEiT v2's modules written after the
official classes, tools/experiments/beit_torch.py), runs them on the inputs Tessella used,
and compares with Tessella's outputs (tools/golden/export_roundtrip.ts writes both).

    deno run -A tools/golden/export_roundtrip.ts --run runs/quick
    /usr/bin/python3 tools/golden/export_roundtrip.py runs/quick/official

Checks |a - b| <= 1e-4 + 1e-4 * |b| on the classifier's logits and both branches' MIM
logits, and equal token ids. Exits 1 on any difference. Needs torch and numpy.
"""

import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "experiments"))
from beit_torch import BeitPretrain, ViT, Vqkd, read_safetensors  # noqa: E402

ATOL = RTOL = 1e-4


def load(folder, name):
    """The state dict of an exported file, as the official loaders take it (`model`)."""
    checkpoint = torch.load(os.path.join(folder, name + ".pth"), map_location="cpu")
    assert set(checkpoint) == {"model"}, f"{name}: top-level keys {list(checkpoint)}"
    state = checkpoint["model"]
    assert type(state).__name__ == "OrderedDict", f"{name}: {type(state)}"
    config = json.load(open(os.path.join(folder, name + ".json")))
    return state, config


def strict(model, state):
    """A strict load; our modules regenerate relative_position_index, so those are set aside
    after checking them against the regenerated ones."""
    buffers = dict(model.named_buffers())
    for key in [k for k in state if k.endswith("relative_position_index")]:
        index = state.pop(key)
        assert index.dtype == torch.int64, f"{key}: {index.dtype}"
        assert torch.equal(index, buffers[key]), f"{key} differs from the official index"
    model.load_state_dict(state, strict=True)
    return model.eval()


def compare(name, got, want, failures):
    excess = ((got - want).abs() - (ATOL + RTOL * want.abs())).max().item()
    worst = (got - want).abs().max().item()
    print(f"{name}: max |diff| {worst:.2e}, {'ok' if excess <= 0 else 'FAIL'}")
    if excess > 0:
        failures.append(name)


def main(folder):
    ours = read_safetensors(os.path.join(folder, "tessella_outputs.safetensors"))
    failures = []
    with torch.no_grad():
        state, c = load(folder, "beit_finetuned")
        vit = strict(ViT(c["img_size"], c["patch_size"], c["in_chans"], c["embed_dim"],
                         c["depth"], c["num_heads"], c["num_classes"],
                         use_abs_pos_emb=c["use_abs_pos_emb"], use_rel_pos_bias=True,
                         use_mean_pooling=True, init_values=c["init_values"]), state)
        compare("classifier logits", vit(ours["images"]), ours["classifier_logits"], failures)

        state, c = load(folder, "beit_pretrain")
        beit = strict(BeitPretrain(c["img_size"], c["patch_size"], c["in_chans"], c["vocab_size"],
                                   c["embed_dim"], c["depth"], c["num_heads"], c["early_layers"],
                                   c["head_layers"], init_values=c["init_values"],
                                   use_abs_pos_emb=c["use_abs_pos_emb"]), state)
        main_tokens, cls_pt_tokens = beit(ours["images"], ours["mask"])
        compare("MIM logits (main branch)", beit.lm_head(main_tokens[:, 1:]),
                ours["pretrain_logits"], failures)
        compare("MIM logits (bottleneck branch)", beit.lm_head(cls_pt_tokens[:, 1:]),
                ours["pretrain_logits_cls_pt"], failures)

        state, c = load(folder, "vqkd")
        e = c["encoder"]
        vqkd = Vqkd(c["decoder_out_dim"], e["embed_dim"], e["depth"], e["num_heads"],
                    c["n_embed"], c["embed_dim"], c["decoder"]["depth"])
        quantize = {k: state.pop(k) for k in list(state) if k.startswith("quantize.")}
        assert float(quantize["quantize.embedding.initted"]) == 1.0
        vqkd.quantize.codes = quantize["quantize.embedding.weight"]
        strict(vqkd, state)
        tokens = vqkd.tokens(ours["images01"])
        same = bool(torch.equal(tokens, ours["tokens"].long()))
        print(f"tokens: {int((tokens != ours['tokens'].long()).sum())} of {tokens.numel()} differ,"
              f" {'ok' if same else 'FAIL'}")
        if not same:
            failures.append("tokens")
    print("FAILED: " + ", ".join(failures) if failures else "all outputs match")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
