"""Building networks to be loaded into: modules made on the ``meta`` device without running their
weight initialisers, then filled tensor by tensor from a state dict.

Every value of a loaded network comes from its file, so initialising weights first is wasted work
(seconds for an SDXL U-Net). ``on_meta`` builds with every tensor on meta and the initialisers skipped;
``fill_module`` then converts each file tensor once to the target dtype/device (no copy at all when it
already matches on the CPU: the parameter is a view of the memory-mapped file, weights.py) and sets it in
place of the meta tensor. ``without_gc`` pauses the cyclic garbage collector around a whole load.
Used by every loader: checkpoints, standalone U-Nets and VAEs, text encoders.
"""
from __future__ import annotations

import functools
import gc
import logging

import torch
from torch.overrides import TorchFunctionMode

from core.models.weights import WeightsError

log = logging.getLogger(__name__)

_INITIALISERS = frozenset(
    [getattr(torch.nn.init, n) for n in ("uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_",
                                         "eye_", "dirac_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
                                         "kaiming_normal_", "orthogonal_", "sparse_") if hasattr(torch.nn.init, n)]
    + [getattr(torch.Tensor, n) for n in ("uniform_", "normal_", "fill_", "zero_", "random_", "exponential_",
                                          "bernoulli_", "geometric_", "log_normal_", "cauchy_")])
# Factories that place new tensors on the default device (what torch.device("meta") redirects).
_FACTORIES = frozenset([torch.empty, torch.empty_strided, torch.zeros, torch.ones, torch.full, torch.rand,
                        torch.randn, torch.randint, torch.arange, torch.linspace, torch.eye, torch.tensor])


class _SkipInit(TorchFunctionMode):
    """Weight initialisers return their meta tensor untouched (on meta they compute nothing anyway).

    With ``meta=True`` factories without a device also build on meta: one mode instead of this plus
    ``torch.device("meta")``, one Python call less for every torch function a constructor makes.
    """

    def __init__(self, meta: bool = False):
        super().__init__()
        self.meta = meta

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _INITIALISERS:
            t = args[0] if args else kwargs.get("tensor")
            if isinstance(t, torch.Tensor) and t.is_meta:
                return t
        elif self.meta and func in _FACTORIES and kwargs.get("device") is None:
            kwargs["device"] = "meta"
        return func(*args, **kwargs)


def skip_init() -> TorchFunctionMode:
    """``with skip_init():`` initialisers on meta tensors do nothing (modules built to be loaded into)."""
    return _SkipInit()


def without_gc(fn):
    """No cyclic garbage collection while a load makes thousands of module objects: one full pass over a
    process that has imported torch and transformers takes ~0.2 s and would land inside a load at random."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        enabled = gc.isenabled()
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()

    return wrapper


def on_meta(factory) -> torch.nn.Module:
    """``factory()`` with every tensor on meta and no initialiser run."""
    with _SkipInit(meta=True):
        return factory()


def _slots(module: torch.nn.Module) -> list:
    """``(state-dict key, owner module, attribute, is_parameter, meta tensor)`` for every saved tensor.

    Puts every module in eval mode on the way (the walk ``module.eval()`` would make again). Non-persistent
    buffers are in no file: a module that has them sets them after loading."""
    slots = []
    for path, owner in module.named_modules():
        if type(owner).train is torch.nn.Module.train:
            owner.__dict__["training"] = False
        else:
            owner.train(False)
        base = path + "." if path else ""
        for name, p in owner._parameters.items():
            if p is not None:
                slots.append((base + name, owner, name, True, p))
        for name, b in owner._buffers.items():
            if b is not None and name not in owner._non_persistent_buffers_set:
                slots.append((base + name, owner, name, False, b))
    return slots


def to_target(t: torch.Tensor, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """``t`` on ``device`` in ``dtype`` (floating point only), without a copy when it already is."""
    target = dtype if t.is_floating_point() else t.dtype
    if t.device.type == "cpu" and device.type != "cpu":
        t = t.to(device)  # the file's bytes travel as they are: no converted copy in host memory
    return t.to(dtype=target) if t.dtype != target else t


def fill_module(module: torch.nn.Module, sd, prefix: str, dtype: torch.dtype, device, where: str,
                whole: bool = False, convert=None) -> torch.nn.Module:
    """Set every parameter and persistent buffer of meta-built ``module`` from ``sd[prefix + key]``.

    Each tensor is converted once (``to_target``) and set straight into its owner, which is what
    ``load_state_dict(assign=True)`` ends in, without its per-module walk. The module is returned in eval
    mode. Unused tensors under a non-empty ``prefix`` (or anywhere in ``sd`` when ``whole``) are logged;
    errors name ``where``. ``convert(key, tensor) -> tensor | None`` may take over the conversion of some
    keys (fp8 storage: core/models/fp8.py); None means the default ``to_target``.
    """
    device = torch.device(device)
    slots = _slots(module)
    found, missing, wrong = [], [], []
    for key, _owner, _name, _is_param, ref in slots:
        t = sd.get(prefix + key)
        if t is None:
            missing.append(prefix + key)
        elif t.shape != ref.shape:
            wrong.append(f"{prefix + key}: file {list(t.shape)} vs model {list(ref.shape)}")
        found.append(t)
    if missing or wrong:
        detail = []
        if missing:
            detail.append(f"{len(missing)} missing (first: {', '.join(missing[:3])})")
        if wrong:
            detail.append(f"{len(wrong)} with the wrong shape (first: {'; '.join(wrong[:3])})")
        raise WeightsError(f"{where}: the weights do not fit the detected architecture: {'; '.join(detail)}")
    if prefix or whole:
        expected = {key for key, *_ in slots}
        extra = [k for k in sd if k.startswith(prefix) and k[len(prefix):] not in expected]
        if extra:
            log.warning("%s: %d tensors under %r not used (first: %s)", where, len(extra), prefix, ", ".join(extra[:3]))
    parameter = torch.nn.Parameter
    for (key, owner, name, is_param, _ref), t in zip(slots, found):
        converted = convert(key, t) if convert is not None else None
        t = converted if converted is not None else to_target(t, device, dtype)
        if is_param:
            owner._parameters[name] = parameter(t, requires_grad=False)
        else:
            owner._buffers[name] = t
    return module


def build_module(factory, sd, prefix: str, dtype: torch.dtype, device, where: str) -> torch.nn.Module:
    """``factory()`` built on meta, filled from ``sd[prefix + key]``; errors name ``where`` and the keys."""
    return fill_module(on_meta(factory), sd, prefix, dtype, device, where)
