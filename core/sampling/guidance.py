"""Classifier-free guidance over ComfyUI-style conditioning lists.

A CONDITIONING is a list of ``[context [1, T, D], options]``. Each entry contributes the denoised
estimate of its area (``area``/``mask``, weighted by ``strength``) while sigma is inside its
``start_percent``..``end_percent`` range; overlapping entries are averaged by weight. Entries with
the same area and ControlNet are run in one U-Net forward, positive and negative together, so
CFG costs one batched call per step (Ho & Salimans 2022: D = D_u + cfg * (D_c - D_u)).

ControlNet hook: an entry's ``options["control"]`` is any object with
``get_control(x_in, sigma, cond_context, batched_conds) -> {"input": [...], "middle": [...]} | None``
where ``x_in`` is the noisy VE-space latent batch being denoised, ``sigma`` its per-item sigmas,
``cond_context`` a dict ``{"c_crossattn": context, "y": adm vector or None, "model": the MODEL}`` for
that batch and
``batched_conds`` the number of conditionings in the batch. The object chains to earlier
ControlNets itself (via its ``.previous``); the result is passed to the U-Net as ``control=``.

Skip-layer guidance (``model_options["skip_layer_guidance"]``, a :class:`SkipLayerGuidance`): inside its
sigma range, one more forward of the positive conditioning with some transformer blocks left out
(``transformer_options={"skip_layers": ...}``) and D += scale * (D_c - D_c,skipped), as Stability AI's
SD3.5 reference (sd3_impls.py SkipLayerCFGDenoiser) and ComfyUI's SkipLayerGuidanceDiT.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

ADM_SDXL = 2816  # pooled 1280 + 6 size/crop embeddings of 256
ADM_SDXL_REFINER = 2560  # pooled 1280 + 5 embeddings (size, crop, aesthetic score)


def sdxl_adm(opts: dict, adm_channels: int, latent_hw: tuple, batch: int) -> torch.Tensor:
    """The SDXL "vector" conditioning: pooled text ++ Fourier features of size and crop (Podell et al. 2023, §2.2)."""
    from core.models.unet import timestep_embedding

    height = opts.get("height", latent_hw[0] * 8)
    width = opts.get("width", latent_hw[1] * 8)
    pooled = opts.get("pooled_output")
    # The refiner's vector has 5 embeddings beside the pooled text, the base's 6; the pooled width tells
    # which (so reduced-width models classify like the releases), else the release sizes do.
    if pooled is not None:
        refiner = pooled.shape[-1] + 5 * 256 == adm_channels
    else:
        refiner = adm_channels == ADM_SDXL_REFINER
    if pooled is None:  # e.g. a zeroed-out or hand-made conditioning: no text vector
        pooled = torch.zeros(1, adm_channels - (5 if refiner else 6) * 256)
    if opts.get("unclip_conditioning") and not refiner:
        # SDXL revision: CLIP image embeddings take the pooled text embedding's place (core/models/unclip.py)
        from core.models.unclip import unclip_vector

        pooled = unclip_vector(opts["unclip_conditioning"], pooled.shape[-1])
    if refiner:
        values = [height, width, opts.get("crop_h", 0), opts.get("crop_w", 0), opts.get("aesthetic_score", 6.0)]
    else:
        values = [height, width, opts.get("crop_h", 0), opts.get("crop_w", 0),
                  opts.get("target_height", height), opts.get("target_width", width)]
    emb = timestep_embedding(torch.tensor(values, dtype=torch.float32), 256)  # [n, 256]
    flat = emb.reshape(1, -1).repeat(pooled.shape[0], 1)
    y = torch.cat([pooled.float().reshape(pooled.shape[0], -1), flat], dim=1)
    if y.shape[1] != adm_channels:
        raise ValueError(f"SDXL conditioning vector has {y.shape[1]} values, the model expects {adm_channels}")
    return _to_batch(y, batch)


def _to_batch(t: torch.Tensor, batch: int) -> torch.Tensor:
    if t.shape[0] == batch:
        return t
    reps = math.ceil(batch / t.shape[0])
    return t.repeat(reps, *([1] * (t.ndim - 1)))[:batch]


@dataclass
class _Cond:
    context: torch.Tensor  # [B, T, D]
    y: torch.Tensor | None
    area: tuple | None  # (h, w, y, x) latent units
    weight: torch.Tensor  # [B or 1, 1, h, w] multiplier within the area
    sigma_start: float
    sigma_end: float
    control: object
    uncond: bool


def _feathered(h: int, w: int, area, full_hw, strength: float) -> torch.Tensor:
    """Area weight that ramps up over 8 latent pixels on edges not touching the image border."""
    mult = torch.full((1, 1, h, w), float(strength))
    if area is None:
        return mult
    _, _, top, left = area
    ramp = 8
    for i in range(min(ramp, h)):
        f = (i + 1) / ramp
        if top != 0:
            mult[:, :, i] *= f
        if top + h < full_hw[0]:
            mult[:, :, h - 1 - i] *= f
    for i in range(min(ramp, w)):
        f = (i + 1) / ramp
        if left != 0:
            mult[:, :, :, i] *= f
        if left + w < full_hw[1]:
            mult[:, :, :, w - 1 - i] *= f
    return mult


def _mask_bounds(mask: torch.Tensor):
    nz = torch.nonzero(mask > 0)
    if len(nz) == 0:
        return None
    top, left = nz[:, -2].min().item(), nz[:, -1].min().item()
    bottom, right = nz[:, -2].max().item(), nz[:, -1].max().item()
    return top, left, bottom + 1, right + 1


def prepare_conds(conds, *, uncond: bool, latent_shape, schedule, adm_channels: int | None,
                  device, dtype, vector=None) -> list:
    """Resolve areas, masks, timestep ranges and ADM vectors once, before the step loop.

    ``vector(opts, batch) -> [batch, n]``: the model's own conditioning vector (DiT families,
    core/sampling/flow_conds.py) instead of SDXL's ADM."""
    batch, _, H, W = latent_shape
    out = []
    for context, opts in conds:
        opts = dict(opts)
        area = opts.get("area")
        weight = None
        strength = float(opts.get("strength", 1.0))
        if area is not None and area[0] == "percentage":
            _, h, w, y0, x0 = area
            area = (max(1, round(h * H)), max(1, round(w * W)), round(y0 * H), round(x0 * W))
        mask = opts.get("mask")
        if mask is not None:
            mask = mask.float()
            if mask.ndim == 2:
                mask = mask[None]
            mask = torch.nn.functional.interpolate(mask[:, None], size=(H, W), mode="bilinear",
                                                   align_corners=False)  # [Bm, 1, H, W]
            if mask.shape[0] not in (1, batch):
                mask = _to_batch(mask, batch)
            if opts.get("set_area_to_bounds"):
                bounds = _mask_bounds(mask)
                if bounds is not None:
                    t, l, b, r = bounds
                    area = (b - t, r - l, t, l)
            weight = mask * float(opts.get("mask_strength", 1.0))
        if area is not None:
            h, w, y0, x0 = (int(v) for v in area)
            y0, x0 = min(max(y0, 0), H - 1), min(max(x0, 0), W - 1)
            h, w = max(1, min(h, H - y0)), max(1, min(w, W - x0))
            area = (h, w, y0, x0)
            feather = _feathered(h, w, area, (H, W), strength)
            weight = feather if weight is None else weight[:, :, y0:y0 + h, x0:x0 + w] * feather
        elif weight is None:
            weight = torch.full((1, 1, 1, 1), strength)
        else:
            weight = weight * strength
        if "timestep_start" in opts:  # already sigmas (plugins following ComfyUI's internals)
            s_start, s_end = float(opts["timestep_start"]), float(opts.get("timestep_end", 0.0))
        else:
            s_start = schedule.percent_to_sigma(float(opts.get("start_percent", 0.0)))
            s_end = schedule.percent_to_sigma(float(opts.get("end_percent", 1.0)))
        y = None
        if vector is not None:
            opts["num_tokens"] = context.shape[1]  # its own length: batching may repeat the context
            y = vector(opts, batch).to(device, dtype)
        elif adm_channels:
            y = sdxl_adm(opts, adm_channels, (H, W), batch).to(device, dtype)
        out.append(_Cond(context=_to_batch(context, batch).to(device, dtype), y=y, area=area,
                         weight=weight.to(device, torch.float32), sigma_start=s_start, sigma_end=s_end,
                         control=opts.get("control"), uncond=uncond))
    return out


def _match_tokens(contexts: list) -> list:
    """Repeat contexts to a common token count. Softmax attention over k copies of the same keys is
    unchanged (weights scale by k, then renormalise), so this batching is exact."""
    lengths = {c.shape[1] for c in contexts}
    if len(lengths) == 1:
        return contexts
    target = math.lcm(*lengths)
    return [c.repeat(1, target // c.shape[1], 1) for c in contexts]


@dataclass(frozen=True)
class SkipLayerGuidance:
    """What the SkipLayerGuidance* nodes put in ``model_options["skip_layer_guidance"]``."""

    double_layers: tuple  # joint / double-stream block indices to leave out
    single_layers: tuple  # single-stream block indices (FLUX-style models)
    scale: float
    sigma_start: float  # active while sigma_end <= sigma <= sigma_start
    sigma_end: float
    rescaling_scale: float = 0.0

    def transformer_options(self) -> dict:
        return {"skip_layers": {"double": tuple(self.double_layers), "single": tuple(self.single_layers)}}

    def active(self, sigma: torch.Tensor) -> bool:
        s = float(sigma.reshape(-1)[0])  # one device sync per step, only with SLG set
        return self.scale > 0 and self.sigma_end <= s <= self.sigma_start

    def apply(self, denoised: torch.Tensor, cond: torch.Tensor, cond_skipped: torch.Tensor) -> torch.Tensor:
        """denoised + scale * (cond - cond_skipped), optionally rescaled toward cond's std (ComfyUI's
        ``rescaling_scale``: factor = r * std(cond) / std(out) + (1 - r))."""
        out = denoised + (cond - cond_skipped) * self.scale
        if self.rescaling_scale:
            factor = cond.std() / out.std()
            out = out * (self.rescaling_scale * factor + (1 - self.rescaling_scale))
        return out


def _split_control(control, lo: int, hi: int):
    if control is None:
        return None
    return {k: [None if t is None else t[lo:hi] for t in v] if isinstance(v, list) else v
            for k, v in control.items()}


class WrappedDenoiser:
    """``model_options["model_function_wrapper"]`` (plugins' ``set_model_unet_function_wrapper``) around a
    Denoiser: the wrapper gets ``apply_model(x, sigma, **c) -> denoised`` and ComfyUI's argument dict."""

    def __init__(self, denoiser, wrapper):
        self.inner, self.wrapper = denoiser, wrapper

    def _apply(self, input_x, timestep_, c_crossattn=None, y=None, control=None, c_concat=None,
               transformer_options=None, **_):
        extra = {"transformer_options": transformer_options} if transformer_options else {}
        return self.inner(input_x, timestep_, c_crossattn, y=y, control=control, concat=c_concat, **extra)

    def __call__(self, x, sigma, context, y=None, control=None, concat=None, cond_or_uncond=(),
                 transformer_options=None):
        c = {"c_crossattn": context, "y": y, "control": control, "c_concat": concat,
             "transformer_options": dict(transformer_options or {})}
        return self.wrapper(self._apply, {"input": x, "timestep": sigma, "c": c,
                                          "cond_or_uncond": list(cond_or_uncond)})


def _denoise_split(denoiser, x, sigma, context, y, control, concat, cond_or_uncond=(), transformer_options=None):
    """One forward for the whole batch; if the device runs out of memory, halve the batch and retry,
    so cond + uncond (or large batches) still run where only part fits."""
    from core.devices import is_oom

    extra = {"transformer_options": transformer_options} if transformer_options else {}
    try:
        if cond_or_uncond and isinstance(denoiser, WrappedDenoiser):
            return denoiser(x, sigma, context, y=y, control=control, concat=concat, cond_or_uncond=cond_or_uncond,
                            **extra)
        return denoiser(x, sigma, context, y=y, control=control, concat=concat, **extra)
    except Exception as e:
        if not is_oom(e) or x.shape[0] == 1:
            raise
    half = x.shape[0] // 2
    parts = []
    for lo, hi in ((0, half), (half, x.shape[0])):
        parts.append(_denoise_split(denoiser, x[lo:hi], sigma[lo:hi], context[lo:hi],
                                    None if y is None else y[lo:hi], _split_control(control, lo, hi),
                                    None if concat is None else concat[lo:hi], transformer_options=transformer_options))
    return torch.cat(parts, dim=0)


class CFGDenoiser:
    """``model(x, sigma) -> denoised`` with classifier-free guidance over prepared conditionings."""

    def __init__(self, denoiser, positive: list, negative: list, cfg: float, model_options=None,
                 concat=None, model=None):
        wrapper = (model_options or {}).get("model_function_wrapper")
        self.denoiser = denoiser if wrapper is None else WrappedDenoiser(denoiser, wrapper)
        self.positive = positive
        self.negative = negative
        self.cfg = float(cfg)
        self.model_options = model_options or {}
        self.concat = concat  # [B, 5, H, W] for inpainting U-Nets
        self.model = model
        self._ranged = any(c.sigma_start < 1e8 or c.sigma_end > 0 for c in positive + negative)

    def _calc(self, x, sigma, use_uncond: bool, transformer_options=None):
        """Weighted average of every active entry's denoised estimate, for cond and uncond."""
        B, _, H, W = x.shape
        sets = [self.positive] + ([self.negative] if use_uncond else [])
        # reading sigma back is a device sync: only pay it when some entry has a timestep range
        level = float(sigma.max()) if self._ranged else None
        groups: dict = {}
        for idx, conds in enumerate(sets):
            for c in conds:
                if level is not None and not (c.sigma_end <= level <= c.sigma_start):
                    continue
                groups.setdefault((c.area, id(c.control), c.y is None), []).append((idx, c))
        if len(groups) == 1:
            members = next(iter(groups.values()))
            if [i for i, _ in members] == list(range(len(sets))) and all(c.area is None and c.weight.numel() == 1 for _, c in members):
                # plain prompts: one weighted average is identity
                return self._single_batch(x, sigma, members, transformer_options)
        outs = [torch.zeros_like(x) for _ in sets]
        weights = [torch.full((B, 1, H, W), 1e-37, device=x.device) for _ in sets]
        for (area, _, _), members in groups.items():
            if area is None:
                x_in, sl = x, (slice(None), slice(None), slice(None), slice(None))
            else:
                h, w, y0, x0 = area
                sl = (slice(None), slice(None), slice(y0, y0 + h), slice(x0, x0 + w))
                x_in = x[sl]
            n = len(members)
            xb = x_in.repeat(n, 1, 1, 1)
            sb = sigma.repeat(n)
            ctx = torch.cat(_match_tokens([c.context for _, c in members]), dim=0)
            yb = None if members[0][1].y is None else torch.cat([c.y for _, c in members], dim=0)
            concat = None
            if self.concat is not None:
                concat = self.concat[sl].repeat(n, 1, 1, 1)
            control = None
            if members[0][1].control is not None:
                control = members[0][1].control.get_control(xb, sb, self._cond_context(ctx, yb), n)
            den = _denoise_split(self.denoiser, xb, sb, ctx, yb, control, concat,
                                 [1 if idx else 0 for idx, _ in members], transformer_options)
            for k, (idx, c) in enumerate(members):
                weight = c.weight.expand(B, 1, *x_in.shape[2:]) if c.weight.shape[0] == 1 else c.weight[:, :, :x_in.shape[2], :x_in.shape[3]]
                outs[idx][sl] += den[k * B:(k + 1) * B] * weight
                weights[idx][sl] += weight
        return [o / w for o, w in zip(outs, weights)]

    def _cond_context(self, ctx, yb) -> dict:
        """What a control object sees of the batch; ``model`` lets DiT ControlNets use the main model's
        patch embedding and model sampling."""
        return {"c_crossattn": ctx, "y": yb, "model": self.model}

    def _single_batch(self, x, sigma, members, transformer_options=None):
        """One entry per set, whole image, no mask: the estimates are the batch chunks themselves."""
        n, B = len(members), x.shape[0]
        ctx = torch.cat(_match_tokens([c.context for _, c in members]), dim=0)
        yb = None if members[0][1].y is None else torch.cat([c.y for _, c in members], dim=0)
        xb, sb = x.repeat(n, 1, 1, 1), sigma.repeat(n)
        concat = None if self.concat is None else self.concat.repeat(n, 1, 1, 1)
        control = None
        if members[0][1].control is not None:
            control = members[0][1].control.get_control(xb, sb, self._cond_context(ctx, yb), n)
        den = _denoise_split(self.denoiser, xb, sb, ctx, yb, control, concat, [1 if idx else 0 for idx, _ in members],
                             transformer_options)
        return [den[k * B:(k + 1) * B] for k in range(n)]

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return self._guided(x, sigma, need_uncond=False)[0]

    def denoise_pair(self, x: torch.Tensor, sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(guided D, unconditional D_u) of one call: what CFG++ samplers take (core.sampling.samplers).

        D_u is the negative prompt's own estimate even at cfg 1, where ``__call__`` skips it."""
        return self._guided(x, sigma, need_uncond=True)

    def _guided(self, x, sigma, need_uncond: bool):
        opts = self.model_options
        use_uncond = need_uncond or not (math.isclose(self.cfg, 1.0)
                                         and not opts.get("disable_cfg1_optimization", False))
        results = self._calc(x, sigma, use_uncond)
        for fn in opts.get("sampler_pre_cfg_function", ()):  # plugins: [cond, uncond] -> [cond, uncond]
            results = fn({"conds": [self.positive, self.negative], "conds_out": list(results), "cond_scale": self.cfg,
                          "timestep": sigma, "input": x, "sigma": sigma, "model": self.model, "model_options": opts})
        cond = results[0]
        uncond = results[1] if use_uncond else cond
        if "sampler_cfg_function" in opts:
            args = {"cond": x - cond, "uncond": x - uncond, "cond_scale": self.cfg, "timestep": sigma,
                    "input": x, "sigma": sigma, "cond_denoised": cond, "uncond_denoised": uncond,
                    "model": self.model, "model_options": opts}
            denoised = x - opts["sampler_cfg_function"](args)
        else:
            denoised = uncond + (cond - uncond) * self.cfg
        slg = opts.get("skip_layer_guidance")
        if slg is not None and slg.active(sigma):
            (skipped,) = self._calc(x, sigma, use_uncond=False, transformer_options=slg.transformer_options())
            denoised = slg.apply(denoised, cond, skipped)
        for fn in opts.get("sampler_post_cfg_function", ()):
            denoised = fn({"denoised": denoised, "cond": cond, "uncond": uncond, "model": self.model,
                           "uncond_denoised": uncond, "cond_denoised": cond, "sigma": sigma,
                           "model_options": opts, "input": x})
        return denoised, uncond
