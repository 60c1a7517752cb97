"""Where weights live: compute device, dtype policy, on-demand loading and offloading, OOM recovery.

API used by loaders, the sampler and the VAE::

    devices.configure(args)                 # main.py's argparse namespace, or a dict of some §9.3 flags
    devices.get_torch_device()              # cuda / mps / cpu
    devices.unet_dtype(), vae_dtype(), text_encoder_dtype()
    with devices.manager.activate(handle):  # handle.unet / .vae on the compute device, patches merged
        ...
    devices.manager.run(fn, *args, what="VAE decode")   # OOM: free idle models, retry once

A handle is anything with ``modules() -> list[nn.Module]`` and optionally ``on_activate()`` /
``on_deactivate()`` hooks (ModelHandle merges and restores weight patches there).

Memory modes (ComfyUI's flags): ``highvram``/``gpu_only`` keep everything on the GPU; ``normalvram``
(default) offloads the least recently used idle models to CPU RAM when the next one would not fit
the free memory minus a reserve; ``lowvram``/``novram`` offload every other model before loading one
and the active one right after its use.

Low VRAM (core/models/streaming.py, through the handle's ``stream_to`` / ``stop_streaming`` hooks, so
this module imports nothing of core): on a CUDA device, a network that does not fit the free memory
(minus the reserve and room for activations) is streamed block by block instead of failing: the
blocks that fit stay, the others are copied in for their forward. ``lowvram`` streams whatever does
not fit, ``normalvram`` does so only after offloading idle models did not make room, ``novram``
streams every block, ``highvram``/``gpu_only`` never stream.
"""
from __future__ import annotations

import contextlib
import gc
import logging
import threading
import weakref
from dataclasses import dataclass

import torch

log = logging.getLogger(__name__)

FLAG_NAMES = ("cpu", "gpu_only", "highvram", "normalvram", "lowvram", "novram", "force_fp32", "force_fp16",
              "fp32_unet", "fp16_unet", "bf16_unet", "fp8_e4m3fn_unet", "fp8_e5m2_unet", "fp16_vae", "fp32_vae", "bf16_vae", "cpu_vae",
              "fp16_text_enc", "fp32_text_enc", "bf16_text_enc", "reserve_vram")


@dataclass
class Settings:
    cpu: bool = False
    gpu_only: bool = False
    highvram: bool = False
    normalvram: bool = False
    lowvram: bool = False
    novram: bool = False
    force_fp32: bool = False
    force_fp16: bool = False
    fp32_unet: bool = False
    fp16_unet: bool = False
    bf16_unet: bool = False
    fp8_e4m3fn_unet: bool = False  # store diffusion-model weights in 8 bits (core/models/fp8.py)
    fp8_e5m2_unet: bool = False
    fp16_vae: bool = False
    fp32_vae: bool = False
    bf16_vae: bool = False
    cpu_vae: bool = False
    fp16_text_enc: bool = False
    fp32_text_enc: bool = False
    bf16_text_enc: bool = False
    reserve_vram: float | None = None  # GB kept free for the OS / other programs

    @property
    def mode(self) -> str:
        for name in ("gpu_only", "highvram", "lowvram", "novram"):
            if getattr(self, name):
                return name
        return "normalvram"


settings = Settings()


def configure(args=None) -> Settings:
    """Take the device/precision flags from main.py's argparse namespace, or from a dict of some of them.

    Names are read directly, so a flag the parser lacks (or a misspelt dict key) fails here instead of
    quietly keeping its default.
    """
    global settings
    if args is None:
        values = {}
    elif isinstance(args, dict):
        unknown = sorted(set(args) - set(FLAG_NAMES))
        if unknown:
            raise TypeError(f"devices.configure: unknown flag(s) {', '.join(unknown)}; known: {', '.join(FLAG_NAMES)}")
        values = dict(args)
    else:
        values = {name: getattr(args, name) for name in FLAG_NAMES}
    settings = Settings(**values)
    manager.reset()
    return settings


def get_torch_device() -> torch.device:
    if settings.cpu:
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def offload_device() -> torch.device:
    return get_torch_device() if settings.mode in ("gpu_only", "highvram") else torch.device("cpu")


def vae_device() -> torch.device:
    return torch.device("cpu") if settings.cpu_vae else get_torch_device()


def _bf16_ok(device: torch.device) -> bool:
    return device.type == "cuda" and torch.cuda.is_bf16_supported()


def _half_default(device: torch.device) -> torch.dtype:
    # CPU kernels for half types are slow and less exact: float32 there unless forced
    return torch.float16 if device.type in ("cuda", "mps") else torch.float32


def unet_dtype(device: torch.device | None = None) -> torch.dtype:
    device = device or get_torch_device()
    if settings.fp32_unet or settings.force_fp32:
        return torch.float32
    if settings.bf16_unet:
        return torch.bfloat16
    if settings.fp16_unet or settings.force_fp16:
        return torch.float16
    return _half_default(device)


def unet_weight_storage() -> str:
    """UNETLoader's ``weight_dtype`` that ``default`` means under --fp8_e4m3fn-unet / --fp8_e5m2-unet."""
    if settings.fp8_e4m3fn_unet:
        return "fp8_e4m3fn"
    if settings.fp8_e5m2_unet:
        return "fp8_e5m2"
    return "default"


def vae_dtype(device: torch.device | None = None) -> torch.dtype:
    device = device or vae_device()
    if settings.fp32_vae or settings.force_fp32:
        return torch.float32
    if settings.bf16_vae:
        return torch.bfloat16
    if settings.fp16_vae or settings.force_fp16:
        return torch.float16
    # the SD VAE overflows in float16 on large images; bfloat16 has float32's range
    return torch.bfloat16 if _bf16_ok(device) else torch.float32


def text_encoder_dtype(device: torch.device | None = None) -> torch.dtype:
    device = device or get_torch_device()
    if settings.fp32_text_enc or settings.force_fp32:
        return torch.float32
    if settings.bf16_text_enc:
        return torch.bfloat16
    if settings.fp16_text_enc or settings.force_fp16:
        return torch.float16
    return _half_default(device)


# Device memory left for activations when a model is streamed (FLUX at 1024x1024 in bf16 needs ~1-2 GB).
ACTIVATION_RESERVE = 2 * 2**30


def streaming_budget(mode: str, free: int, reserve: int) -> int | None:
    """Bytes of weights a model may keep on the device, or None when this mode never streams."""
    if mode in ("gpu_only", "highvram"):
        return None
    if mode == "novram":
        return 0
    return max(free - reserve - ACTIVATION_RESERVE, 0)


def module_bytes(module: torch.nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in list(module.parameters()) + list(module.buffers()))


def free_memory(device: torch.device) -> int:
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return free
    import psutil

    return psutil.virtual_memory().available


def empty_cache() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    mps = getattr(torch, "mps", None)
    if mps is not None and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        mps.empty_cache()


def is_oom(error: BaseException) -> bool:
    return isinstance(error, torch.OutOfMemoryError) or "out of memory" in str(error).lower()


class ModelManager:
    """Tracks which handles' modules are on the compute device, most recently used last.

    Handles are held by weak reference: a model that no cached node output (or running node) holds any
    more is released with its memory instead of being kept alive by this bookkeeping.
    """

    def __init__(self):
        self._lock = threading.RLock()
        self._loaded: list[weakref.ref] = []  # handles whose modules sit on the compute device
        self.active: list = []

    @property
    def loaded(self) -> list:
        """The live loaded handles, least recently used first."""
        with self._lock:
            pairs = [(ref, ref()) for ref in self._loaded]
            self._loaded = [ref for ref, handle in pairs if handle is not None]
            return [handle for _, handle in pairs if handle is not None]

    def _forget(self, handle) -> None:
        self._loaded = [ref for ref in self._loaded if ref() is not None and ref() is not handle]

    def reset(self) -> None:
        with self._lock:
            self._loaded.clear()
            self.active.clear()

    def _reserve(self) -> int:
        if settings.reserve_vram is not None:
            return int(settings.reserve_vram * 2**30)
        return 512 * 2**20

    def _offload(self, handle) -> None:
        target = offload_device()
        stop = getattr(handle, "stop_streaming", None)
        if stop is not None:
            stop()
        for module in handle.modules():
            module.to(target)
        self._forget(handle)

    def _place(self, handle, module: torch.nn.Module, device: torch.device) -> None:
        """``module`` onto ``device``; a handle with ``stream_to(module, device, budget) -> bool`` (ModelHandle:
        core/models/streaming.py) streams it block by block instead when it does not fit (module doc)."""
        stream_to = getattr(handle, "stream_to", None)
        if device.type == "cuda" and stream_to is not None:
            budget = streaming_budget(settings.mode, free_memory(device), self._reserve())
            on_host = sum(t.numel() * t.element_size() for t in list(module.parameters()) + list(module.buffers())
                          if t.device != device)
            if budget is not None and (settings.mode in ("lowvram", "novram") or on_host > budget):
                if stream_to(module, device, budget):
                    return
        module.to(device)

    def free(self, needed: int, device: torch.device, keep=()) -> None:
        """Offload idle models (least recently used first) until ``needed`` bytes fit on ``device``."""
        with self._lock:
            offloaded = False
            for handle in list(self.loaded):
                if device.type != "cuda" or free_memory(device) - self._reserve() >= needed:
                    break
                if handle in keep or handle in self.active:
                    continue
                log.info("offloading %s to free memory", getattr(handle, "name", type(handle).__name__))
                self._offload(handle)
                offloaded = True
            if offloaded:  # gc.collect() costs ~1 s with big models alive: only when it can free something
                empty_cache()

    def unload_all(self) -> None:
        """Move every idle model to the offload device (``POST /free``, and the OOM retry)."""
        with self._lock:
            idle = [h for h in self.loaded if h not in self.active]
            for handle in idle:
                self._offload(handle)
            if idle or torch.cuda.is_available():  # after an OOM the allocator cache may hold memory too
                empty_cache()

    def _load(self, handle, device: torch.device) -> None:
        modules = handle.modules()
        size = sum(module_bytes(m) for m in modules)
        if settings.mode in ("lowvram", "novram"):
            for other in list(self.loaded):
                if other is not handle and other not in self.active:
                    self._offload(other)
        elif settings.mode == "normalvram":
            self.free(size, device, keep=(handle,))
        for module in modules:
            self._place(handle, module, device)
        self._forget(handle)
        self._loaded.append(weakref.ref(handle))

    @contextlib.contextmanager
    def activate(self, handle, device: torch.device | None = None):
        """Modules of ``handle`` on the compute device (and its patches applied) inside the block."""
        device = device or getattr(handle, "device", None) or get_torch_device()
        with self._lock:
            try:
                self._load(handle, device)
            except Exception as e:
                if not is_oom(e):
                    raise
                self.unload_all()
                self._load(handle, device)
            self.active.append(handle)
        hook = getattr(handle, "on_activate", None)
        if hook:
            hook()
        try:
            yield handle
        finally:
            unhook = getattr(handle, "on_deactivate", None)
            if unhook:
                unhook()
            with self._lock:
                self.active.remove(handle)
                if settings.mode in ("lowvram", "novram") and device.type != "cpu":
                    self._offload(handle)

    def run(self, fn, *args, what: str = "model", **kw):
        """Call ``fn``; on out-of-memory free every idle model and caches, retry once, else explain."""
        try:
            return fn(*args, **kw)
        except Exception as e:
            if not is_oom(e):
                raise
            log.warning("%s ran out of memory; freeing idle models and retrying once", what)
        self.unload_all()
        try:
            return fn(*args, **kw)
        except Exception as e:
            if not is_oom(e):
                raise
            raise MemoryError(f"{what}: out of memory on {get_torch_device()} even after freeing every idle model; "
                              "use a smaller image or batch, the tiled VAE nodes, or --lowvram") from e


manager = ModelManager()
