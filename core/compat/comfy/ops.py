"""ComfyUI's ``comfy.ops``: layer namespaces (``disable_weight_init``, ``manual_cast``) packs build modules from.

Each namespace holds torch layers whose ``reset_parameters`` does nothing (weights come from files)
and which cast their weights to the input's dtype/device when ``comfy_cast_weights`` is set.
"""
from __future__ import annotations

import torch

from core.compat.missing import module_getattr


def cast_bias_weight(layer, input=None, dtype=None, device=None, bias_dtype=None):
    if input is not None:
        dtype = dtype or input.dtype
        device = device or input.device
    weight = layer.weight.to(device=device, dtype=dtype)
    bias = None if getattr(layer, "bias", None) is None else layer.bias.to(device=device, dtype=bias_dtype or dtype)
    return weight, bias


class CastWeightBiasOp:
    comfy_cast_weights = False
    weight_function = []
    bias_function = []


def _layer(base, functional):
    class Layer(base, CastWeightBiasOp):
        def reset_parameters(self):
            return None

        def forward(self, *args, **kwargs):
            if self.comfy_cast_weights:
                weight, bias = cast_bias_weight(self, args[0])
                return functional(self, args[0], weight, bias, *args[1:], **kwargs)
            return super().forward(*args, **kwargs)

    Layer.__name__ = Layer.__qualname__ = base.__name__
    return Layer


class disable_weight_init:
    Linear = _layer(torch.nn.Linear, lambda m, x, w, b: torch.nn.functional.linear(x, w, b))
    Conv1d = _layer(torch.nn.Conv1d, lambda m, x, w, b: m._conv_forward(x, w, b))
    Conv2d = _layer(torch.nn.Conv2d, lambda m, x, w, b: m._conv_forward(x, w, b))
    Conv3d = _layer(torch.nn.Conv3d, lambda m, x, w, b: m._conv_forward(x, w, b))
    GroupNorm = _layer(torch.nn.GroupNorm,
                       lambda m, x, w, b: torch.nn.functional.group_norm(x, m.num_groups, w, b, m.eps))
    LayerNorm = _layer(torch.nn.LayerNorm, lambda m, x, w, b: torch.nn.functional.layer_norm(
        x, m.normalized_shape, w, b, m.eps))
    ConvTranspose2d = _layer(torch.nn.ConvTranspose2d,
                             lambda m, x, w, b, output_size=None: torch.nn.functional.conv_transpose2d(
                                 x, w, b, m.stride, m.padding, m.output_padding, m.groups, m.dilation))
    Embedding = _layer(torch.nn.Embedding, lambda m, x, w, b, out_dtype=None: torch.nn.functional.embedding(
        x, w, m.padding_idx, m.max_norm, m.norm_type, m.scale_grad_by_freq, m.sparse))

    @classmethod
    def conv_nd(cls, dims, *args, **kwargs):
        return {1: cls.Conv1d, 2: cls.Conv2d, 3: cls.Conv3d}[dims](*args, **kwargs)


class manual_cast(disable_weight_init):
    """The same layers, always casting weights to the input's dtype and device."""


for _name in ("Linear", "Conv1d", "Conv2d", "Conv3d", "GroupNorm", "LayerNorm", "ConvTranspose2d", "Embedding"):
    setattr(manual_cast, _name, type(_name, (getattr(disable_weight_init, _name),), {"comfy_cast_weights": True}))


def pick_operations(weight_dtype, compute_dtype, load_device=None, disable_fast_fp8=False, fp8_optimizations=False,
                    scaled_fp8=None, model_config=None):
    return disable_weight_init if compute_dtype is None or weight_dtype == compute_dtype else manual_cast


__getattr__ = module_getattr(__name__)
