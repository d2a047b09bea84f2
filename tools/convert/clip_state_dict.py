"""Writes the state dict of an OpenAI CLIP checkpoint as a plain .pth that Tessella reads.

OpenAI's released `.pt` files (ViT-B-16.pt, ...) are TorchScript archives: their weights
sit inside a serialized program, not in a pickled dictionary, so they cannot be read as a
state dict directly. This loads the archive with torch, takes its state dict and saves the
tensors of the image tower (`visual.*`, all that a VQ-KD teacher needs) with torch.save.
A file that already holds a plain state dict is accepted too.

    /usr/bin/python3 tools/convert/clip_state_dict.py ViT-B-16.pt clip_vit_b16.pth [--all] [--float32]

  --all       keep every tensor (the text tower too), not only `visual.*`
  --float32   store float32 (default: keep the file's dtype; the releases are float16,
              which Tessella accepts and converts on load)

Then: `clipTeacher(await loadStateDict("clip_vit_b16.pth"))` from `@tessella/tessella/vqkd`.
Needs torch (Debian: apt-get install python3-torch); Tessella itself does not.
"""

import sys

import torch


def load_state_dict(path):
    try:
        return torch.jit.load(path, map_location="cpu").state_dict()
    except RuntimeError:
        loaded = torch.load(path, map_location="cpu")
        if isinstance(loaded, dict):
            return loaded.get("state_dict", loaded)
        return loaded.state_dict()


def main(argv):
    flags = [a for a in argv if a.startswith("--")]
    paths = [a for a in argv if not a.startswith("--")]
    unknown = set(flags) - {"--all", "--float32"}
    if len(paths) != 2 or unknown:
        sys.exit(__doc__)
    source, target = paths
    state = load_state_dict(source)
    if "--all" not in flags:
        state = {k: v for k, v in state.items() if k.startswith("visual.")}
        if not state:
            sys.exit(f"{source} has no visual.* tensors: is it a CLIP checkpoint?")
    if "--float32" in flags:
        state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    state = {k: v.contiguous() for k, v in state.items()}
    torch.save(state, target)
    print(f"wrote {len(state)} tensors to {target}")


if __name__ == "__main__":
    main(sys.argv[1:])
