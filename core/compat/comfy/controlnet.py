"""ComfyUI's ``comfy.controlnet``: loading ControlNets / T2I-Adapters and the CONTROL_NET value's methods.

``load_controlnet(path)`` is core.models.controlnet.load_controlnet; the value it returns has
``set_cond_hint(hint, strength, timestep_percent_range, vae)`` (ComfyUI's name) through
``apply`` and ``copy``. Attaching it to conditioning works as ComfyUI's ControlNetApply does:
``c[1]["control"] = cnet.copy().set_cond_hint(...)`` with ``set_previous_controlnet``.
"""
from __future__ import annotations

from core.compat.missing import module_getattr


class _HandleMeta(type):
    def __instancecheck__(cls, obj):
        from core.models.controlnet import ControlNetHandle

        return isinstance(obj, ControlNetHandle)


class ControlBase(metaclass=_HandleMeta):
    pass


class ControlNet(ControlBase):
    pass


def load_controlnet(ckpt_path, model=None, model_options=None):
    from core.models.controlnet import load_controlnet as load

    return load(ckpt_path, dtype=(model_options or {}).get("dtype"))


load_controlnet_state_dict = None  # replaced below


def _load_state_dict(state_dict, model=None, model_options=None):
    from core.models.controlnet import ControlNetHandle, load_controlnet_module
    from core.models.t2i_adapter import T2IAdapterHandle, is_t2i_adapter, load_t2i_adapter_module

    dtype = (model_options or {}).get("dtype")
    if is_t2i_adapter(state_dict):
        return T2IAdapterHandle(load_t2i_adapter_module(state_dict, dtype, where="T2I-Adapter (plugin)"))
    return ControlNetHandle(load_controlnet_module(state_dict, dtype, where="ControlNet (plugin)"))


load_controlnet_state_dict = _load_state_dict


def load_t2i_adapter(t2i_data, model_options=None):
    return _load_state_dict(t2i_data, model_options=model_options)


__getattr__ = module_getattr(__name__)
