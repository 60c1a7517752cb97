"""What every CONTROL_NET value shares: the ControlNet and T2I-Adapter handles.

A handle wraps one loaded network. ``apply(hint, strength, start_percent, end_percent, previous, vae)``
returns a bound copy: the per-conditioning "control" object that core.sampling.guidance calls as

    get_control(x, sigma, cond_context, batched) -> {"input": [...], "middle": [...], "adapter": [...]} | None

with ``x`` the noisy VE-space batch of ``batched`` conditionings (cond and uncond together), ``sigma`` its
per-item sigmas and ``cond_context`` ``{"c_crossattn": context, "y": adm vector or None}``. The contract:

- chain: ``previous`` (the control the entry had before this Apply ControlNet) is asked first and this
  handle's residuals are added to its result, part by part and index by index; an index only one side has
  is kept as it is. So ControlNets and adapters stack in any order.
- step range: the handle adds only while the step's sigma lies between the schedule's sigmas at
  ``start_percent`` and ``end_percent`` (percent of the denoising, as ComfyUI); outside, ``previous``
  passes through unchanged.
- strength: every residual is multiplied by ``strength``; at strength 0, or with no hint, ``previous``
  passes through and the network never runs.

A subclass gives its residuals at strength 1 (:meth:`ControlHandle.residuals`) and forgets what it keeps
per bound hint in :meth:`ControlHandle._unbind`.
"""
from __future__ import annotations

import copy

import torch


class ControlHandle:
    """Base of the CONTROL_NET values; unbound (no hint) as a loader returns it."""

    def __init__(self, model: torch.nn.Module, name: str):
        self.model = model
        self.name = name
        self.hint: torch.Tensor | None = None  # IMAGE [B, H, W, C] in 0..1
        self.strength = 1.0
        self.start_percent, self.end_percent = 0.0, 1.0
        self.previous = None
        self.vae = None
        self._schedule = None

    def apply(self, hint: torch.Tensor, strength: float, start_percent: float = 0.0, end_percent: float = 1.0,
              previous=None, vae=None):
        """A copy bound to ``hint``, ``strength`` and the step range, chained after ``previous``."""
        c = copy.copy(self)
        c.hint, c.strength = hint, float(strength)
        c.start_percent, c.end_percent = float(start_percent), float(end_percent)
        c.previous, c.vae = previous, vae
        c._unbind()
        return c

    def _unbind(self) -> None:
        """Drop whatever was computed from the previous hint (the copy shares the loader's attributes)."""

    @property
    def schedule(self):
        """The SD noise schedule (shared by SD1/SD2/SDXL) that maps percents and timesteps to sigmas."""
        if self._schedule is None:
            from core.sampling.schedule import DiscreteSchedule

            self._schedule = DiscreteSchedule()
        return self._schedule

    def sigma_range(self) -> tuple[float, float]:
        """(sigma at start_percent, sigma at end_percent): the first is the larger."""
        return self.schedule.percent_to_sigma(self.start_percent), self.schedule.percent_to_sigma(self.end_percent)

    def active_at(self, sigma: torch.Tensor) -> bool:
        s_start, s_end = self.sigma_range()
        return s_end <= float(sigma.max()) <= s_start

    def get_control(self, x: torch.Tensor, sigma: torch.Tensor, cond_context: dict, batched: int):
        prev = self.previous.get_control(x, sigma, cond_context, batched) if self.previous is not None else None
        if self.strength == 0 or self.hint is None or not self.active_at(sigma):
            return prev
        control = self.residuals(x, sigma, cond_context, batched)
        if self.strength != 1.0:
            control = {part: [None if t is None else t * self.strength for t in ts] for part, ts in control.items()}
        return add_controls(prev, control)

    def residuals(self, x: torch.Tensor, sigma: torch.Tensor, cond_context: dict, batched: int) -> dict:
        """This network's ``{"input" | "middle" | "adapter": [tensor, ...]}`` at strength 1."""
        raise NotImplementedError(f"{type(self).__name__} does not compute residuals")

    # --- ComfyUI's ControlBase names, for packs that bind and chain CONTROL_NET values themselves -------
    # (``control_net.copy().set_cond_hint(image.movedim(-1, 1), strength, (start, end), vae=vae)`` then
    # ``.set_previous_controlnet(prev)``, as ComfyUI's own apply node does; docs/lora_controlnet.md)

    def copy(self):
        """A copy with this hint, strength, step range and VAE but no previous control (as ComfyUI's)."""
        c = copy.copy(self)
        c.previous = None
        c._unbind()
        return c

    def set_cond_hint(self, cond_hint: torch.Tensor, strength: float = 1.0, timestep_percent_range=(0.0, 1.0),
                      vae=None, extra_concat=()):
        """Bind this handle in place to ``cond_hint`` ``[B, C, H, W]`` (an IMAGE moved channels-first).

        ``extra_concat`` (extra hint channels of Union/inpaint ControlNets) is not supported: refused."""
        if extra_concat:
            raise ValueError(f"{self.name}: extra_concat hint channels are not supported by this ControlNet")
        self.hint = cond_hint.movedim(1, -1)
        self.strength = float(strength)
        self.start_percent, self.end_percent = (float(p) for p in timestep_percent_range)
        self.vae = vae
        self._unbind()
        return self

    def set_previous_controlnet(self, controlnet):
        self.previous = controlnet
        return self

    @property
    def previous_controlnet(self):
        return self.previous

    @property
    def cond_hint_original(self) -> torch.Tensor | None:
        return None if self.hint is None else self.hint.movedim(-1, 1)

    @property
    def timestep_percent_range(self) -> tuple[float, float]:
        return self.start_percent, self.end_percent

    # --- helpers the kinds share ------------------------------------------------------------------

    def model_to(self, device: torch.device) -> torch.nn.Module:
        """The network, moved to ``device`` the first time a step runs there."""
        if next(self.model.parameters()).device != device:
            self.model.to(device)
        return self.model

    def hint_pixels(self, x: torch.Tensor) -> torch.Tensor:
        """The hint as ``[n, 3, 8h, 8w]`` float for latent ``x`` of ``[B, C, h, w]`` (nearest-exact, centre crop)."""
        from core.images import resize_nchw

        return resize_nchw(self.hint.movedim(-1, 1)[:, :3].float(), x.shape[3] * 8, x.shape[2] * 8,
                           "nearest-exact", "center")


def tile_to_batch(t: torch.Tensor, batch: int, batched: int) -> torch.Tensor:
    """``t`` ``[n, ...]`` repeated to one conditioning's ``batch // batched`` items, then over the conds.

    One hint for the whole batch, or fewer hints than images, repeat in order (as ComfyUI)."""
    batched = max(batched, 1)
    per_cond = batch // batched
    if t.shape[0] != per_cond:
        t = t.repeat(-(-per_cond // t.shape[0]), *([1] * (t.ndim - 1)))[:per_cond]
    return t.repeat(batched, *([1] * (t.ndim - 1)))


def add_controls(a: dict | None, b: dict) -> dict:
    """``a`` + ``b`` part by part, index by index; what only one side has is kept."""
    if a is None:
        return b
    out = {}
    for part in ("input", "middle", "adapter", "output"):  # "output": DiT ControlNets, one per block
        xs, ys = a.get(part) or [], b.get(part) or []
        merged = []
        for i in range(max(len(xs), len(ys))):
            u = xs[i] if i < len(xs) else None
            v = ys[i] if i < len(ys) else None
            merged.append(v if u is None else u if v is None else u + v)
        if merged:
            out[part] = merged
    return out
