"""Draw the Teams app icons with the standard library only (zlib + struct), as Teams wants them:

- ``color.png``: 192×192, full colour — a white warning triangle with an exclamation mark on warroom's red;
- ``outline.png``: 32×32, white on a transparent background — the same triangle, outlined.

Run ``python warroom/chat/teams/app_package/make_icons.py`` to write both next to this file. The output is deterministic.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

RED = (0xB3, 0x26, 0x1E)
WHITE = (0xFF, 0xFF, 0xFF)
SAMPLES = 4  # supersampling per axis, for smooth edges


def png(width: int, height: int, pixels: list[list[tuple[int, int, int, int]]]) -> bytes:
    """An 8-bit RGBA PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    raw = b"".join(b"\x00" + bytes(v for px in row for v in px) for row in pixels)
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def _inside_triangle(x: float, y: float, inset: float = 0.0) -> bool:
    """The warning triangle in unit coordinates: apex (0.5, 0.14), base y = 0.84 from x = 0.1 to 0.9."""
    top, bottom, left, right = 0.14 + inset * 2.2, 0.84 - inset, 0.1 + inset * 1.9, 0.9 - inset * 1.9
    if not top <= y <= bottom:
        return False
    half = (right - left) / 2 * (y - top) / (bottom - top)
    return 0.5 - half <= x <= 0.5 + half


def _exclamation(x: float, y: float) -> bool:
    bar = abs(x - 0.5) <= 0.045 and 0.36 <= y <= 0.64
    dot = (x - 0.5) ** 2 + (y - 0.73) ** 2 <= 0.05**2
    return bar or dot


def _color(x: float, y: float) -> tuple[tuple[int, int, int], float]:
    white = _inside_triangle(x, y) and not _exclamation(x, y)
    return (WHITE if white else RED), 1.0


def _outline(x: float, y: float) -> tuple[tuple[int, int, int], float]:
    ring = _inside_triangle(x, y) and not _inside_triangle(x, y, inset=0.09)
    return WHITE, 1.0 if ring or _exclamation(x, y) else 0.0


def render(size: int, shade: Callable[[float, float], tuple[tuple[int, int, int], float]]) -> bytes:
    rows = []
    for j in range(size):
        row = []
        for i in range(size):
            r = g = b = a = 0.0
            for sj in range(SAMPLES):
                for si in range(SAMPLES):
                    (cr, cg, cb), alpha = shade(
                        (i + (si + 0.5) / SAMPLES) / size, (j + (sj + 0.5) / SAMPLES) / size
                    )
                    r, g, b, a = r + cr * alpha, g + cg * alpha, b + cb * alpha, a + alpha
            n = SAMPLES * SAMPLES
            if a == 0:
                row.append((0, 0, 0, 0))
            else:
                row.append((round(r / a), round(g / a), round(b / a), round(255 * a / n)))
        rows.append(row)
    return png(size, size, rows)


def main() -> None:
    here = Path(__file__).resolve().parent
    (here / "color.png").write_bytes(render(192, _color))
    (here / "outline.png").write_bytes(render(32, _outline))


if __name__ == "__main__":
    main()
