"""SD3.5 Large ControlNets (Stability AI's ``sd3.5_large_controlnet_{blur,canny,depth}.safetensors``).

The network (Stability AI's sd3.5 reference, ``dit_embedder.ControlNetEmbedder`` on its "8b" path; diffusers
``SD3ControlNetModel`` with ``use_pos_embed=False, joint_attention_dim=None``):
- image tokens are the main model's own patch embedding plus its cropped position table (the file has no
  patch embedder), the hint latent is patch-embedded by ``pos_embed_input`` and added;
- ``c`` = MLP(timestep) + MLP(pooled text) from the file's own ``time_text_embed``;
- ``N`` image-only transformer blocks in sequence (the MM-DiT's DismantledBlock attending over its own
  tokens), each output projected by ``controlnet_blocks.i`` (zero-initialised Linear in training);
- residual ``i // (depth / N)`` is added to the main model's image tokens after joint block ``i``.

The hint is the VAE latent of the control image (the apply node's ``vae`` input), in the SD3 latent space,
after the image preprocessing the file's ``control_type`` asks for (as ComfyUI: canny ``x * 127.5 + 0.5``,
depth ``1 - x``, blur unchanged; the VAE then maps 0..1 to -1..1).

Key layout: ``control_type`` (0 blur, 1 canny, 2 depth), ``time_text_embed.{timestep,text}_embedder.linear_{1,2}``,
``pos_embed_input.proj``, ``transformer_blocks.N.{adaLN_modulation.1, attn.qkv, attn.proj, mlp.fc1, mlp.fc2}``,
``controlnet_blocks.N``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from core.models.control import ControlHandle, tile_to_batch
from core.models.flux import timestep_embedding
from core.models.mmdit import DismantledBlock, PatchEmbed

CONTROL_TYPES = {0: "blur", 1: "canny", 2: "depth"}


@dataclass(frozen=True)
class SD3ControlNetConfig:
    hidden_size: int = 2432
    num_heads: int = 38
    num_blocks: int = 19
    in_channels: int = 16  # hint latent channels
    patch_size: int = 2
    pooled_dim: int = 2048
    mlp_ratio: float = 4.0


class _Embedder(nn.Module):
    def __init__(self, in_dim: int, dim: int):
        super().__init__()
        self.linear_1 = nn.Linear(in_dim, dim)
        self.linear_2 = nn.Linear(dim, dim)

    def forward(self, x):
        return self.linear_2(F.silu(self.linear_1(x)))


class _TimeTextEmbed(nn.Module):
    def __init__(self, dim: int, pooled_dim: int):
        super().__init__()
        self.timestep_embedder = _Embedder(256, dim)
        self.text_embedder = _Embedder(pooled_dim, dim)

    def forward(self, timesteps, pooled):
        t = self.timestep_embedder(timestep_embedding(timesteps, 256, time_factor=1.0).to(pooled.dtype))
        return t + self.text_embedder(pooled)


class SD3ControlNet(nn.Module):
    def __init__(self, config: SD3ControlNetConfig):
        super().__init__()
        self.config = config
        dim = config.hidden_size
        self.time_text_embed = _TimeTextEmbed(dim, config.pooled_dim)
        self.pos_embed_input = PatchEmbed(config.patch_size, config.in_channels, dim)
        self.transformer_blocks = nn.ModuleList(
            DismantledBlock(dim, config.num_heads, config.mlp_ratio, qkv_bias=True, qk_norm=False)
            for _ in range(config.num_blocks))
        self.controlnet_blocks = nn.ModuleList(nn.Linear(dim, dim) for _ in range(config.num_blocks))

    @property
    def dtype(self) -> torch.dtype:
        return self.controlnet_blocks[0].weight.dtype

    def forward(self, tokens, hint, timesteps, pooled) -> list:
        """tokens [B, L, dim] (the main model's embedded latent), hint [B, C, h, w] latent, timesteps [B]
        in 0..1000, pooled [B, pooled_dim] -> one residual [B, L, dim] per block."""
        c = self.time_text_embed(timesteps, pooled.to(tokens.dtype))
        x = tokens + self.pos_embed_input(hint.to(tokens.dtype))
        out = []
        for block, proj in zip(self.transformer_blocks, self.controlnet_blocks):
            x = block(x, c)
            out.append(proj(x))
        return out


def is_sd3_controlnet(sd) -> bool:
    return "pos_embed_input.proj.weight" in sd and "controlnet_blocks.0.weight" in sd


def config_from_state_dict(sd, where: str) -> SD3ControlNetConfig:
    if "transformer_blocks.0.attn.qkv.weight" not in sd:
        layout = "diffusers-format SD3 ControlNets (transformer_blocks.N.attn.to_q)" \
            if "transformer_blocks.0.attn.to_q.weight" in sd else "this layout"
        raise ValueError(f"{where}: {layout} is not supported; use Stability AI's SD3.5 Large ControlNets "
                         "(sd3.5_large_controlnet_blur/canny/depth.safetensors)")
    t1 = tuple(sd["time_text_embed.text_embedder.linear_1.weight"].shape)
    hidden = tuple(sd["time_text_embed.timestep_embedder.linear_1.weight"].shape)[0]
    if t1[1] == hidden:  # the "2b" kind embeds the main model's embedded y again
        raise ValueError(f"{where}: SD3.5 Medium-style ControlNets (pooled input of width {hidden}) are not "
                         "supported; the SD3.5 Large ControlNets are")
    proj = tuple(sd["pos_embed_input.proj.weight"].shape)
    blocks = {int(m.group(1)) for k in sd for m in [re.match(r"transformer_blocks\.(\d+)\.", k)] if m}
    return SD3ControlNetConfig(hidden_size=hidden, num_heads=hidden // 64, num_blocks=len(blocks),
                               in_channels=proj[1], patch_size=proj[2], pooled_dim=t1[1],
                               mlp_ratio=tuple(sd["transformer_blocks.0.mlp.fc1.weight"].shape)[0] / hidden)


def load_sd3_controlnet_module(sd: dict, dtype: torch.dtype | None = None,
                               where: str = "SD3 ControlNet") -> tuple[SD3ControlNet, str]:
    """(module, control type name) from a state dict; keys checked by name and shape."""
    from core.models.building import fill_module, on_meta

    sd = dict(sd)
    kind = sd.pop("control_type", None)
    kind = CONTROL_TYPES.get(round(float(kind.reshape(-1)[0])), "blur") if kind is not None else "blur"
    cfg = config_from_state_dict(sd, where)
    dtype = dtype or next(iter(sd.values())).dtype
    module = fill_module(on_meta(lambda: SD3ControlNet(cfg)), sd, "", dtype, "cpu", where, whole=True)
    return module.requires_grad_(False), kind


def preprocess(image: torch.Tensor, kind: str) -> torch.Tensor:
    """The control image as the ControlNet was trained to see it (0..1 IMAGE in, what the VAE encodes)."""
    if kind == "canny":
        return image * 255 * 0.5 + 0.5
    if kind == "depth":
        return 1.0 - image
    return image


class SD3ControlNetHandle(ControlHandle):
    """A loaded SD3.5 ControlNet; bound to a hint and a VAE it gives ``{"output": [per joint block]}``."""

    needs_vae = True

    def __init__(self, model: SD3ControlNet, kind: str, name: str = "controlnet"):
        super().__init__(model, name)
        self.kind = kind
        self._hint_cache = None

    def _unbind(self) -> None:
        self._hint_cache = None

    def get_control(self, x, sigma, cond_context: dict, batched: int):
        main = cond_context.get("model")
        if main is not None and getattr(main, "model_sampling", None) is not None:
            self._schedule = main.model_sampling  # percents map through the model's own (shifted) sampling
        return super().get_control(x, sigma, cond_context, batched)

    @property
    def schedule(self):
        if self._schedule is None:
            from core.sampling.model_sampling import default_for_family

            self._schedule = default_for_family("sd3")
        return self._schedule

    def _hint_latent(self, x: torch.Tensor, batched: int, dtype) -> torch.Tensor:
        """The hint's SD3 latent for this batch, kept until the latent size, batch or device changes."""
        key = (x.shape[2], x.shape[3], x.shape[0], batched, x.device, dtype)
        if self._hint_cache is not None and self._hint_cache[0] == key:
            return self._hint_cache[1]
        if self.vae is None:
            raise ValueError(f"SD3 ControlNet {self.name!r}: no VAE to encode the control image with "
                             "(connect the apply node's 'vae' input)")
        from core.models.latent_formats import SD3

        pixels = preprocess(self.hint_pixels(x), self.kind)  # [n, 3, 8h, 8w]
        latent = SD3.process_in(self.vae.encode(pixels.movedim(1, -1)).float())
        per_cond = x.shape[0] // max(batched, 1)
        latent = tile_to_batch(tile_to_batch(latent, per_cond, 1), x.shape[0], batched).to(x.device, dtype)
        self._hint_cache = (key, latent)
        return latent

    def residuals(self, x: torch.Tensor, sigma: torch.Tensor, cond_context: dict, batched: int) -> dict:
        main = cond_context.get("model")
        net = getattr(main, "unet", None)
        if net is None or not hasattr(net, "cropped_pos_embed"):
            raise ValueError(f"SD3 ControlNet {self.name!r} works with SD3/SD3.5 models only")
        model = self.model_to(x.device)
        dtype = model.dtype
        p = net.config.patch_size
        H, W = -(-x.shape[2] // p), -(-x.shape[3] // p)
        hint = self._hint_latent(x, batched, dtype)
        with torch.no_grad():
            xp = F.pad(x, (0, W * p - x.shape[3], 0, H * p - x.shape[2]), mode="circular")
            hp = F.pad(hint, (0, W * p - x.shape[3], 0, H * p - x.shape[2]), mode="circular")
            tokens = net.x_embedder(xp.to(net.x_embedder.proj.weight.dtype)) + net.cropped_pos_embed(H, W)
            y = cond_context.get("y")
            if y is None:
                y = x.new_zeros(x.shape[0], model.config.pooled_dim)
            t = self.schedule.timestep(sigma.float()).to(x.device)
            outs = model(tokens.to(dtype), hp, t, y.to(dtype))
        depth = net.config.depth
        interval = max(depth // len(outs), 1)
        return {"output": [outs[min(i // interval, len(outs) - 1)] for i in range(depth)]}


def load_sd3_controlnet(sd: dict, path: Path, dtype=None) -> SD3ControlNetHandle:
    module, kind = load_sd3_controlnet_module(sd, dtype, where=f"SD3 ControlNet {path.name}")
    return SD3ControlNetHandle(module, kind, name=path.stem)
