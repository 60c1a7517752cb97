"""Cast-on-use layers: weights kept in their storage dtype (8-bit floats), computed in the input's dtype.

A Cast layer (Linear, Conv1d/2d/3d) keeps ``weight`` as stored, 1 byte per number for float8_e4m3fn /
float8_e5m2, and in each forward makes a compute-dtype copy on the input's device:

    W = a · scale_weight · W_stored + Σ ΔW        (float32, rounded once to the input's dtype)

``scale_weight`` is the per-tensor scale of "scaled fp8" files (core/models/fp8.py), ``a`` and ``ΔW`` the
weight patches (LoRA, core/models/patcher.py contract) attached while the model is active. Patches are
applied here, on the upcast copy, instead of merged into the 8-bit storage: merging would round the
patched weight to fp8 (a LoRA delta is often below half an fp8 ulp and would vanish), and restoring
it bit for bit would need an undo log as large as the weights. Only one layer's upcast copy exists at
a time, so memory stays at one byte per weight plus the largest layer.

fp8 matmul: ``fast`` Linear layers with float8_e4m3fn weights call ``torch._scaled_mm`` (input clamped to
±448 or divided by ``scale_input``, quantized to e4m3, output in the input's dtype) when the input lives
on a CUDA device of compute capability 8.9 or higher (Ada, Hopper and later have fp8 tensor cores).
Anywhere else, with patches attached, or when ``_scaled_mm`` refuses the shapes, the layer upcasts.
"""
from __future__ import annotations

import functools
import logging
import math

import torch
import torch.nn.functional as F
from torch import nn

log = logging.getLogger(__name__)

FP8_DTYPES = (torch.float8_e4m3fn, torch.float8_e5m2)
E4M3_MAX = torch.finfo(torch.float8_e4m3fn).max  # 448


class AttachedPatches:
    """One weight's patches, ready to add to its upcast copy: a = 1 + Σ(s − 1) of the WeightScales,
    low-rank factors stacked (Σ up_i·down_i = [up_1 … up_n]·[down_1; …; down_n], one matmul), and the
    patches that only give a whole delta."""

    def __init__(self, plist: list, like: torch.Tensor):
        from core.models.patcher import WeightScale, as_patch

        plist = [p if isinstance(p, WeightScale) else as_patch(p) for p in plist]
        self.scale = 1.0 + sum(p.strength - 1.0 for p in plist if isinstance(p, WeightScale))
        rows, cols = like.shape[0], max(1, math.prod(like.shape[1:]))
        ups, downs, self.whole = [], [], []
        for p in plist:
            if isinstance(p, WeightScale):
                continue
            factors = p.low_rank(like) if hasattr(p, "low_rank") else None
            if factors is None:
                self.whole.append(p)
            else:
                ups.append(factors[0].reshape(rows, -1))
                downs.append(factors[1].reshape(-1, cols))
        self.up = torch.cat(ups, 1) if ups else None
        self.down = torch.cat(downs, 0) if downs else None
        self._on: dict = {}  # device -> (up, down) there, so factors cross to the GPU once per activation

    def apply(self, w: torch.Tensor) -> torch.Tensor:
        """``a·w + Σ ΔW`` for float32 ``w`` (modified in place and returned)."""
        if self.scale != 1.0:
            w.mul_(self.scale)
        flat = w.view(w.shape[0], -1)
        if self.up is not None:
            if w.device not in self._on:
                self._on[w.device] = (self.up.to(w.device, torch.float32), self.down.to(w.device, torch.float32))
            up, down = self._on[w.device]
            flat.addmm_(up, down)
        for p in self.whole:
            flat.add_(p.delta(w).to(w.device, torch.float32).reshape(flat.shape))
        return w


# e4m3fn -> wider float through the bit pattern: the sign and the 7 exponent+mantissa bits shifted into
# place give the same number scaled by 2^(wide bias - 7) (normal and subnormal codes alike, the wide
# format's subnormals included), so one multiply fixes the exponent. (int type, shift, mask keeping the
# sign bit and the shifted field, 2^(bias difference)).
_E4M3_BITS = {torch.bfloat16: (torch.int16, 4, 0x87F0 - 2 ** 16, 2.0 ** 120),
              torch.float32: (torch.int32, 20, 0x87F00000 - 2 ** 32, 2.0 ** 120),
              torch.float16: (torch.int16, 7, 0xBF80 - 2 ** 16, 2.0 ** 8)}


def upcast(w: torch.Tensor, dtype: torch.dtype, nan_free: bool = False) -> torch.Tensor:
    """``w.to(dtype)``; for an e4m3fn weight known to hold no NaN code (``nan_free``, checked once at load)
    on the CPU through the bit pattern: ~4x faster than torch's conversion kernel there (0.22 s vs 0.82 s
    for a 12288x3072 weight to bf16 on 2 threads) and equal for every code except NaN."""
    spec = _E4M3_BITS.get(dtype)
    if (not nan_free or w.dtype != torch.float8_e4m3fn or spec is None or w.device.type != "cpu"
            or not _keeps_subnormals()):
        return w.to(dtype)
    wide, shift, mask, scale = spec
    bits = w.view(torch.int8).to(wide)  # sign-extended: the sign lands in the top bit after the shift
    bits.bitwise_left_shift_(shift).bitwise_and_(mask)
    return bits.view(dtype).mul_(scale)


_TINY = 2.0 ** -130  # a float32/bfloat16 subnormal


def _keeps_subnormals() -> bool:
    """False under flush-to-zero (``torch.set_flush_denormal(True)`` in this thread): the bit-pattern
    upcast maps e4m3's subnormals (|w| < 2^-6, common in weights) to the wide format's subnormals before
    its one multiply, which FTZ would zero. A few microseconds per call."""
    return bool(torch.full((16,), _TINY).mul_(1.0)[0] != 0)


def has_nan_codes(w: torch.Tensor) -> bool:
    """Whether an e4m3fn tensor holds its NaN code (S.1111.111)."""
    return w.dtype == torch.float8_e4m3fn and bool(((w.view(torch.uint8) & 0x7F) == 0x7F).any())


class CastWeight:
    """Mixin of the cast layers: ``cast_weight`` / ``cast_bias`` give compute-dtype tensors per forward."""

    fast = False  # use fp8 matmul where the device supports it
    nan_free = False  # the stored weight holds no NaN code (set at load): the fast CPU upcast applies
    patches: AttachedPatches | None = None

    def _init_cast(self) -> None:
        # not in the state dict: the weight keys stay those of the released files
        self.register_buffer("scale_weight", None, persistent=False)
        self.register_buffer("scale_input", None, persistent=False)
        self.patches = None

    def cast_weight(self, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        w = self.weight.to(device, non_blocking=True)
        if self.patches is None and self.scale_weight is None:
            return upcast(w, dtype, self.nan_free)
        w = upcast(w, torch.float32, self.nan_free)  # the one float32 copy: scale and patches, then one rounding
        if self.scale_weight is not None:
            w.mul_(self.scale_weight.to(device, torch.float32))
        if self.patches is not None:
            w = self.patches.apply(w)
        return w.to(dtype)

    def cast_bias(self, dtype: torch.dtype, device: torch.device) -> torch.Tensor | None:
        return None if self.bias is None else self.bias.to(device, dtype, non_blocking=True)


def _linear_forward(self, x: torch.Tensor) -> torch.Tensor:
    if self.fast and self.patches is None and fp8_matmul_available(x.device):
        out = fp8_linear(self, x)
        if out is not None:
            return out
    return F.linear(x, self.cast_weight(x.dtype, x.device), self.cast_bias(x.dtype, x.device))


def _conv_forward(self, x: torch.Tensor) -> torch.Tensor:
    # the layer's own _conv_forward (core.models.conv.Conv2d's GEMM path included) on the upcast weight
    return self._conv_forward(x, self.cast_weight(x.dtype, x.device), self.cast_bias(x.dtype, x.device))


BASES = {nn.Linear: _linear_forward, nn.Conv1d: _conv_forward, nn.Conv2d: _conv_forward, nn.Conv3d: _conv_forward}


@functools.lru_cache(maxsize=None)
def cast_class(cls: type) -> type:
    """``Cast<cls>``: ``cls`` (nn.Linear, nn.Conv2d, or a subclass of one) with cast-on-use forward."""
    base = next(b for b in BASES if issubclass(cls, b))
    return type("Cast" + cls.__name__, (CastWeight, cls), {"forward": BASES[base], "__module__": __name__})


CastLinear = cast_class(nn.Linear)


def castable(layer: nn.Module) -> bool:
    """A Linear/Conv whose forward is the library's: weight and bias go straight into F.linear or
    ``_conv_forward``, so passing upcast copies instead changes nothing else. A plugin layer with its
    own forward is left alone."""
    if isinstance(layer, CastWeight):
        return False
    return any(isinstance(layer, b) and type(layer).forward is b.forward for b in BASES)


def cast_twin(layer: nn.Module) -> nn.Module:
    """The same layer (hyperparameters, parameters, hooks: its state is shared) as its cast class."""
    twin = object.__new__(cast_class(type(layer)))
    state = dict(layer.__dict__)
    for table in ("_parameters", "_buffers", "_modules", "_non_persistent_buffers_set"):
        state[table] = type(state[table])(state[table])  # own tables: registering scales leaves ``layer`` as it was
    twin.__dict__.update(state)
    twin._init_cast()
    return twin


def replace_layers(module: nn.Module) -> list:
    """Swap every castable Linear/Conv of ``module`` for its cast twin; returns their names.

    By module type, so any network built from torch layers (FLUX, the other DiTs, U-Nets) gets fp8
    storage without per-family code."""
    names = []
    for parent_name, parent in list(module.named_modules()):
        for child_name, child in list(parent.named_children()):
            if castable(child):
                setattr(parent, child_name, cast_twin(child))
                names.append(f"{parent_name}.{child_name}" if parent_name else child_name)
    return names


def cast_layers(module: nn.Module) -> dict:
    """``{module path: cast layer}`` of ``module``."""
    return {name: m for name, m in module.named_modules() if isinstance(m, CastWeight)}


def attach_patches(module: nn.Module, patches: dict, prefix: str) -> tuple[dict, list]:
    """Attach the patches of cast layers' weights to those layers; returns (the other patches, the
    layers attached), so the caller merges the rest in place as usual and detaches after use."""
    layers = cast_layers(module)
    rest, attached = {}, []
    for key, plist in patches.items():
        name = key[len(prefix):] if key.startswith(prefix) else None
        owner, _, attr = (name or "").rpartition(".")
        layer = layers.get(owner) if attr == "weight" else None
        if layer is None or not plist:
            rest[key] = plist
            continue
        like = torch.empty((), dtype=torch.float32, device=layer.weight.device).expand(layer.weight.shape)
        layer.patches = AttachedPatches(list(plist), like)
        attached.append(layer)
    return rest, attached


def detach_patches(layers: list) -> None:
    for layer in layers:
        layer.patches = None


@functools.lru_cache(maxsize=None)
def _capability_ok(index: int) -> bool:
    return torch.cuda.get_device_capability(index) >= (8, 9)


def fp8_matmul_available(device: torch.device) -> bool:
    """fp8 tensor cores: CUDA compute capability 8.9 (Ada) or newer, and a torch with ``_scaled_mm``."""
    if device.type != "cuda" or not hasattr(torch, "_scaled_mm"):
        return False
    return _capability_ok(device.index if device.index is not None else torch.cuda.current_device())


def fp8_linear(layer, x: torch.Tensor) -> torch.Tensor | None:
    """``layer(x)`` as one fp8 x fp8 matmul (``torch._scaled_mm``), or None when it does not apply.

    Input: divided by ``scale_input`` when the file has one, else clamped to e4m3's ±448, then rounded
    to e4m3 with scale 1; weight: the stored e4m3 with its ``scale_weight``. Output in x's dtype."""
    w = layer.weight
    if w.dtype != torch.float8_e4m3fn or x.shape[-1] != w.shape[1] or w.shape[0] % 16 or w.shape[1] % 16:
        return None
    rows = x.reshape(-1, w.shape[1])
    one = torch.ones((), device=x.device, dtype=torch.float32)
    scale_in = one if layer.scale_input is None else layer.scale_input.to(x.device, torch.float32)
    if layer.scale_input is not None:
        rows = rows / scale_in.to(rows.dtype)
    q = rows.clamp(-E4M3_MAX, E4M3_MAX).to(torch.float8_e4m3fn).contiguous()
    scale_w = one if layer.scale_weight is None else layer.scale_weight.to(x.device, torch.float32)
    try:
        out = torch._scaled_mm(q, w.to(x.device).t(), scale_a=scale_in, scale_b=scale_w,
                               bias=layer.cast_bias(x.dtype, x.device), out_dtype=x.dtype)
    except RuntimeError as e:  # shapes or dtypes this build's kernels refuse: upcast instead
        log.debug("fp8 matmul not used for a [%d, %d] weight: %s", *w.shape, e)
        return None
    out = out[0] if isinstance(out, tuple) else out
    return out.reshape(*x.shape[:-1], w.shape[0])
