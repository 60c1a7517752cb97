"""Single-file checkpoints -> (ModelHandle, ClipHandle, VaeHandle); standalone U-Net and VAE files.

Modules are built on the ``meta`` device with their weight initialisers skipped (``skip_init``: every
value comes from the file), then each tensor of the file is converted once to the target dtype/device and
set in place of the meta parameter. When the file's dtype already matches on the CPU nothing is copied at
all: the parameters are views of the memory-mapped file (weights.py). To a GPU, tensors travel in the
file's dtype and are converted there. Loads run with the cyclic garbage collector paused. Optional keys
(schedule buffers, ``model_ema.*``, ``position_ids``, ``denoiser.sigmas``) are ignored.
"""
from __future__ import annotations

import functools
import gc
import logging
from pathlib import Path

import torch
from torch.overrides import TorchFunctionMode

from core import devices
from core.models import detection
from core.models.handles import ModelHandle, VaeHandle
from core.models.latent_formats import for_family
from core.models.unet import UNetModel
from core.models.vae import AutoencoderKL
from core.models.weights import WeightsError, load_file

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


def _without_gc(fn):
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
                whole: bool = False) -> torch.nn.Module:
    """Set every parameter and persistent buffer of meta-built ``module`` from ``sd[prefix + key]``.

    Each tensor is converted once (``to_target``) and set straight into its owner, which is what
    ``load_state_dict(assign=True)`` ends in, without its per-module walk. The module is returned in eval
    mode. Unused tensors under a non-empty ``prefix`` (or anywhere in ``sd`` when ``whole``) are logged;
    errors name ``where``.
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
    for (_key, owner, name, is_param, _ref), t in zip(slots, found):
        t = to_target(t, device, dtype)
        if is_param:
            owner._parameters[name] = parameter(t, requires_grad=False)
        else:
            owner._buffers[name] = t
    return module


def build_module(factory, sd, prefix: str, dtype: torch.dtype, device, where: str) -> torch.nn.Module:
    """``factory()`` built on meta, filled from ``sd[prefix + key]``; errors name ``where`` and the keys."""
    return fill_module(on_meta(factory), sd, prefix, dtype, device, where)


def _load_dtype(force: torch.dtype | None, policy) -> torch.dtype:
    return force if force is not None else policy(devices.get_torch_device())


def load_vae_from_state_dict(sd, prefix: str, where: str, dtype: torch.dtype | None = None, name: str = "") -> VaeHandle:
    cfg = detection.detect_vae_config(sd, prefix)
    dtype = dtype or devices.vae_dtype()
    vae = build_module(lambda: AutoencoderKL(cfg), sd, prefix, dtype, devices.offload_device(), f"{where} (VAE)")
    return VaeHandle(vae, name=name)


def load_unet_from_state_dict(sd, where: str, metadata=None, path=None, dtype: torch.dtype | None = None,
                              name: str = "", config: detection.ModelConfig | None = None) -> ModelHandle:
    cfg = config or detection.detect(sd, metadata, path, name=where)
    prefix = cfg.extra["unet_prefix"]
    dtype = _load_dtype(dtype, devices.unet_dtype)
    if cfg.prediction == "flow":
        return _load_flow_model(sd, cfg, prefix, dtype, where, name)
    unet = build_module(lambda: UNetModel(cfg.unet), sd, prefix, dtype, devices.offload_device(), f"{where} (U-Net)")
    log.info("%s: %s %s-prediction U-Net, %s", where, cfg.family, cfg.prediction, dtype)
    return ModelHandle(unet, cfg, for_family(cfg.family), name=name)


def _load_flow_model(sd, cfg, prefix: str, dtype, where: str, name: str) -> ModelHandle:
    from core.models.flux import Flux
    from core.sampling.model_sampling import default_for_family

    net = build_module(lambda: Flux(cfg.unet), sd, prefix, dtype, devices.offload_device(), f"{where} (FLUX)")
    c = cfg.unet
    log.info("%s: %s transformer (%d double + %d single blocks, width %d), %s", where, cfg.family, c.depth,
             c.depth_single_blocks, c.hidden_size, dtype)
    model = ModelHandle(net, cfg, for_family(cfg.family), name=name)
    model.model_sampling = default_for_family(cfg.family)
    return model


class MissingClip:
    """Stands for the CLIP output when the text encoder cannot be loaded: any use raises why."""

    def __init__(self, reason: str):
        self.reason = reason

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        raise RuntimeError(self.reason)


@_without_gc
def load_checkpoint(path, output_clip: bool = True, output_vae: bool = True, unet_dtype: torch.dtype | None = None,
                    clip_dtype: torch.dtype | None = None, vae_dtype: torch.dtype | None = None):
    """(ModelHandle, ClipHandle | MissingClip | None, VaeHandle | None) from one checkpoint file."""
    path = Path(path)
    where = f"checkpoint {path.name}"
    sd, metadata = load_file(path)
    config = detection.detect(sd, metadata, path, name=where)
    if output_vae and detection.vae_prefix(sd) != "first_stage_model.":
        raise WeightsError(f"{where}: no VAE in this file (no 'first_stage_model.*' keys); load one with VAELoader")
    model = load_unet_from_state_dict(sd, where, metadata, path, dtype=unet_dtype, name=path.stem, config=config)
    family = model.config.family

    vae = None
    if output_vae:
        vae = load_vae_from_state_dict(sd, "first_stage_model.", where, dtype=vae_dtype, name=path.stem)

    clip = None
    if output_clip and not model.config.text_encoders:
        log.warning("%s: no text encoder in this file; CLIP output is empty (load one with CLIPLoader)", where)
    elif output_clip:
        try:
            from core.models.text_encoder import clip_from_checkpoint
        except ImportError as e:
            clip = MissingClip(f"{where}: the text encoder could not be loaded ({e})")
        else:
            dtype = _load_dtype(clip_dtype, devices.text_encoder_dtype)
            clip = clip_from_checkpoint(sd, family, dtype=dtype, device=devices.offload_device())
    return model, clip, vae


@_without_gc
def load_unet(path, dtype: torch.dtype | None = None) -> ModelHandle:
    """A U-Net-only file (``diffusion_models`` folder), with or without the ``model.diffusion_model.`` prefix."""
    path = Path(path)
    sd, metadata = load_file(path)
    return load_unet_from_state_dict(sd, f"diffusion model {path.name}", metadata, path, dtype=dtype, name=path.stem)


@_without_gc
def load_vae(path, dtype: torch.dtype | None = None) -> VaeHandle:
    """A standalone VAE file (LDM layout, bare or under ``first_stage_model.``/``vae.``) or a checkpoint's VAE."""
    path = Path(path)
    where = f"VAE {path.name}"
    sd, _metadata = load_file(path)
    prefix = detection.vae_prefix(sd)
    if prefix is None:
        hint = " (diffusers-format VAE files are not supported; use the single-file LDM layout)" \
            if "decoder.up_blocks.0.resnets.0.conv1.weight" in sd else ""
        raise WeightsError(f"{where}: no KL-f8 VAE found (expected 'decoder.conv_in.weight' and "
                           f"'post_quant_conv.weight', optionally under 'first_stage_model.'){hint}")
    return load_vae_from_state_dict(sd, prefix, where, dtype=dtype, name=path.stem)
