"""Seeded noise: the initial latent noise (ComfyUI's recipe) and per-step noise for stochastic samplers.

All random numbers come from CPU generators seeded with the node's seed and are then moved to the
sampling device, so one seed gives one image on every device.
"""
from __future__ import annotations

import bisect
import math

import torch


def _generator(seed: int) -> torch.Generator:
    return torch.Generator(device="cpu").manual_seed(int(seed) & 0xFFFFFFFFFFFFFFFF)


def initial_noise(shape, seed: int, batch_index=None) -> torch.Tensor:
    """One torch.randn of the whole batch [B, C, h, w] (float32, CPU).

    With ``batch_index`` (from LatentFromBatch) the generator draws one [1, C, h, w] sample per index
    from 0 to max(index) and item k takes sample ``batch_index[k]``, so a batch item can be redone alone.
    """
    gen = _generator(seed)
    if batch_index is None:
        return torch.randn(tuple(shape), generator=gen, dtype=torch.float32)
    wanted = sorted(set(int(i) for i in batch_index))
    per_item = {}
    for i in range(wanted[-1] + 1):
        sample = torch.randn((1, *shape[1:]), generator=gen, dtype=torch.float32)
        if i in wanted:
            per_item[i] = sample
    return torch.cat([per_item[int(i)] for i in batch_index], dim=0)


class GaussianNoise:
    """Independent N(0, I) per call: the noise of ancestral samplers (the interval is ignored)."""

    def __init__(self, like: torch.Tensor, seed: int):
        self.shape, self.device, self.dtype = like.shape, like.device, like.dtype
        self.gen = _generator(seed)

    def __call__(self, sigma=None, sigma_next=None) -> torch.Tensor:
        return torch.randn(self.shape, generator=self.gen, dtype=torch.float32).to(self.device, self.dtype)


class BrownianNoise:
    """Normalised increments (W(s1) - W(s0)) / sqrt|s1 - s0| of one Brownian path W over sigma.

    SDE samplers query overlapping intervals within a step (sigma -> midpoint, sigma -> next); a single
    path makes those increments consistent. Points are filled in lazily with Brownian bridges
    (W(t) | W(a), W(b) ~ N(lerp, (t-a)(b-t)/(b-a))), so the path is fixed by the seed and the queries.
    """

    on_device = False  # True: draw on the sampling device (faster, but device-dependent numbers)

    def __init__(self, like: torch.Tensor, seed: int):
        self.shape, self.device, self.dtype = like.shape, like.device, like.dtype
        where = self.device if self.on_device else torch.device("cpu")
        self.gen = torch.Generator(device=where).manual_seed(int(seed) & 0xFFFFFFFFFFFFFFFF)
        self.where = where
        self.times: list = []
        self.values: list = []

    def _randn(self):
        return torch.randn(self.shape, generator=self.gen, dtype=torch.float32, device=self.where)

    def _value(self, t: float) -> torch.Tensor:
        k = bisect.bisect_left(self.times, t)
        if k < len(self.times) and self.times[k] == t:
            return self.values[k]
        if not self.times:
            w = torch.zeros(self.shape, device=self.where)
        elif k == 0:  # below every known time: extend the path downwards
            w = self.values[0] + self._randn() * math.sqrt(self.times[0] - t)
        elif k == len(self.times):
            w = self.values[-1] + self._randn() * math.sqrt(t - self.times[-1])
        else:
            a, b = self.times[k - 1], self.times[k]
            wa, wb = self.values[k - 1], self.values[k]
            frac = (t - a) / (b - a)
            w = wa + (wb - wa) * frac + self._randn() * math.sqrt((t - a) * (b - t) / (b - a))
        self.times.insert(k, t)
        self.values.insert(k, w)
        return w

    def __call__(self, sigma: float, sigma_next: float) -> torch.Tensor:
        s0, s1 = float(sigma), float(sigma_next)
        lo, hi = min(s0, s1), max(s0, s1)
        if hi == lo:
            return torch.zeros(self.shape, device=self.device, dtype=self.dtype)
        inc = (self._value(hi) - self._value(lo)) / math.sqrt(hi - lo)
        return inc.to(self.device, self.dtype)


class DeviceBrownianNoise(BrownianNoise):
    """The ``*_gpu`` SDE samplers: the same Brownian path construction, drawn by a generator on the
    sampling device (no host round trip per step). On a CPU it equals BrownianNoise; on a GPU the
    numbers depend on the device, as in ComfyUI."""

    on_device = True
