"""MODEL and VAE socket values (docs/contracts.md): the networks plus what samplers and nodes need.

ModelHandle keeps weight patches as a list per checkpoint key (contract in core/models/patcher.py);
``devices.manager.activate(handle)`` moves the U-Net to the compute device and merges the patches,
and restores the original weights bit for bit when the block ends. ``clone()`` shares the U-Net
module (weights are never copied), copies the patch lists and model_options.
"""
from __future__ import annotations

import copy
import logging

import torch

from core.models.comfy_methods import COMFY_PREFIX, ModelPatcherMethods, VaeMethods
from core.models.latent_formats import LatentFormat
from core.models.patcher import MergedPatches, add_patches

log = logging.getLogger(__name__)

UNET_PREFIX = "model.diffusion_model."


class ModelHandle(ModelPatcherMethods):
    def __init__(self, unet: torch.nn.Module, config, latent_format: LatentFormat, name: str = ""):
        self.unet = unet
        self.config = config
        self.latent_format = latent_format
        self.name = name or "model"
        self.patches: dict = {}
        self.model_options: dict = {"transformer_options": {}}
        self.device = None  # None: devices.get_torch_device() at activation
        # flow models carry their model sampling (core/sampling/model_sampling.py); the ModelSampling*
        # nodes replace it on a clone. None: the discrete SD schedule of config.prediction.
        self.model_sampling = None
        self._merged: MergedPatches | None = None
        self._attached: list = []  # cast (fp8) layers holding patches while active

    # --- identity ---------------------------------------------------------------------------------
    @property
    def dtype(self) -> torch.dtype:
        """The compute dtype (8-bit stored weights are upcast to it layer by layer: fp8.py)."""
        from core.models.fp8 import compute_dtype

        return compute_dtype(self.unet)

    @property
    def prediction(self) -> str:
        return self.config.prediction

    def clone(self) -> "ModelHandle":
        other = copy.copy(self)
        other.patches = {k: list(v) for k, v in self.patches.items()}
        other.model_options = copy.deepcopy(self.model_options) if _deepcopyable(self.model_options) \
            else {**self.model_options, "transformer_options": dict(self.model_options.get("transformer_options", {}))}
        other._merged = None
        return other

    def weight_keys(self) -> set:
        return {UNET_PREFIX + k for k, _ in self.unet.named_parameters()}

    def add_patches(self, patches: dict, strength_patch: float = 1.0, strength_model: float = 1.0) -> list:
        """Add ``{checkpoint key: patch}``; returns the keys that name a U-Net weight (others are ignored).

        ComfyUI's model keys (``diffusion_model.*``, what plugins take from ``get_key_patches``) are the
        same weights one prefix shorter; they are accepted and returned as given."""
        if any(k.startswith(COMFY_PREFIX) for k in patches):
            renamed = {("model." + k if k.startswith(COMFY_PREFIX) else k): v for k, v in patches.items()}
            applied = add_patches(self.patches, self.weight_keys(), renamed, strength_patch, strength_model)
            return [k[len("model."):] if k[len("model."):] in patches else k for k in applied]
        return add_patches(self.patches, self.weight_keys(), patches, strength_patch, strength_model)

    # --- device manager hooks ------------------------------------------------------------------------
    def modules(self) -> list:
        return [self.unet]

    def on_activate(self) -> None:
        if self.patches:
            from core.models.cast_layers import attach_patches

            # weights stored in 8 bits take their patches at cast time; the rest are merged in place
            rest, self._attached = attach_patches(self.unet, self.patches, UNET_PREFIX)
            self._merged = MergedPatches.into_module(self.unet, rest, UNET_PREFIX)

    def on_deactivate(self) -> None:
        if getattr(self, "_attached", None):
            from core.models.cast_layers import detach_patches

            detach_patches(self._attached)
            self._attached = []
        if self._merged is not None:
            self._merged.restore()
            self._merged = None

    def stream_to(self, module: torch.nn.Module, device: torch.device, budget: int) -> bool:
        """Low VRAM: put ``module`` on ``device`` keeping at most ``budget`` bytes of weights there, the
        other blocks streamed for their forward (core/models/streaming.py); False when it all fits."""
        from core.models import streaming

        if streaming.streamer_of(module) is not None:
            return True  # still streaming from an earlier activation
        return streaming.stream(module, device, budget) is not None

    def stop_streaming(self) -> None:
        from core.models import streaming

        for module in self.modules():
            streaming.unstream(module)

    def __repr__(self) -> str:
        return f"ModelHandle({self.name!r}, {self.config.family}, {self.config.prediction}, {len(self.patches)} patched weights)"


def _deepcopyable(options: dict) -> bool:
    try:
        copy.deepcopy(options)
        return True
    except Exception:  # plugins may store callables holding modules or locks
        return False


class VaeHandle(VaeMethods):
    """Raw VAE space in and out (no latent scale factor); IMAGE is [B,H,W,C] 0..1 float32 on the CPU."""

    def __init__(self, vae, name: str = ""):
        self.vae = vae
        self.name = name or "vae"
        self.device = None
        self.downscale_ratio = vae.config.downscale
        self.latent_channels = vae.config.embed_dim

    def modules(self) -> list:
        return [self.vae]

    def clone(self) -> "VaeHandle":
        return copy.copy(self)

    def _device(self) -> torch.device:
        from core import devices

        return self.device or devices.vae_device()

    def _crop(self, image: torch.Tensor) -> torch.Tensor:
        """Center-crop to a multiple of the downscale ratio, drop alpha: IMAGE -> [B,3,H,W] in [-1, 1]."""
        r = self.downscale_ratio
        h, w = image.shape[1] // r * r, image.shape[2] // r * r
        if h == 0 or w == 0:
            raise ValueError(f"VAE encode: image {image.shape[2]}x{image.shape[1]} is smaller than {r} pixels")
        y, x = (image.shape[1] % r) // 2, (image.shape[2] % r) // 2
        image = image[:, y:y + h, x:x + w, :3]
        return image.movedim(-1, 1) * 2.0 - 1.0

    def _batches(self, n: int, per_item_bytes: int) -> int:
        from core import devices

        device = self._device()
        if device.type != "cuda":
            return n
        return max(1, min(n, int(devices.free_memory(device) * 0.8) // max(per_item_bytes, 1)))

    def _run(self, x: torch.Tensor, fn, per_item_bytes: int, what: str) -> torch.Tensor:
        from core import devices

        device = self._device()
        with devices.manager.activate(self, device), torch.inference_mode():
            step = self._batches(x.shape[0], per_item_bytes)
            outs = []
            for i in range(0, x.shape[0], step):
                chunk = x[i:i + step].to(device)
                outs.append(devices.manager.run(fn, chunk, what=what).float().cpu())
            return torch.cat(outs)

    def encode(self, image: torch.Tensor) -> torch.Tensor:
        """IMAGE [B,H,W,C] -> raw latent [B,4,H/8,W/8] (the posterior mean, as ComfyUI)."""
        x = self._crop(image)
        per_item = x.shape[2] * x.shape[3] * 128 * 4 * 6
        return self._run(x, self.vae.encode, per_item, "VAE encode")

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Raw latent [B,4,h,w] -> IMAGE [B,8h,8w,3] clamped to 0..1."""
        per_item = latent.shape[2] * latent.shape[3] * 64 * 128 * 4 * 6
        try:
            x = self._run(latent, self.vae.decode, per_item, "VAE decode")
        except MemoryError:
            log.warning("VAE decode ran out of memory; retrying with tiles")
            return self.decode_tiled(latent)
        return ((x + 1.0) / 2.0).clamp(0, 1).movedim(1, -1)

    def decode_tiled(self, latent: torch.Tensor, tile_size: int = 512, overlap: int = 64, *,
                     tile_x: int | None = None, tile_y: int | None = None, **_comfy) -> torch.Tensor:
        """Like decode, tile by tile; ``tile_size``/``overlap`` in pixels (as the VAEDecodeTiled node).

        ComfyUI's keywords ``tile_x``/``tile_y``/``overlap`` (latent units) are accepted for plugins."""
        from core import devices
        from core.models.vae_tiling import tiled_map

        r = self.downscale_ratio
        if tile_x is not None or tile_y is not None:
            tile_size, overlap = max(tile_x or 0, tile_y or 0) * r, overlap * r
        tile, ov = max(tile_size // r, 1), max(overlap // r, 0)
        device = self._device()
        with devices.manager.activate(self, device), torch.inference_mode():
            fn = lambda t: devices.manager.run(self.vae.decode, t.to(device), what="VAE decode (tiled)")
            x = tiled_map(latent.float(), fn, tile, min(ov, tile // 2), r, 3)
        return ((x + 1.0) / 2.0).clamp(0, 1).movedim(1, -1)

    def encode_tiled(self, image: torch.Tensor, tile_size: int = 512, overlap: int = 64, *,
                     tile_x: int | None = None, tile_y: int | None = None, **_comfy) -> torch.Tensor:
        from core import devices
        from core.models.vae_tiling import tiled_map

        r = self.downscale_ratio
        if tile_x is not None or tile_y is not None:  # ComfyUI's keywords, in pixels for encode
            tile_size = max(tile_x or 0, tile_y or 0)
        tile = max(tile_size // r * r, r)
        ov = min(overlap // r * r, tile // 2)
        x = self._crop(image)
        device = self._device()
        with devices.manager.activate(self, device), torch.inference_mode():
            fn = lambda t: devices.manager.run(self.vae.encode, t.to(device), what="VAE encode (tiled)")
            return tiled_map(x, fn, tile, ov, 1.0 / r, self.latent_channels)

    def __repr__(self) -> str:
        return f"VaeHandle({self.name!r})"
