"""Golden fixture for image resampling, computed by PIL (Pillow 9.4, Debian).

PIL's resize in "F" mode (32-bit float, one channel) runs the same separable, antialiased
filters as for 8-bit images, without rounding, so it pins down our bilinear and bicubic
resampling exactly. Each case: a random image in [0, 1], a crop box (as torchvision's
resized_crop passes to PIL), an output size, a filter, and PIL's result clipped to
[0, 1] (as an 8-bit image would be).

    /usr/bin/python3 tools/golden/resize.py tests/fixtures/golden_resize.json
"""

import json
import sys

import numpy as np
from PIL import Image

rng = np.random.default_rng(20261127)
cases = []
for (h, w), box, (oh, ow), name in [
    ((28, 28), (0, 0, 28, 28), (28, 28), "bilinear"),
    ((28, 28), (3, 5, 21, 17), (28, 28), "bicubic"),
    ((28, 28), (0, 0, 28, 28), (14, 14), "bicubic"),
    ((28, 28), (2, 1, 25, 27), (14, 7), "bilinear"),
    ((13, 9), (0, 0, 9, 13), (31, 20), "bicubic"),
    ((13, 9), (1, 2, 8, 12), (5, 6), "bilinear"),
    ((20, 30), (4, 0, 26, 20), (10, 10), "bicubic"),
]:
    img = rng.random((h, w), dtype=np.float32)
    left, top, right, bottom = box
    pil = Image.fromarray(img, mode="F").resize(
        (ow, oh), {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}[name], box=(left, top, right, bottom))
    out = np.clip(np.asarray(pil, dtype=np.float32), 0, 1)
    cases.append({
        "input": {"shape": [h, w], "data": [float(v) for v in img.ravel()]},
        "box": {"top": top, "left": left, "height": bottom - top, "width": right - left},
        "size": [oh, ow],
        "interpolation": name,
        "output": [float(v) for v in out.ravel()],
    })
with open(sys.argv[1], "w") as f:
    json.dump({"generator": "tools/golden/resize.py", "pillow": Image.__version__, "cases": cases}, f, separators=(",", ":"))
print(f"wrote {len(cases)} cases")
