"""ComfyUI's ``comfy.utils`` for custom node packs: progress bars, file loading, image resizing."""
from __future__ import annotations

from core.execution.progress import ProgressBar  # noqa: F401  (same constructor and update/update_absolute)

PROGRESS_BAR_ENABLED = True
MAX_RESOLUTION = 16384


def load_torch_file(ckpt, safe_load: bool = True, device=None, return_metadata: bool = False):
    """A state dict from .safetensors (or a legacy pickle, always loaded with weights_only=True)."""
    from core.models.weights import load_file

    sd, metadata = load_file(ckpt)
    if device is not None:
        sd = {k: v.to(device) for k, v in sd.items()}
    return (sd, metadata) if return_metadata else sd


def common_upscale(samples, width: int, height: int, upscale_method: str, crop: str):
    """Resize an NCHW batch (images movedim'd to channels-first, or latents) like ComfyUI."""
    from core.images import resize_nchw

    return resize_nchw(samples, width, height, upscale_method, crop)


def repeat_to_batch_size(tensor, batch_size: int, dim: int = 0):
    if tensor.shape[dim] > batch_size:
        return tensor.narrow(dim, 0, batch_size)
    if tensor.shape[dim] < batch_size:
        reps = [1] * tensor.ndim
        reps[dim] = -(-batch_size // tensor.shape[dim])
        return tensor.repeat(*reps).narrow(dim, 0, batch_size)
    return tensor
