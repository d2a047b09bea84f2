"""PNG files of 1, 2, 4 and 8 bits per sample, grayscale and palette, and the values Pillow
decodes them to: the fixture that checks data/image_folder.ts's decoder against Pillow.

The PNG bytes are assembled here (zlib + CRC, no encoder), so the test also covers files
that Pillow's own writer does not produce (2- and 4-bit grayscale). Images are 5×3: an odd
width, so rows end inside a byte.

    /usr/bin/python3 tools/golden/png_depths.py tests/fixtures/png
"""

import io
import json
import random
import struct
import sys
import zlib
from pathlib import Path

from PIL import Image


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, depth: int, color_type: int, rows: list[list[int]],
        palette: list[tuple[int, int, int]] | None = None) -> bytes:
    raw = b""
    for row in rows:
        bits = "".join(format(v, f"0{depth}b") for v in row)
        bits += "0" * (-len(bits) % 8)
        raw += b"\x00" + int(bits, 2).to_bytes(len(bits) // 8, "big") if bits else b"\x00"
    out = b"\x89PNG\r\n\x1a\n"
    out += chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0))
    if palette is not None:
        out += chunk(b"PLTE", b"".join(bytes(c) for c in palette))
    out += chunk(b"IDAT", zlib.compress(raw))
    out += chunk(b"IEND", b"")
    return out


def main(folder: str) -> None:
    dest = Path(folder)
    dest.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    width, height = 5, 3
    expected = {}
    for depth in (1, 2, 4, 8):
        rows = [[rng.randrange(2 ** depth) for _ in range(width)] for _ in range(height)]
        gray = png(width, height, depth, 0, rows)
        palette = [(rng.randrange(256), rng.randrange(256), rng.randrange(256))
                   for _ in range(2 ** depth)]
        indexed = png(width, height, depth, 3, rows, palette)
        for name, data, mode in ((f"gray{depth}", gray, "L"), (f"palette{depth}", indexed, "RGB")):
            (dest / f"{name}.png").write_bytes(data)
            image = Image.open(io.BytesIO(data))
            values = list(image.convert(mode).tobytes())
            expected[name] = {"mode": mode, "width": width, "height": height, "values": values}
    (dest / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/png")
