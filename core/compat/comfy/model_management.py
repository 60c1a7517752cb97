"""ComfyUI's ``comfy.model_management`` for custom node packs: devices, dtypes, memory and interrupts.

Interrupt checks delegate to :mod:`core.execution.progress` (the running job's flag); devices, dtypes
and memory to :mod:`core.devices`, imported on first use so plain packs load without touching torch.
"""
from __future__ import annotations

import enum

from core.compat.missing import module_getattr
from core.execution.progress import Interrupted as InterruptProcessingException  # noqa: F401
from core.execution.progress import check_interrupt as throw_exception_if_processing_interrupted  # noqa: F401
from core.execution.progress import current as _current_job


class VRAMState(enum.Enum):
    DISABLED = 0
    NO_VRAM = 1
    LOW_VRAM = 2
    NORMAL_VRAM = 3
    HIGH_VRAM = 4
    SHARED = 5


class CPUState(enum.Enum):
    GPU = 0
    CPU = 1
    MPS = 2


def _devices():
    from core import devices

    return devices


def _vram_state() -> VRAMState:
    mode = _devices().settings.mode
    return {"lowvram": VRAMState.LOW_VRAM, "novram": VRAMState.NO_VRAM, "highvram": VRAMState.HIGH_VRAM,
            "gpu-only": VRAMState.HIGH_VRAM, "cpu": VRAMState.DISABLED}.get(mode, VRAMState.NORMAL_VRAM)


def __getattr__(name):
    if name in ("vram_state", "set_vram_to"):
        return _vram_state()
    if name == "cpu_state":
        return CPUState.CPU if get_torch_device().type == "cpu" else CPUState.GPU
    if name == "OOM_EXCEPTION":
        import torch

        return torch.cuda.OutOfMemoryError
    if name == "XFORMERS_IS_AVAILABLE":
        return False
    if name == "current_loaded_models":
        return list(_devices().manager.loaded)
    return _missing(name)


_missing = module_getattr(__name__)


# --- interrupts -----------------------------------------------------------------------------------
def processing_interrupted() -> bool:
    job = _current_job()
    return job is not None and job.interrupt.is_set()


def interrupt_current_processing(value: bool = True) -> None:
    job = _current_job()
    if job is None:
        return
    job.interrupt.set() if value else job.interrupt.clear()


# --- devices ------------------------------------------------------------------------------------
def get_torch_device():
    return _devices().get_torch_device()


def intermediate_device():
    import torch

    return torch.device("cpu")  # node values (IMAGE, LATENT) live on the CPU (docs/contracts.md)


def unet_offload_device():
    return _devices().offload_device()


text_encoder_offload_device = unet_offload_device
vae_offload_device = unet_offload_device


def text_encoder_device():
    return get_torch_device()


def unet_inital_load_device(parameters, dtype):
    return unet_offload_device()


def vae_device():
    return _devices().vae_device()


def get_autocast_device(dev):
    return getattr(dev, "type", "cuda")


def cpu_mode() -> bool:
    return get_torch_device().type == "cpu"


def mps_mode() -> bool:
    return get_torch_device().type == "mps"


def is_device_type(device, kind: str) -> bool:
    return getattr(device, "type", None) == kind


def is_device_cpu(device) -> bool:
    return is_device_type(device, "cpu")


def is_device_mps(device) -> bool:
    return is_device_type(device, "mps")


def is_device_cuda(device) -> bool:
    return is_device_type(device, "cuda")


def is_nvidia() -> bool:
    import torch

    return torch.cuda.is_available() and torch.version.cuda is not None


def is_amd() -> bool:
    import torch

    return torch.cuda.is_available() and getattr(torch.version, "hip", None) is not None


def is_intel_xpu() -> bool:
    return False


def is_directml_enabled() -> bool:
    return False


directml_enabled = False


def xformers_enabled() -> bool:
    return False


def xformers_enabled_vae() -> bool:
    return False


def pytorch_attention_enabled() -> bool:
    return True  # every attention goes through scaled_dot_product_attention (DESIGN.md)


def pytorch_attention_flash_attention() -> bool:
    return True


def sage_attention_enabled() -> bool:
    return False


def flash_attention_enabled() -> bool:
    return False


def device_supports_non_blocking(device) -> bool:
    return is_device_cuda(device)


def supports_cast(device, dtype) -> bool:
    return True


# --- dtypes -------------------------------------------------------------------------------------
def unet_dtype(device=None, model_params=0, supported_dtypes=None, weight_dtype=None):
    return _devices().unet_dtype(device)


def unet_manual_cast(weight_dtype, inference_device, supported_dtypes=None):
    return None


def text_encoder_dtype(device=None):
    return _devices().text_encoder_dtype(device)


def vae_dtype(device=None, allowed_dtypes=None):
    return _devices().vae_dtype(device)


def should_use_fp16(device=None, model_params=0, prioritize_performance=True, manual_cast=False) -> bool:
    import torch

    return _devices().unet_dtype(device) == torch.float16


def should_use_bf16(device=None, model_params=0, prioritize_performance=True, manual_cast=False) -> bool:
    import torch

    return _devices().unet_dtype(device) == torch.bfloat16


def dtype_size(dtype) -> int:
    import torch

    return torch.empty((), dtype=dtype).element_size()


def cast_to(weight, dtype=None, device=None, non_blocking=False, copy=False, stream=None):
    return weight.to(device=device, dtype=dtype, non_blocking=non_blocking, copy=copy)


def cast_to_device(tensor, device, dtype, copy=False):
    return tensor.to(device=device, dtype=dtype, copy=copy)


# --- memory ------------------------------------------------------------------------------------
def get_free_memory(dev=None, torch_free_too: bool = False):
    free = _devices().free_memory(dev if dev is not None else get_torch_device())
    return (free, free) if torch_free_too else free


def get_total_memory(dev=None, torch_total_too: bool = False):
    import torch

    dev = dev if dev is not None else get_torch_device()
    if getattr(dev, "type", "cpu") == "cuda":
        total = torch.cuda.get_device_properties(dev).total_memory
    else:
        import os

        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return (total, total) if torch_total_too else total


def module_size(module) -> int:
    return _devices().module_bytes(module)


def free_memory(memory_required, device, keep_loaded=()):
    _devices().manager.free(int(memory_required), device, keep=tuple(keep_loaded))


def soft_empty_cache(force: bool = False) -> None:
    _devices().empty_cache()


def unload_all_models() -> None:
    _devices().manager.unload_all()
    soft_empty_cache()


def cleanup_models(keep_clone_weights_loaded=False) -> None:
    pass


def cleanup_models_gc() -> None:
    pass


def load_models_gpu(models, memory_required=0, force_patch_weights=False, minimum_memory_required=None,
                    force_full_load=False) -> None:
    """Move each MODEL/patcher to its device now (our sampler also does this itself when it runs)."""
    manager = _devices().manager
    for m in models:
        if hasattr(m, "modules"):
            manager._load(m, getattr(m, "load_device", None) or get_torch_device())


def load_model_gpu(model) -> None:
    load_models_gpu([model])


def loaded_models(only_currently_used: bool = False) -> list:
    return list(_devices().manager.loaded)


def maximum_vram_for_weights(device=None) -> int:
    return get_total_memory(device) * 0.88


def extra_reserved_memory() -> int:
    return 0


def minimum_inference_memory() -> int:
    return 1024 ** 3
