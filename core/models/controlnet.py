"""ControlNet (Zhang et al. 2023, "Adding Conditional Control to Text-to-Image Diffusion Models").

A trainable copy of the U-Net encoder and middle block (``unet.UNetEncoder``, the same class) whose
outputs pass through zero-initialised 1×1 convolutions and are added to the U-Net's skip connections and
middle output. The hint image is encoded by ``input_hint_block`` (eight 3×3 convs, three stride-2) to the
latent resolution and added after the first input block. Attribute names equal the released checkpoints
(``control_model.*`` of ControlNet 1.0/1.1, tests/data/reference/checkpoints/controlnet_v11_sd15.json);
diffusers-format files (``controlnet_cond_embedding``, ``down_blocks``...; what SDXL ControlNets ship as)
are renamed on load.

:class:`ControlNetHandle` is the CONTROL_NET value and, bound to a hint, the per-conditioning "control"
object that core.sampling.guidance calls; core/models/control.py has the contract it shares with the
T2I-Adapter's handle. Its residuals are ``{"input": one per input block, "middle": [one]}``.
"""
from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from core.models.building import fill_module, on_meta
from core.models.control import ControlHandle, tile_to_batch
from core.models.t2i_adapter import T2IAdapterHandle, is_t2i_adapter, load_t2i_adapter_module
from core.models.unet import UNetConfig, UNetEncoder
from core.models.weights import load_file


HINT_CHANNELS = (16, 16, 32, 32, 96, 96, 256)  # input_hint_block widths; stride 2 before 32, 96, 256


class ControlNet(UNetEncoder):
    WHAT = "ControlNet"

    def __init__(self, cfg: UNetConfig, hint_channels: int = 3):
        super().__init__(cfg)
        mc = cfg.model_channels
        layers, ch = [], hint_channels
        for i, out in enumerate(HINT_CHANNELS):
            layers += [nn.Conv2d(ch, out, 3, padding=1, stride=2 if i in (2, 4, 6) else 1), nn.SiLU()]
            ch = out
        layers.append(nn.Conv2d(ch, mc, 3, padding=1))  # zero-initialised in training
        self.input_hint_block = nn.Sequential(*layers)  # keys 0, 2, ..., 14 (odd indices are SiLU)
        # one zero-initialised 1x1 conv per input block, on that block's output
        self.zero_convs = nn.ModuleList(nn.Sequential(nn.Conv2d(c, c, 1)) for c in self.input_channels)
        ch = self.input_channels[-1]
        self.middle_block_out = nn.Sequential(nn.Conv2d(ch, ch, 1))

    @property
    def dtype(self) -> torch.dtype:
        return self.middle_block_out[0].weight.dtype

    def encode_hint(self, hint: torch.Tensor) -> torch.Tensor:
        """``[B, 3, 8h, 8w]`` hint -> ``[B, mc, h, w]``; depends on neither x nor t, so once per job."""
        return self.input_hint_block(hint.to(self.dtype))

    def forward(self, x, hint, timesteps, context, y=None, guided=None) -> list:
        """Residuals, one per input block then the middle block: ``[B, C_i, H_i, W_i]`` × (n_input + 1).

        ``guided`` is :meth:`encode_hint` of the hint, when the caller keeps it between steps.
        """
        dtype = self.dtype
        emb = self.embed(timesteps, y, dtype)
        if guided is None:
            guided = self.encode_hint(hint)  # [B, mc, H, W]: the hint at latent resolution
        h, context = x.to(dtype), context.to(dtype)
        outs = []
        for i, (block, zero) in enumerate(zip(self.input_blocks, self.zero_convs)):
            h = block(h, emb, context)
            if i == 0:
                h = h + guided.to(h.dtype)
            outs.append(zero(h))
        h = self.middle_block(h, emb, context)
        outs.append(self.middle_block_out(h))
        return outs


# --- loading ---------------------------------------------------------------------------------------

_RES_FROM_DIFFUSERS = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1",
                       "norm2": "out_layers.0", "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}


def is_diffusers_layout(sd: dict) -> bool:
    return any(k.startswith("controlnet_cond_embedding.") for k in sd)


def diffusers_to_ldm(sd: dict) -> dict:
    """Rename a diffusers ControlNetModel state dict to the LDM ``control_model`` layout (no copies)."""
    nrb = len({m.group(1) for k in sd for m in [re.match(r"down_blocks\.0\.resnets\.(\d+)\.", k)] if m})
    hint_blocks = sorted({int(m.group(1)) for k in sd for m in [re.match(r"controlnet_cond_embedding\.blocks\.(\d+)\.", k)] if m})
    out = {}

    def res(rest: str) -> str:
        head, _, tail = rest.partition(".")
        return _RES_FROM_DIFFUSERS.get(head, head) + ("." + tail if tail else "")

    for key, value in sd.items():
        new = None
        simple = {"conv_in.": "input_blocks.0.0.", "time_embedding.linear_1.": "time_embed.0.",
                  "time_embedding.linear_2.": "time_embed.2.", "add_embedding.linear_1.": "label_emb.0.0.",
                  "add_embedding.linear_2.": "label_emb.0.2.", "controlnet_mid_block.": "middle_block_out.0.",
                  "controlnet_cond_embedding.conv_in.": "input_hint_block.0.",
                  "controlnet_cond_embedding.conv_out.": f"input_hint_block.{2 * (len(hint_blocks) + 1)}."}
        for old, ldm in simple.items():
            if key.startswith(old):
                new = ldm + key[len(old):]
                break
        if new is None and (m := re.match(r"controlnet_cond_embedding\.blocks\.(\d+)\.(.+)", key)):
            new = f"input_hint_block.{2 * (int(m.group(1)) + 1)}.{m.group(2)}"
        elif new is None and (m := re.match(r"controlnet_down_blocks\.(\d+)\.(.+)", key)):
            new = f"zero_convs.{m.group(1)}.0.{m.group(2)}"
        elif new is None and (m := re.match(r"down_blocks\.(\d+)\.(resnets|attentions|downsamplers)\.(\d+)\.(.+)", key)):
            level, kind, i, rest = int(m.group(1)), m.group(2), int(m.group(3)), m.group(4)
            base = 1 + level * (nrb + 1)
            if kind == "resnets":
                new = f"input_blocks.{base + i}.0.{res(rest)}"
            elif kind == "attentions":
                new = f"input_blocks.{base + i}.1.{rest}"
            else:
                new = f"input_blocks.{base + nrb}.0.op.{rest.removeprefix('conv.')}"
        elif new is None and (m := re.match(r"mid_block\.(resnets|attentions)\.(\d+)\.(.+)", key)):
            kind, i, rest = m.groups()
            new = f"middle_block.{2 * int(i)}.{res(rest)}" if kind == "resnets" else f"middle_block.1.{rest}"
        out[new if new is not None else key] = value
    return out


def strip_prefix(sd: dict) -> dict:
    """Only the ControlNet tensors, without ``control_model.`` (ControlNet 1.0 files bundle a whole SD1.5)."""
    if any(k.startswith("control_model.") for k in sd):
        return {k[len("control_model."):]: v for k, v in sd.items() if k.startswith("control_model.")}
    return dict(sd)


def config_from_state_dict(sd: dict) -> tuple[UNetConfig, int]:
    from core.models.detection import detect_unet_config

    shapes = {k: tuple(v.shape) for k, v in sd.items()}
    in_ch = shapes["input_blocks.0.0.weight"][1]
    shapes["out.2.weight"] = (in_ch, 1, 3, 3)  # the detector reads out_channels; a ControlNet has no decoder
    cfg = detect_unet_config(shapes, prefix="")
    return cfg, shapes["input_hint_block.0.weight"][1]


def load_controlnet_module(sd: dict, dtype: torch.dtype | None = None, where: str = "ControlNet") -> ControlNet:
    """A :class:`ControlNet` from an LDM (prefixed or not) or diffusers state dict; keys checked by name and shape."""
    if is_diffusers_layout(sd):
        sd = diffusers_to_ldm(sd)
    sd = strip_prefix(sd)
    if "input_hint_block.0.weight" not in sd or "zero_convs.0.0.weight" not in sd:
        raise ValueError(f"{where}: not a ControlNet (no input_hint_block/zero_convs keys; found e.g. "
                         f"{', '.join(sorted(sd)[:3])})")
    cfg, hint_ch = config_from_state_dict(sd)
    dtype = dtype or next(iter(sd.values())).dtype
    if not dtype.is_floating_point:
        dtype = torch.float32
    # built on meta and filled as every loader does (building.py): keys and shapes checked, extras logged
    module = fill_module(on_meta(lambda: ControlNet(cfg, hint_ch)), sd, "", dtype, "cpu", where, whole=True)
    return module.requires_grad_(False)


# --- the CONTROL_NET value ------------------------------------------------------------------------

class ControlNetHandle(ControlHandle):
    """A loaded ControlNet; :meth:`apply` binds it to a hint (core.models.control has the contract)."""

    def __init__(self, model: ControlNet, name: str = "controlnet"):
        super().__init__(model, name)
        self._hint_cache = None

    def _unbind(self) -> None:
        self._hint_cache = None

    def _guided_for(self, x: torch.Tensor, batched: int, dtype) -> torch.Tensor:
        """``input_hint_block`` of the hint for this batch, kept until the latent size, batch or device changes.

        The hint block (eight convs at pixel resolution) depends on neither x nor sigma: it runs once per
        job rather than per step, on one conditioning's images, and is tiled over the conds (cond+uncond)."""
        key = (x.shape[2], x.shape[3], x.shape[0], batched, x.device, dtype)
        if self._hint_cache is not None and self._hint_cache[0] == key:
            return self._hint_cache[1]
        per_cond = x.shape[0] // max(batched, 1)
        hint = tile_to_batch(self.hint_pixels(x), per_cond, 1).to(x.device, dtype)  # [per_cond, 3, 8h, 8w]
        with torch.no_grad():
            guided = tile_to_batch(self.model.encode_hint(hint), x.shape[0], batched)  # [B, mc, h, w]
        self._hint_cache = (key, guided)
        return guided

    def residuals(self, x: torch.Tensor, sigma: torch.Tensor, cond_context: dict, batched: int) -> dict:
        model = self.model_to(x.device)
        dtype = model.dtype
        s = sigma.reshape(-1, 1, 1, 1).to(x.dtype)
        x_in = x / (s * s + 1).sqrt()  # the VP input the network was trained on (as the U-Net sees it)
        t = self.schedule.timestep(sigma.float()).to(x.device)
        with torch.no_grad():
            outs = model(x_in.to(dtype), None, t, cond_context["c_crossattn"], cond_context.get("y"),
                         guided=self._guided_for(x, batched, dtype))
        return {"input": outs[:-1], "middle": [outs[-1]]}


def load_controlnet(path, dtype: torch.dtype | None = None) -> ControlHandle:
    """The CONTROL_NET value of a file: a ControlNet, or a T2I-Adapter (ControlNetLoader loads both, as
    ComfyUI's does)."""
    path = Path(path)
    sd, _ = load_file(path)
    from core.models.sd3_controlnet import is_sd3_controlnet, load_sd3_controlnet

    if is_sd3_controlnet(sd):
        return load_sd3_controlnet(sd, path, dtype)
    if is_t2i_adapter(sd):
        return T2IAdapterHandle(load_t2i_adapter_module(sd, dtype, where=f"T2I-Adapter {path.name}"), name=path.stem)
    return ControlNetHandle(load_controlnet_module(sd, dtype, where=f"ControlNet {path.name}"), name=path.stem)
