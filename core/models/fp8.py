"""fp8 weight storage for diffusion models: which 8-bit format, and loading a network into it.

``UNETLoader``'s ``weight_dtype`` (ComfyUI's values): ``default`` keeps the file's precision (a file
already in fp8 stays in fp8), ``fp8_e4m3fn`` / ``fp8_e5m2`` quantize the weights of every Linear and
Conv layer to that format while loading (round to nearest, clamped to the format's range), and
``fp8_e4m3fn_fast`` also lets those layers multiply in fp8 on GPUs that can (cast_layers.py). Biases,
norms and embeddings stay in the compute dtype: they are a fraction of a per cent of the bytes and
the most precision-sensitive. The layers are found by module type (cast_layers.replace_layers), so
this works for FLUX and for any other network built from torch layers.

Files already in fp8 (tensors of dtype F8_E4M3 / F8_E5M2) are kept as stored, never re-quantized.
"Scaled fp8" files follow ComfyUI's convention (facts of its file format, our code):
- a marker tensor ``scaled_fp8`` under the model prefix; its dtype is the storage format (a float32
  marker means float8_e4m3fn); a 2-element marker means the file asks for no fp8 matmul;
- per Linear, ``<layer>.scale_weight``: a float32 scalar, the real weight is ``stored · scale_weight``;
- optionally ``<layer>.scale_input``: the input is divided by it before an fp8 matmul;
- newer files spell them ``<layer>.weight_scale`` / ``<layer>.input_scale``: read alike.
Scale tensors are kept beside the layer (not in its state dict: weight keys stay the released ones).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from core.models.cast_layers import FP8_DTYPES, cast_layers, has_nan_codes, replace_layers

log = logging.getLogger(__name__)

WEIGHT_DTYPES = {"default": None, "fp8_e4m3fn": torch.float8_e4m3fn, "fp8_e4m3fn_fast": torch.float8_e4m3fn,
                 "fp8_e5m2": torch.float8_e5m2}
SCALE_SUFFIXES = (".scale_weight", ".scale_input", ".weight_scale", ".input_scale")
SCALE_NAMES = {"scale_weight": ("scale_weight", "weight_scale"), "scale_input": ("scale_input", "input_scale")}
MARKER = "scaled_fp8"


@dataclass(frozen=True)
class Storage:
    """How a network's layer weights are stored: ``dtype`` to quantize into (None: as in the file),
    ``fast`` fp8 matmul allowed, ``scaled`` the file carries per-layer scales, ``file_fp8`` some of the
    file's tensors are already 8-bit."""

    dtype: torch.dtype | None = None
    fast: bool = False
    scaled: bool = False
    file_fp8: bool = False

    @property
    def active(self) -> bool:
        return self.dtype is not None or self.file_fp8 or self.scaled

    def describe(self) -> str:
        kind = "scaled fp8" if self.scaled else str(self.dtype or "fp8 as stored").replace("torch.", "")
        return kind + (" (fp8 matmul where supported)" if self.fast else "")


def storage_for(sd, prefix: str, weight_dtype: str = "default", where: str = "model") -> Storage:
    """The Storage a load of ``sd[prefix...]`` should use for the node's ``weight_dtype``."""
    if weight_dtype not in WEIGHT_DTYPES:
        raise ValueError(f"{where}: weight_dtype {weight_dtype!r} is not one of {', '.join(WEIGHT_DTYPES)}")
    requested = WEIGHT_DTYPES[weight_dtype]
    fast = weight_dtype == "fp8_e4m3fn_fast"
    marker = sd.get(prefix + MARKER)
    file_fp8 = any(t.dtype in FP8_DTYPES for k, t in sd.items() if k.startswith(prefix) and hasattr(t, "dtype"))
    if marker is not None:
        # the file's own fp8 format wins: re-quantizing 8-bit weights to another 8-bit format only loses
        if requested is not None and marker.dtype in FP8_DTYPES and marker.dtype != requested:
            log.info("%s: scaled fp8 file stays in its own %s (weight_dtype %s asked for %s)", where,
                     marker.dtype, weight_dtype, requested)
        return Storage(dtype=None, fast=fast or marker.numel() != 2, scaled=True, file_fp8=True)
    return Storage(dtype=requested, fast=fast, file_fp8=file_fp8)


def from_model_options(model_options: dict | None) -> tuple[torch.dtype | None, str]:
    """ComfyUI's ``model_options`` (what plugins pass to ``comfy.sd.load_diffusion_model``) as our
    (compute dtype or None, ``weight_dtype``): an 8-bit ``dtype`` means fp8 storage, not fp8 compute;
    ``fp8_optimizations`` asks for fp8 matmul."""
    options = model_options or {}
    dtype = options.get("dtype", options.get("weight_dtype"))
    if dtype == torch.float8_e4m3fn:
        return None, "fp8_e4m3fn_fast" if options.get("fp8_optimizations") else "fp8_e4m3fn"
    if dtype == torch.float8_e5m2:
        return None, "fp8_e5m2"
    return dtype, "default"


def _saturates(dtype: torch.dtype) -> bool:
    """Whether this torch's conversion already clamps out-of-range values to ``dtype``'s largest finite one."""
    top = torch.finfo(dtype).max
    return torch.tensor([1e9, -1e9, float("inf")]).to(dtype).float().tolist() == [top, -top, top]


_SATURATING = {d: _saturates(d) for d in FP8_DTYPES}


def quantize(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``t`` rounded to the nearest ``dtype`` value, out-of-range values clamped to its finite range
    (e5m2 would give inf; e4m3fn conversion saturates in current torch, checked at import, which saves
    the clamp pass: ~40 % of quantizing time on the CPU)."""
    if _SATURATING[dtype]:
        return t.to(dtype)
    top = torch.finfo(dtype).max
    return t.clamp(-top, top).to(dtype)


def _is_scale_key(key: str, prefix: str) -> bool:
    return key.endswith(SCALE_SUFFIXES) or key == prefix + MARKER


def build(factory, sd, prefix: str, compute_dtype: torch.dtype, device, where: str, storage: Storage):
    """``factory()`` built on meta with cast layers, filled from ``sd[prefix + key]``: layer weights
    in 8 bits (kept or quantized tensor by tensor, never a full-precision copy of the network),
    everything else in ``compute_dtype``."""
    from core.models.building import fill_module, on_meta, to_target

    device = torch.device(device)
    module = on_meta(factory)
    replace_layers(module)
    layers = cast_layers(module)
    weight_keys = {f"{name}.weight" for name in layers}

    # quantizing a full-precision file: copy the few other tensors that would be views of its memory
    # map, so the map (every page the quantization read) is released after loading
    copy_rest = storage.dtype is not None and not storage.file_fp8

    def convert(key: str, t: torch.Tensor):
        if key not in weight_keys:  # to compute_dtype (8-bit biases or norms of a file are upcast)
            out = to_target(t, device, compute_dtype)
            return out.clone() if copy_rest and out is t else out
        if t.dtype in FP8_DTYPES:
            return t.to(device) if t.device != device else t
        if storage.dtype is None:
            return None
        out = quantize(t.to(device) if t.device != device else t, storage.dtype)
        if t.device.type == "cpu":
            release_pages(t)
        return out

    weights = {k: v for k, v in sd.items() if not _is_scale_key(k, prefix)}
    fill_module(module, weights, prefix, compute_dtype, device, where, convert=convert)
    scaled = 0
    for name, layer in layers.items():
        layer.fast = storage.fast and isinstance(layer, torch.nn.Linear)
        layer.nan_free = not has_nan_codes(layer.weight)
        for attr, spellings in SCALE_NAMES.items():
            t = next((sd[k] for k in (f"{prefix}{name}.{n}" for n in spellings) if k in sd), None)
            if t is not None:
                setattr(layer, attr, t.to(device, torch.float32).reshape(()))
                scaled += attr == "scale_weight"
    eight_bit = sum(1 for layer in layers.values() if layer.weight.dtype in FP8_DTYPES)
    log.info("%s: %d of %d Linear/Conv weights stored in 8 bits (%s%s), computed in %s", where, eight_bit,
             len(layers), storage.describe(), f", {scaled} scaled" if scaled else "", compute_dtype)
    return module


_MADV_PAGEOUT = 21  # Linux 5.4+: reclaim these pages now (clean file pages are dropped, others kept)


def release_pages(t: torch.Tensor) -> None:
    """Ask the kernel to reclaim the pages of a tensor read for the last time: quantizing a memory-mapped
    bf16 file would otherwise keep every page it read resident until the load ends (twice the fp8 model
    in RSS at the peak). MADV_PAGEOUT never loses data (anonymous pages go to swap or stay); where it is
    unknown (other systems, old kernels) nothing happens."""
    import ctypes
    import mmap
    import sys

    if not sys.platform.startswith("linux") or t.numel() * t.element_size() < 4 * mmap.PAGESIZE:
        return
    start = -(-t.data_ptr() // mmap.PAGESIZE) * mmap.PAGESIZE  # whole pages inside the tensor only
    end = (t.data_ptr() + t.numel() * t.element_size()) // mmap.PAGESIZE * mmap.PAGESIZE
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.madvise(ctypes.c_void_p(start), ctypes.c_size_t(end - start), _MADV_PAGEOUT)
    except (OSError, AttributeError):
        pass


def compute_dtype(module: torch.nn.Module) -> torch.dtype:
    """The dtype ``module`` computes in: that of its first floating parameter not stored in 8 bits."""
    for p in module.parameters():
        if p.is_floating_point() and p.dtype not in FP8_DTYPES:
            return p.dtype
    return torch.float32
