"""Dual classifier-free guidance over three conditionings (ComfyUI's DualCFGGuider).

With estimates D_p (cond1), D_m (cond2, the "middle") and D_n (negative) from one batched call:

    regular:  D = CFG(D_m, D_n; cfg2) + cfg1 * (D_p - D_m)
    nested:   D = D_n + cfg2 * (CFG(D_p, D_m; cfg1) - D_n)

where CFG(c, u; s) = u + s (c - u) is the model's CFG (or its sampler_cfg_function, then skip-layer
guidance on c's conditioning and the post-CFG functions). Regular guidance skips the negative when cfg2 is 1 and the middle too when cfg1 is also 1
(the terms they would add cancel), unless the model disables that optimisation.
"""
from __future__ import annotations

import math

from core.sampling.guidance import CFGDenoiser


class DualCFGDenoiser(CFGDenoiser):
    """``model(x, sigma) -> denoised`` with dual CFG; ``denoise_pair`` gives (D, D_n) for CFG++ samplers."""

    def __init__(self, denoiser, positive: list, middle: list, negative: list, cfg1: float, cfg2: float,
                 nested: bool = False, model_options=None, concat=None, model=None):
        super().__init__(denoiser, positive, negative, cfg1, model_options, concat, model)
        self.middle = middle
        self.cfg2 = float(cfg2)
        self.nested = bool(nested)
        self._ranged = any(c.sigma_start < 1e8 or c.sigma_end > 0 for c in positive + middle + negative)

    def _guided(self, x, sigma, need_uncond: bool):
        skip = not self.model_options.get("disable_cfg1_optimization", False)
        if self.nested:
            pos, mid, neg = self.calc_sets(x, sigma, [self.positive, self.middle, self.negative])
            text = self.combine(x, sigma, pos, mid, self.cfg, self.positive)
            return neg + (text - neg) * self.cfg2, neg
        use_neg = need_uncond or not (skip and math.isclose(self.cfg2, 1.0))
        use_mid = use_neg or not (skip and math.isclose(self.cfg, 1.0))
        sets = [self.positive] + ([self.middle] if use_mid else []) + ([self.negative] if use_neg else [])
        results = self.calc_sets(x, sigma, sets)
        pos = results[0]
        mid = results[1] if use_mid else pos
        neg = results[2] if use_neg else mid
        return self.combine(x, sigma, mid, neg, self.cfg2, self.middle) + (pos - mid) * self.cfg, neg
