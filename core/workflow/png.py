"""Saved images: ComfyUI's output names (docs/comfy-api.md §8) and PNG text chunks carrying the workflow.

A saved PNG holds one ``tEXt`` chunk ``prompt`` (the API prompt as JSON) and one per key of
``extra_pnginfo`` (from the frontend: ``workflow``, the UI graph), unless :data:`METADATA_ENABLED` is
turned off (``--disable-metadata``). :func:`read_png_workflow` reads them back, so dropping a saved
image onto the canvas restores its graph.
"""
from __future__ import annotations

import json
import os
import struct
import time
import zlib
from pathlib import Path

METADATA_ENABLED = True
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class OutputPathError(ValueError):
    pass


def expand_placeholders(prefix: str, width: int, height: int, now: time.struct_time | None = None) -> str:
    """Server-side ``%width%``, ``%height%``, ``%year%`` ... ``%second%`` (zero-padded local time)."""
    if "%" not in prefix:
        return prefix
    now = now or time.localtime()
    values = {"width": str(width), "height": str(height), "year": str(now.tm_year),
              "month": f"{now.tm_mon:02d}", "day": f"{now.tm_mday:02d}", "hour": f"{now.tm_hour:02d}",
              "minute": f"{now.tm_min:02d}", "second": f"{now.tm_sec:02d}"}
    for key, value in values.items():
        prefix = prefix.replace(f"%{key}%", value)
    return prefix


def _counter_of(name: str, base: str) -> int | None:
    """The counter in '<base>_<digits>...' (None when the name is not of that form)."""
    head = name[:len(base) + 1]
    if os.path.normcase(head[:-1]) != os.path.normcase(base) or head[-1:] != "_":
        return None
    digits = name[len(base) + 1:].split("_")[0]
    return int(digits) if digits.isdigit() else 0


def save_path(filename_prefix: str, root, width: int = 0, height: int = 0):
    """-> (folder, base name, first counter, subfolder). The counter is 1 + the highest existing one."""
    root = Path(root).resolve()
    # A backslash separates folders in workflows made on Windows; kept in a POSIX name it would give a
    # file that /view refuses to serve.
    prefix = expand_placeholders(filename_prefix, width, height).replace("\\", "/")
    if any(ord(c) < 32 or ord(c) == 127 for c in prefix):
        raise OutputPathError(f"filename_prefix {filename_prefix!r} contains control characters")
    normalized = os.path.normpath(prefix)
    subfolder = os.path.dirname(normalized)
    base = os.path.basename(normalized)
    folder = (root / subfolder).resolve()
    if os.path.commonpath((str(root), str(folder))) != str(root) or os.path.isabs(subfolder):
        raise OutputPathError(f"Saving image outside the output folder is not allowed "
                              f"(filename_prefix {filename_prefix!r} resolves to {folder})")
    folder.mkdir(parents=True, exist_ok=True)
    counters = [c for c in (_counter_of(n, base) for n in os.listdir(folder)) if c is not None]
    return folder, base, (max(counters) + 1 if counters else 1), subfolder.replace(os.sep, "/")


def png_info(prompt=None, extra_pnginfo=None):
    """PIL PngInfo with the metadata chunks, or None when metadata is disabled."""
    if not METADATA_ENABLED:
        return None
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    if prompt is not None:
        info.add_text("prompt", json.dumps(prompt))
    for key, value in (extra_pnginfo or {}).items():
        info.add_text(key, json.dumps(value))
    return info


def to_pil(image):
    """One IMAGE item [H, W, C] in 0..1 -> PIL (255 x, clipped, truncated to uint8 as ComfyUI does)."""
    import numpy as np
    from PIL import Image

    arr = np.clip(255.0 * image.detach().float().cpu().numpy(), 0, 255).astype(np.uint8)
    if arr.shape[-1] == 1:
        arr = arr[..., 0]
    return Image.fromarray(arr)


def save_images(images, filename_prefix: str, root, kind: str = "output", prompt=None, extra_pnginfo=None,
                compress_level: int = 4) -> list:
    """Write an IMAGE batch as PNGs; returns the ``ui.images`` entries ``{filename, subfolder, type}``."""
    height, width = int(images.shape[1]), int(images.shape[2])
    folder, base, counter, subfolder = save_path(filename_prefix, root, width, height)
    info = png_info(prompt, extra_pnginfo)
    results = []
    for batch_number, image in enumerate(images):
        name = f"{base.replace('%batch_num%', str(batch_number))}_{counter:05}_.png"
        to_pil(image).save(folder / name, pnginfo=info, compress_level=compress_level)
        results.append({"filename": name, "subfolder": subfolder, "type": kind})
        counter += 1
    return results


def read_png_text(source) -> dict[str, str]:
    """The text chunks (tEXt, zTXt, iTXt) of a PNG, keyword -> text; ``source`` is its bytes or its path.

    The one PNG metadata reader: ``main.py run`` and the remote client load workflows with it, the
    server keeps an image's chunks with it when a mask is uploaded. A damaged text chunk is skipped.
    """
    data = bytes(source) if isinstance(source, (bytes, bytearray, memoryview)) else Path(source).read_bytes()
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG file")
    out: dict[str, str] = {}
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length  # length, type, data, CRC
        if kind == b"IEND":
            break
        try:
            if kind == b"tEXt":
                key, _, text = body.partition(b"\0")
                out[key.decode("latin-1")] = _decode_text(text)
            elif kind == b"zTXt":
                key, _, rest = body.partition(b"\0")
                out[key.decode("latin-1")] = _decode_text(zlib.decompress(rest[1:]))
            elif kind == b"iTXt":
                key, _, rest = body.partition(b"\0")
                compressed = rest[0] == 1
                _lang, _, rest = rest[2:].partition(b"\0")
                _translated, _, text = rest.partition(b"\0")
                out[key.decode("latin-1")] = (zlib.decompress(text) if compressed else text).decode("utf-8")
        except (zlib.error, IndexError, UnicodeDecodeError):
            continue
    return out


def _decode_text(text: bytes) -> str:
    # tEXt is Latin-1 by the PNG spec, but some writers store UTF-8; JSON written by us is ASCII.
    try:
        return text.decode("utf-8")
    except UnicodeDecodeError:
        return text.decode("latin-1")


def read_png_workflow(path):
    """-> (workflow, prompt) parsed from a saved PNG's text chunks; None for any that is missing or invalid."""
    text = read_png_text(path)
    out = []
    for key in ("workflow", "prompt"):
        try:
            out.append(json.loads(text[key]) if key in text else None)
        except (TypeError, ValueError):
            out.append(None)
    return tuple(out)
