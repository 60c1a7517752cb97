"""ComfyUI's ``comfy.utils`` for custom node packs: progress bars, state-dict files, resizing, tiling."""
from __future__ import annotations

import math

from core.compat.missing import module_getattr
from core.execution.progress import ProgressBar  # noqa: F401  (same constructor and update/update_absolute)

PROGRESS_BAR_ENABLED = True
MAX_RESOLUTION = 16384


def set_progress_bar_enabled(enabled: bool) -> None:
    global PROGRESS_BAR_ENABLED
    PROGRESS_BAR_ENABLED = enabled


def load_torch_file(ckpt, safe_load: bool = True, device=None, return_metadata: bool = False):
    """A state dict from .safetensors (or a legacy pickle, always loaded with weights_only=True)."""
    from core.models.weights import load_file

    sd, metadata = load_file(ckpt)
    if device is not None:
        sd = {k: v.to(device) for k, v in sd.items()}
    return (sd, metadata) if return_metadata else sd


def save_torch_file(sd, ckpt, metadata=None) -> None:
    """Write ``sd`` as .safetensors (the only format ComfyUI writes)."""
    from core.models.weights import save_safetensors

    save_safetensors(sd, ckpt, metadata=metadata)


def calculate_parameters(sd, prefix: str = "") -> int:
    return sum(v.nelement() for k, v in sd.items() if k.startswith(prefix))


def weight_dtype(sd, prefix: str = ""):
    counts: dict = {}
    for k, v in sd.items():
        if k.startswith(prefix):
            counts[v.dtype] = counts.get(v.dtype, 0) + v.nelement()
    return max(counts, key=counts.get) if counts else None


def state_dict_key_replace(state_dict, keys_to_replace):
    for old, new in keys_to_replace.items():
        if old in state_dict:
            state_dict[new] = state_dict.pop(old)
    return state_dict


def state_dict_prefix_replace(state_dict, replace_prefix, filter_keys: bool = False):
    """Rename key prefixes (``{old: new}``); with ``filter_keys`` return only the renamed keys."""
    out = {} if filter_keys else state_dict
    for old, new in replace_prefix.items():
        for key in [k for k in state_dict if k.startswith(old)]:
            out[new + key[len(old):]] = state_dict.pop(key)
    return out


def common_upscale(samples, width: int, height: int, upscale_method: str, crop: str):
    """Resize an NCHW batch (images movedim'd to channels-first, or latents) like ComfyUI."""
    from core.images import resize_nchw

    return resize_nchw(samples, width, height, upscale_method, crop)


def bislerp(samples, width: int, height: int):
    from core.sampling.latent_ops import bislerp as _bislerp

    return _bislerp(samples, width, height)


def lanczos(samples, width: int, height: int):
    from core.images import resize_nchw

    return resize_nchw(samples, width, height, "lanczos")


def get_tiled_scale_steps(width: int, height: int, tile_x: int, tile_y: int, overlap: int) -> int:
    rows = 1 if height <= tile_y else math.ceil((height - overlap) / (tile_y - overlap))
    cols = 1 if width <= tile_x else math.ceil((width - overlap) / (tile_x - overlap))
    return rows * cols


def tiled_scale_multidim(samples, function, tile=(64, 64), overlap: int = 8, upscale_amount=4, out_channels: int = 3,
                         output_device="cpu", downscale: bool = False, index_formulas=None, pbar=None):
    """Apply ``function`` to overlapping tiles of ``samples`` [B, C, *spatial] and blend the results.

    Each output tile is weighted by a ramp over ``overlap`` input pixels at its inner edges, and the
    sum is divided by the summed weights (a partition of unity), so seams vanish.
    """
    import torch

    dims = len(tile)
    scales = list(upscale_amount) if isinstance(upscale_amount, (list, tuple)) else [upscale_amount] * dims
    if index_formulas is None:
        index_formulas = scales

    def scaled(value, d, formulas):
        f = formulas[d]
        v = value / f if downscale else value * f
        return round(v) if not callable(f) else f(value)

    def out_size(value, d):
        f = scales[d]
        return round(value / f) if downscale else round(value * f)

    outputs = []
    for b in range(samples.shape[0]):
        s = samples[b:b + 1]
        spatial = s.shape[2:]
        out = torch.zeros([1, out_channels] + [out_size(n, d) for d, n in enumerate(spatial)], device=output_device)
        norm = torch.zeros_like(out)
        if all(n <= t for n, t in zip(spatial, tile)):
            res = function(s).to(output_device)
            outputs.append(res)
            if pbar is not None:
                pbar.update(1)
            continue
        ranges = []
        for d, n in enumerate(spatial):
            step = max(tile[d] - overlap, 1)
            starts = list(range(0, max(n - overlap, 1), step))
            ranges.append([min(p, max(n - tile[d], 0)) for p in starts])
        import itertools

        for pos in itertools.product(*ranges):
            piece = s
            for d, p in enumerate(pos):
                piece = piece.narrow(d + 2, p, min(tile[d], spatial[d] - p))
            res = function(piece).to(output_device)
            mask = torch.ones_like(res)
            feather = [out_size(overlap, d) for d in range(dims)]
            for d in range(dims):
                size = res.shape[d + 2]
                for t in range(min(feather[d], size)):
                    f = (t + 1) / (feather[d] + 1)
                    if pos[d] > 0:
                        mask.narrow(d + 2, t, 1).mul_(f)
                    if pos[d] + piece.shape[d + 2] < spatial[d]:
                        mask.narrow(d + 2, size - 1 - t, 1).mul_(f)
            o, nrm = out, norm
            for d, p in enumerate(pos):
                o = o.narrow(d + 2, out_size(p, d), res.shape[d + 2])
                nrm = nrm.narrow(d + 2, out_size(p, d), res.shape[d + 2])
            o += res * mask
            nrm += mask
            if pbar is not None:
                pbar.update(1)
        outputs.append(out / norm.clamp_min(1e-8))
    return torch.cat(outputs)


def tiled_scale(samples, function, tile_x: int = 64, tile_y: int = 64, overlap: int = 8, upscale_amount=4,
                out_channels: int = 3, output_device="cpu", pbar=None):
    return tiled_scale_multidim(samples, function, (tile_y, tile_x), overlap=overlap, upscale_amount=upscale_amount,
                                out_channels=out_channels, output_device=output_device, pbar=pbar)


def repeat_to_batch_size(tensor, batch_size: int, dim: int = 0):
    if tensor.shape[dim] > batch_size:
        return tensor.narrow(dim, 0, batch_size)
    if tensor.shape[dim] < batch_size:
        reps = [1] * tensor.ndim
        reps[dim] = -(-batch_size // tensor.shape[dim])
        return tensor.repeat(*reps).narrow(dim, 0, batch_size)
    return tensor


def resize_to_batch_size(tensor, batch_size: int):
    """Batch ``tensor`` to ``batch_size`` by picking evenly spaced items (ComfyUI's rule for masks)."""
    import torch

    n = tensor.shape[0]
    if n == batch_size:
        return tensor
    if batch_size <= 1:
        return tensor[:batch_size]
    idx = torch.linspace(0, n - 1, batch_size).round().long() if n > batch_size else \
        torch.arange(batch_size) * n // batch_size
    return tensor[idx]


def copy_to_param(obj, attr: str, value) -> None:
    parts = attr.split(".")
    for name in parts[:-1]:
        obj = getattr(obj, name)
    getattr(obj, parts[-1]).data.copy_(value)


def set_attr(obj, attr: str, value):
    parts = attr.split(".")
    for name in parts[:-1]:
        obj = getattr(obj, name)
    prev = getattr(obj, parts[-1])
    setattr(obj, parts[-1], value)
    return prev


def set_attr_param(obj, attr: str, value):
    import torch

    return set_attr(obj, attr, torch.nn.Parameter(value, requires_grad=False))


def get_attr(obj, attr: str):
    for name in attr.split("."):
        obj = getattr(obj, name)
    return obj


__getattr__ = module_getattr(__name__)
