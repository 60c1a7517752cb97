"""FLUX.1 Kontext: in-context image editing by appending reference-image tokens to the image tokens.

Kontext [dev] is a FLUX.1 [dev]-shaped transformer (same keys and shapes) trained with the latents of
reference images appended to the sequence (Black Forest Labs 2025, "FLUX.1 Kontext", §3). The
reference tokens get rotary position ids with the first axis set to 1 (the generated image keeps 0),
so the network tells the two apart while rows and columns still line up; their outputs are dropped.

Several references are laid out as ComfyUI does it (``reference_latents_method``):
- ``offset`` (default): index 1 for all, each next image placed beside or below the ones before,
  whichever keeps the combined canvas closer to square;
- ``index``: each image at the origin with its own index 1, 2, ...;
- ``uxo``: index 0, each image shifted diagonally past the generated image and the ones before
  (the UNO/USO-style layout).
With one reference, ``offset`` gives (1, row, col) from the origin: diffusers' FluxKontextPipeline ids.
"""
from __future__ import annotations

METHODS = ("offset", "index", "uxo")

# The resolutions Kontext was trained at, (width, height), about one megapixel each (ComfyUI's
# comfy_extras/nodes_flux.py PREFERED_KONTEXT_RESOLUTIONS, a fact of the model).
PREFERRED_RESOLUTIONS = (
    (672, 1568), (688, 1504), (720, 1456), (752, 1392), (800, 1328), (832, 1248), (880, 1184),
    (944, 1104), (1024, 1024), (1104, 944), (1184, 880), (1248, 832), (1328, 800), (1392, 752),
    (1456, 720), (1504, 688), (1568, 672),
)


def preferred_resolution(width: int, height: int) -> tuple[int, int]:
    """The trained (width, height) whose aspect ratio is closest to ``width / height``."""
    aspect = width / height
    return min(PREFERRED_RESOLUTIONS, key=lambda wh: (abs(aspect - wh[0] / wh[1]), wh))


def reference_positions(sizes, method: str, image_hw: tuple, patch: int = 2) -> list:
    """``[(index, row offset, column offset)]`` in latent pixels for reference latents of ``sizes``
    ([(h, w), ...]) next to a generated latent of ``image_hw``; see the module docstring."""
    if method not in METHODS:
        raise ValueError(f"FLUX Kontext: reference_latents_method {method!r} is not one of {', '.join(METHODS)}")
    h_img, w_img = ((n + patch // 2) // patch for n in image_hw)  # the image in patches, rounded up
    out, index, h, w = [], 0, 0, 0
    for rh, rw in sizes:
        rh, rw = int(rh), int(rw)
        if method == "index":
            index += 1
            out.append((index, 0, 0))
        elif method == "uxo":
            out.append((0, h_img * patch + h, w_img * patch + w))
            h, w = h + rh, w + rw
        else:
            # place beside (w offset) when that keeps the canvas taller than wide, else below
            h_off, w_off = (0, w) if rh + h > rw + w else (h, 0)
            h, w = max(h, rh + h_off), max(w, rw + w_off)
            out.append((1, h_off, w_off))
    return out
