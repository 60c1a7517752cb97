"""ComfyUI's ``comfy.model_management`` for custom node packs: devices and interrupts.

Interrupt checks delegate to :mod:`core.execution.progress` (the running job's flag); devices and memory to
:mod:`core.devices`, imported on first use so plain packs load without torch.
"""
from __future__ import annotations

from core.execution.progress import Interrupted as InterruptProcessingException  # noqa: F401
from core.execution.progress import check_interrupt as throw_exception_if_processing_interrupted  # noqa: F401
from core.execution.progress import current as _current_job


def processing_interrupted() -> bool:
    job = _current_job()
    return job is not None and job.interrupt.is_set()


def interrupt_current_processing(value: bool = True) -> None:
    job = _current_job()
    if job is None:
        return
    job.interrupt.set() if value else job.interrupt.clear()


def get_torch_device():
    from core import devices

    return devices.get_torch_device()


def intermediate_device():
    import torch

    return torch.device("cpu")  # node values (IMAGE, LATENT) live on the CPU (docs/contracts.md)


def unet_offload_device():
    from core import devices

    return devices.offload_device()


text_encoder_offload_device = unet_offload_device


def vae_device():
    from core import devices

    return devices.vae_device()


def get_free_memory(dev=None, torch_free_too: bool = False):
    from core import devices

    free = devices.free_memory(dev if dev is not None else get_torch_device())
    return (free, free) if torch_free_too else free


def soft_empty_cache(force: bool = False) -> None:
    from core import devices

    devices.empty_cache()


def unload_all_models() -> None:
    soft_empty_cache()
