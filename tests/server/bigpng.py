"""Tiny files that decode to huge images: a 1-bit PNG written row by row with zlib, never in memory."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bilevel_png(path: Path, width: int, height: int) -> Path:
    """A black 1-bit greyscale PNG of width x height (a 15000x11000 one is ~20 KB)."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte 0 + packed bits
    packer = zlib.compressobj(9)
    parts = []
    for _ in range(height):
        parts.append(packer.compress(row))
    parts.append(packer.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1 bit, greyscale
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", b"".join(parts))
                     + _chunk(b"IEND", b""))
    return path
