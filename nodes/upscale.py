"""Upscale-model nodes: ESRGAN-family models through the ``spandrel`` package, run in overlapping tiles.

spandrel knows the architectures (ESRGAN, Real-ESRGAN, SwinIR, HAT, ...) from their state dicts, so
we keep no copies of them. It is optional: without it these nodes raise an error saying how to install it.
"""
from __future__ import annotations

import logging

from core import paths
from core.spec import Combo, In, Node, Output

log = logging.getLogger(__name__)

TILE, OVERLAP = 512, 32


def _spandrel(node: str):
    try:
        import spandrel
    except Exception as e:  # ImportError, or torchvision failing to load its operators
        raise RuntimeError(f"{node}: upscale models need the 'spandrel' package (and a torchvision matching "
                           f"torch), which could not be imported: {e}") from e
    return spandrel


def _models():
    return paths.get().get_filename_list("upscale_models")


class UpscaleModelLoader(Node):
    CATEGORY = "loaders"
    DISPLAY_NAME = "Load Upscale Model"
    INPUTS = (Combo(name="model_name", choices=_models),)
    OUTPUTS = (Output("UPSCALE_MODEL"),)

    def execute(self, model_name):
        from core.models.weights import load_file

        spandrel = _spandrel("UpscaleModelLoader")
        try:
            path = paths.get().get_full_path_or_raise("upscale_models", model_name)
        except FileNotFoundError as e:
            raise FileNotFoundError(f"UpscaleModelLoader, input 'model_name': {e}") from e
        sd, _ = load_file(path)
        if "module.layers.0.residual_group.blocks.0.norm1.weight" in sd:  # DataParallel-saved SwinIR-likes
            sd = {k.removeprefix("module."): v for k, v in sd.items()}
        try:
            descriptor = spandrel.ModelLoader().load_from_state_dict(sd).eval()
        except Exception as e:
            raise ValueError(f"UpscaleModelLoader, input 'model_name': {model_name!r} is not an upscale model "
                             f"spandrel recognises ({e})") from e
        if not isinstance(descriptor, spandrel.ImageModelDescriptor):
            raise ValueError(f"UpscaleModelLoader, input 'model_name': {model_name!r} is not a single-image model")
        return (descriptor,)


def upscale_tiled(model, image, tile: int = TILE, overlap: int = OVERLAP):
    """IMAGE [B,H,W,C] through ``model`` (NCHW → NCHW × scale) tile by tile, overlaps averaged."""
    import torch

    from core.progress import ProgressBar, check_interrupt

    scale = int(model.scale)
    x = image.movedim(-1, 1)[:, :3].float()
    b, c, h, w = x.shape
    step = tile - overlap
    ys = list(range(0, max(h - overlap, 1), step)) or [0]
    xs = list(range(0, max(w - overlap, 1), step)) or [0]
    out = torch.zeros(b, c, h * scale, w * scale)
    weight = torch.zeros(1, 1, h * scale, w * scale)
    bar = ProgressBar(len(ys) * len(xs) * b)
    device = next(model.model.parameters()).device
    for i in range(b):
        for y0 in ys:
            for x0 in xs:
                check_interrupt()
                y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
                with torch.no_grad():
                    piece = model(x[i:i + 1, :, y0:y1, x0:x1].to(device)).float().cpu()
                out[i:i + 1, :, y0 * scale:y1 * scale, x0 * scale:x1 * scale] += piece
                if i == 0:
                    weight[:, :, y0 * scale:y1 * scale, x0 * scale:x1 * scale] += 1
                bar.update(1)
    return (out / weight).clamp(0, 1).movedim(1, -1)


class ImageUpscaleWithModel(Node):
    CATEGORY = "image/upscaling"
    DISPLAY_NAME = "Upscale Image (using Model)"
    INPUTS = (In("UPSCALE_MODEL", "upscale_model"), In("IMAGE", "image"))
    OUTPUTS = (Output("IMAGE"),)

    def execute(self, upscale_model, image):
        return (upscale_tiled(upscale_model, image),)


NODES = [UpscaleModelLoader, ImageUpscaleWithModel]
