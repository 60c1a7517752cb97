"""Upscale-model nodes: ESRGAN-family models through the ``spandrel`` package, run in overlapping tiles.

spandrel knows the architectures (ESRGAN, Real-ESRGAN, SwinIR, HAT, ...) from their state dicts, so
we keep no copies of them. spandrel needs a torchvision built for the installed torch (README, "Upscale
models"); where that pair is broken these nodes raise an error saying so.
"""
from __future__ import annotations

import logging

from core import paths
from core.execution.spec import Combo, In, Node, Output

log = logging.getLogger(__name__)

TILE, OVERLAP = 512, 32
MIN_TILE = 128  # out of memory below this is not worth tiling further: the error is raised instead
LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601, for single-channel models


def _spandrel(node: str):
    try:
        import spandrel
    except Exception as e:  # ImportError, or torchvision failing to load its operators
        raise RuntimeError(f"{node}: upscale models need the 'spandrel' package and a torchvision built for the "
                           f"installed torch (pip install spandrel; see README, 'Upscale models'), which could "
                           f"not be imported: {e}") from e
    return spandrel


def _models():
    return paths.get().get_filename_list("upscale_models")


class UpscaleModelLoader(Node):
    CATEGORY = "loaders"
    COMFY_FUNCTION = "load_model"
    COMFY_V3 = True
    DISPLAY_NAME = "Load Upscale Model"
    INPUTS = (Combo(name="model_name", choices=_models),)
    OUTPUTS = (Output("UPSCALE_MODEL"),)

    def execute(self, model_name):
        from core.models.weights import WeightsError, load_file

        spandrel = _spandrel("UpscaleModelLoader")
        where = "UpscaleModelLoader, input 'model_name'"
        try:
            path = paths.get().get_full_path_or_raise("upscale_models", model_name)
        except FileNotFoundError as e:
            raise FileNotFoundError(f"{where}: {e}") from e
        try:
            sd, _ = load_file(path)
        except WeightsError as e:
            raise ValueError(f"{where}: {model_name!r} cannot be read: {e}") from e
        if not sd:
            sd = _nested_weights(path)
        if not sd:
            raise ValueError(f"{where}: {model_name!r} ({path}) holds no weight tensors")
        try:
            # spandrel strips 'module.' / 'netG.' prefixes (DataParallel, BasicSR) itself
            descriptor = spandrel.ModelLoader().load_from_state_dict(sd).eval()
        except spandrel.UnsupportedModelError as e:
            keys = ", ".join(list(sd)[:3])
            raise ValueError(f"{where}: {model_name!r} ({path}) is not an upscale model: no architecture that "
                             f"spandrel {spandrel.__version__} knows matches its {len(sd)} tensors "
                             f"({keys}, ...)") from e
        except Exception as e:  # the architecture was recognised but the weights do not build it
            raise ValueError(f"{where}: {model_name!r} ({path}) could not be loaded by spandrel: {e}") from e
        if not isinstance(descriptor, spandrel.ImageModelDescriptor):
            raise ValueError(f"{where}: {model_name!r} is a {descriptor.architecture.name} model, which needs a "
                             f"mask or more than one image; only single-image upscalers are supported")
        return (descriptor,)


def _nested_weights(path) -> dict:
    """BasicSR / Real-ESRGAN .pth files keep the weights one level down, under 'params_ema' or 'params'."""
    import torch

    if path.suffix.lower() not in (".pth", ".pt", ".ckpt", ".bin"):
        return {}
    obj = torch.load(str(path), map_location="cpu", weights_only=True)  # load_file has checked it is weights-only
    for key in ("params_ema", "params"):
        inner = obj.get(key) if isinstance(obj, dict) else None
        if isinstance(inner, dict):
            return {k: v for k, v in inner.items() if isinstance(v, torch.Tensor)}
    return {}


def _compute_dtype(model, device):
    """float16 (else bfloat16) autocast where the model allows it on a GPU; float32 on the CPU."""
    import torch

    from core import devices

    if device.type == "cpu" or devices.settings.force_fp32:
        return torch.float32
    if model.supports_half:
        return torch.float16
    if model.supports_bfloat16 and device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def _model_input(image, channels: int):
    """IMAGE [B,H,W,C] -> [B,channels,H,W] float32: RGB(A) or grey, for a model taking 1 or 3 channels."""
    import torch

    x = image.movedim(-1, 1).float()
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    x = x[:, :3]
    if channels == 3:
        return x
    if channels == 1:
        return (x * torch.tensor(LUMA).view(1, 3, 1, 1)).sum(1, keepdim=True)
    raise ValueError(f"ImageUpscaleWithModel: the model takes {channels}-channel images; only 1 (grey) and "
                     f"3 (RGB) are supported")


def upscale(model, image, device=None, tile: int = TILE, overlap: int = OVERLAP):
    """IMAGE [B,H,W,C] through a spandrel descriptor on ``device``, in tiles; halves the tile on out-of-memory."""
    import torch

    from core import devices
    from core.models.vae_tiling import tiled_map

    device = device or torch.device("cpu")
    dtype = _compute_dtype(model, device)
    x = _model_input(image, model.input_channels)

    def run(piece):  # [B,C,h,w] on the CPU -> [B,C_out,h*s,w*s] float32
        # spandrel's descriptors take one image at a time; weights stay float32 (autocast casts per op)
        with torch.no_grad(), torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            return torch.cat([model(piece[i:i + 1].to(device)).float() for i in range(piece.shape[0])])

    while True:
        try:
            out = tiled_map(x, run, tile, min(overlap, tile // 2), model.scale, model.output_channels)
            break
        except Exception as e:
            if not devices.is_oom(e):
                raise
            if tile // 2 < MIN_TILE:
                raise MemoryError(f"ImageUpscaleWithModel: out of memory on {device} even in {tile}px tiles; use a "
                                  f"smaller image or batch, or --lowvram") from e
            tile //= 2
            log.warning("ImageUpscaleWithModel: out of memory; retrying in %dpx tiles", tile)
            devices.manager.unload_all()
    if out.shape[1] == 1:
        out = out.expand(-1, 3, -1, -1)
    return out[:, :3].clamp(0, 1).movedim(1, -1).contiguous()


class ImageUpscaleWithModel(Node):
    CATEGORY = "image/upscaling"
    COMFY_FUNCTION = "upscale"
    COMFY_V3 = True
    DISPLAY_NAME = "Upscale Image (using Model)"
    INPUTS = (In("UPSCALE_MODEL", "upscale_model"), In("IMAGE", "image"))
    OUTPUTS = (Output("IMAGE"),)

    def execute(self, upscale_model, image):
        from core import devices

        device = devices.get_torch_device()
        devices.manager.free(devices.module_bytes(upscale_model.model), device)
        upscale_model.to(device)
        try:
            return (upscale(upscale_model, image, device),)
        finally:  # like the other models, it waits in RAM (or stays, under --highvram) until the next use
            upscale_model.to(devices.offload_device())


NODES = [UpscaleModelLoader, ImageUpscaleWithModel]
