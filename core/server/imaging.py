"""Image decoding for requests (/view with preview= or channel=, /upload/mask) under a memory budget.

A PNG of a few kilobytes can describe 165 million pixels; decoding it and converting it to RGB costs
~1 GB. So before any pixel is decoded, the header gives the size, and the decode reserves its
estimated peak memory from one budget shared by every request of the server: a request that alone
exceeds the budget (or the pixel limit) is refused with 413; the others wait their turn, at most
``max_concurrent`` at a time, and get 503 with Retry-After when the wait grows too long.
Decoding itself runs on a worker thread, never on the event loop.
"""
from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import io
import logging
from pathlib import Path

from core.server.security import Refused

log = logging.getLogger(__name__)

DEFAULT_MEMORY_BUDGET = 1 << 30  # bytes of decoded pixels in flight, all requests together
DEFAULT_MAX_PIXELS = 178_956_970  # Pillow's own decompression-bomb error threshold (2 x MAX_IMAGE_PIXELS)
DEFAULT_MAX_CONCURRENT = 2
DEFAULT_MAX_WAIT = 120.0  # seconds a request may queue for its turn before 503


class DecodeBudget:
    """A weighted semaphore over bytes plus a count limit; fair in arrival order."""

    def __init__(self, memory_bytes: int = DEFAULT_MEMORY_BUDGET, max_pixels: int = DEFAULT_MAX_PIXELS,
                 max_concurrent: int = DEFAULT_MAX_CONCURRENT, max_wait: float = DEFAULT_MAX_WAIT):
        self.memory_bytes = int(memory_bytes)
        self.max_pixels = int(max_pixels)
        self.max_concurrent = max(1, int(max_concurrent))
        self.max_wait = float(max_wait)
        self.in_use = 0
        self.running = 0
        self._turns: list = []  # futures of waiting reservations, in arrival order
        self.peak_in_use = 0  # what the budget let through at most (for tests and logs)

    def check(self, width: int, height: int, cost: int, what: str) -> None:
        pixels = width * height
        if pixels > self.max_pixels:
            raise Refused(413, f"{what} is {width}x{height} = {pixels:,} pixels; the server decodes at most "
                               f"{self.max_pixels:,} pixels per image")
        if cost > self.memory_bytes:
            raise Refused(413, f"{what} ({width}x{height}) needs ~{cost / 2**20:.0f} MiB to decode, more than the "
                               f"server's image decoding budget of {self.memory_bytes / 2**20:.0f} MiB")

    def _fits(self, cost: int) -> bool:
        return self.running < self.max_concurrent and self.in_use + cost <= self.memory_bytes

    def _take(self, cost: int):
        self.in_use += cost
        self.running += 1
        self.peak_in_use = max(self.peak_in_use, self.in_use)

    def _release(self, cost: int):
        self.in_use -= cost
        self.running -= 1
        self._admit()

    def _admit(self):
        """Let waiting reservations in, in order, while the first fits (no overtaking: big ones get a turn)."""
        while self._turns and self._fits(self._turns[0][1]):
            turn, cost = self._turns.pop(0)
            self._take(cost)
            turn.set_result(None)

    @contextlib.asynccontextmanager
    async def reserve(self, cost: int):
        """Hold ``cost`` bytes of the budget for the body of the ``async with``."""
        if self._turns or not self._fits(cost):
            turn = asyncio.get_running_loop().create_future()
            entry = (turn, cost)
            self._turns.append(entry)
            try:
                await asyncio.wait_for(asyncio.shield(turn), self.max_wait)
            except BaseException as e:  # timed out, or the client went away while waiting
                if turn.done():
                    self._release(cost)  # admitted in the same instant: hand the share on
                else:
                    self._turns.remove(entry)
                    self._admit()
                if isinstance(e, asyncio.TimeoutError):
                    raise Refused(503, "the server is busy decoding other images; retry shortly",
                                  headers={"Retry-After": "5"}) from None
                raise
        else:
            self._take(cost)
        try:
            yield
        finally:
            self._release(cost)


def bytes_per_pixel(mode: str) -> int:
    """Pillow's storage: one byte for 1/L/P, two for I;16*, four for every other mode."""
    if mode in ("1", "L", "P"):
        return 1
    if mode.startswith("I;16"):
        return 2
    return 4


def probe(source) -> tuple[int, int, str]:
    """(width, height, mode) from the header alone; Refused(400) when it is not an image."""
    from PIL import Image

    try:
        with Image.open(source if isinstance(source, (str, Path)) else io.BytesIO(source)) as img:
            return img.size[0], img.size[1], img.mode
    except Image.DecompressionBombError as e:  # past Pillow's own limit, which equals our default one
        raise Refused(413, f"image too large to decode: {e}") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise Refused(400, f"not a readable image ({type(e).__name__})") from None


def view_cost(width: int, height: int, mode: str, channel: str, preview: str | None) -> int:
    """Peak bytes of :func:`reencode`: the decoded image, the channel copy, the encoder's copy."""
    per_pixel = bytes_per_pixel(mode) + 1  # + the encoder's working rows and output
    if channel in ("rgb", "a"):
        per_pixel += 4 + (1 if channel == "a" else 0)
    if preview:
        per_pixel += 4
    return width * height * per_pixel


def mask_cost(original: tuple[int, int, str], mask: tuple[int, int, str]) -> int:
    """Peak bytes of :func:`merge_mask`: both decoded, both as RGBA, the alpha plane and its resize."""
    ow, oh, omode = original
    mw, mh, mmode = mask
    return ow * oh * (bytes_per_pixel(omode) + 4 + 2) + mw * mh * (bytes_per_pixel(mmode) + 4 + 1)


def reencode(path: Path, preview: str | None, channel: str):
    """Preview re-encoding and channel extraction of /view -> (bytes, content type)."""
    try:
        return _reencode(path, preview, channel)
    finally:
        release_freed_memory()  # after _reencode returned: its images are gone by now


def _reencode(path: Path, preview: str | None, channel: str):
    from PIL import Image

    with Image.open(path) as img:
        img.load()
        if channel == "a":
            alpha = img.getchannel("A") if "A" in img.getbands() else Image.new("L", img.size, 255)
            out = Image.new("RGBA", img.size, (0, 0, 0, 0))
            out.putalpha(alpha)
            img = out
        elif channel == "rgb":
            img = img.convert("RGB")
        buf = io.BytesIO()
        if preview:
            fmt, _, quality = preview.partition(";")
            fmt = fmt.lower()
            if fmt not in ("webp", "jpeg") or "a" in channel:
                fmt = "webp"
            q = int(quality) if quality.isdigit() else 90
            (img if fmt == "webp" else img.convert("RGB")).save(buf, format=fmt.upper(), quality=max(1, min(q, 100)))
            return buf.getvalue(), f"image/{fmt}"
        # zlib's fastest level: these answers are transient (no-cache), and level 6 takes 2-3x longer
        img.save(buf, format="PNG", compress_level=1)
        return buf.getvalue(), "image/png"


def to_webp(path: Path) -> bytes:
    """The image as WebP (model previews for the official frontend's Model Library)."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            buf = io.BytesIO()
            img.save(buf, format="WEBP")
            return buf.getvalue()
    finally:
        release_freed_memory()


def merge_mask(original: Path, mask_bytes: bytes) -> bytes:
    """The original image with its alpha replaced by the uploaded mask's alpha, PNG text chunks kept."""
    try:
        return _merge_mask(original, mask_bytes)
    finally:
        release_freed_memory()


def _merge_mask(original: Path, mask_bytes: bytes) -> bytes:
    from PIL import Image, PngImagePlugin

    from core.workflow.png import read_png_text

    with Image.open(original) as src, Image.open(io.BytesIO(mask_bytes)) as mask:
        info = PngImagePlugin.PngInfo()
        for key, value in (read_png_text(original) if src.format == "PNG" else {}).items():
            info.add_text(key, value)
        out = src.convert("RGBA")
        alpha = mask.convert("RGBA").getchannel("A")
        if alpha.size != out.size:
            alpha = alpha.resize(out.size)
        out.putalpha(alpha)
        buf = io.BytesIO()
        out.save(buf, format="PNG", pnginfo=info, compress_level=4)
        return buf.getvalue()


_libc = None


def release_freed_memory() -> None:
    """Give freed heap pages back to the OS after a big decode: glibc keeps them otherwise, and the
    server's RSS would stay near its peak for good. A no-op where there is no glibc."""
    global _libc
    if _libc is None:
        name = ctypes.util.find_library("c")
        try:
            _libc = ctypes.CDLL(name) if name else False
        except OSError:
            _libc = False
        if _libc and not hasattr(_libc, "malloc_trim"):
            _libc = False
    if _libc:
        _libc.malloc_trim(0)
