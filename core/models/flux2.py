"""FLUX.2's rectified-flow transformer (Black Forest Labs 2025: [dev] 32B, [klein] 4B and 9B), in BFL's key layout.

Module attribute names equal the keys of the released single files (``flux-2-klein-4b.safetensors``,
``flux2_dev_fp8mixed.safetensors``: ``double_blocks.0.img_attn.qkv.weight``, ``double_stream_modulation_img.lin.weight``,
``single_blocks.0.linear1.weight``, ...; manifests in tests/data/reference/checkpoints/flux2_*.json). The key names
are the ones diffusers' ``convert_flux2_transformer_checkpoint_to_diffusers`` reads.

What changed from FLUX.1 (core/models/flux.py, whose rotary and timestep helpers this file reuses):
- no biases anywhere, and no pooled text vector: ``vec`` = MLP(timestep) [+ MLP(guidance) on [dev]];
- modulation is shared: one ``double_stream_modulation_img``/``_txt`` for every double block and one
  ``single_stream_modulation`` for every single block, computed once per call instead of per block;
- MLPs are SwiGLU (Shazeer 2020): the first projection is twice as wide, silu(first half) * second half;
- 4-axis rotary positions (time/reference index, row, column, text position), 32 dims each, theta 2000;
- the latent it sees is already 128 channels: the FLUX.2 VAE patchifies its 32-channel latent 2x2 and
  normalises it (core/models/vae_flux2.py), so the transformer's own patch size is 1.

Reference images (FLUX.2 editing, ComfyUI's ``reference_latents`` / diffusers' ``image_latents``) are appended
to the image tokens with time coordinate 10, 20, ... (diffusers' Flux2Pipeline._prepare_image_ids); only the
tokens of the image being denoised come out.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from core.models.flux import EmbedND, MLPEmbedder as _MLPEmbedder, QKNorm, attention, joint_stream, timestep_embedding

REFERENCE_TIME_STEP = 10  # time coordinate of reference image i is 10 * (i + 1)


@dataclass(frozen=True)
class Flux2Config:
    in_channels: int = 128  # 32 VAE channels x 2x2, patchified by the VAE
    out_channels: int = 128
    context_in_dim: int = 15360  # 3 stacked hidden states of the text encoder (Mistral-Small-3.2: 3 x 5120)
    hidden_size: int = 6144
    mlp_ratio: float = 3.0
    num_heads: int = 48
    depth: int = 8
    depth_single_blocks: int = 48
    axes_dim: tuple = (32, 32, 32, 32)
    theta: int = 2000
    guidance_embed: bool = True  # [dev]: True; [klein]: False
    patch_size: int = 1

    @property
    def mlp_hidden(self) -> int:
        return int(self.hidden_size * self.mlp_ratio)


# Published sizes (diffusers' Flux2Transformer2DModel defaults for [dev]; the klein model cards' transformer
# configs): head size 128 everywhere.
DEV = Flux2Config()
KLEIN_4B = Flux2Config(context_in_dim=7680, hidden_size=3072, num_heads=24, depth=5, depth_single_blocks=20,
                       guidance_embed=False)  # Qwen3-4B: 3 x 2560
KLEIN_9B = Flux2Config(context_in_dim=12288, hidden_size=4096, num_heads=32, depth=8, depth_single_blocks=24,
                       guidance_embed=False)  # Qwen3-8B: 3 x 4096


def MLPEmbedder(in_dim: int, hidden_dim: int) -> nn.Module:
    """FLUX.1's embedder without biases (FLUX.2 has none anywhere)."""
    return _MLPEmbedder(in_dim, hidden_dim, bias=False)


class Modulation(nn.Module):
    """adaLN parameters (shift, scale, gate) x ``sets`` from vec, shared by all blocks of one kind."""

    def __init__(self, dim: int, sets: int):
        super().__init__()
        self.sets = sets
        self.lin = nn.Linear(dim, 3 * sets * dim, bias=False)

    def forward(self, vec):
        out = self.lin(F.silu(vec))[:, None, :].chunk(3 * self.sets, dim=-1)  # each [B, 1, dim]
        return [out[i:i + 3] for i in range(0, 3 * self.sets, 3)]


def swiglu(x: torch.Tensor) -> torch.Tensor:
    """silu(first half) * second half (Shazeer 2020, "GLU variants improve transformer")."""
    gate, value = x.chunk(2, dim=-1)
    return F.silu(gate) * value


class SwiGLU(nn.Module):
    def forward(self, x):
        return swiglu(x)


def _mlp(hidden: int, mlp_hidden: int) -> nn.Sequential:
    # keys img_mlp.0 / img_mlp.2 (index 1 is the parameter-free activation)
    return nn.Sequential(nn.Linear(hidden, 2 * mlp_hidden, bias=False), SwiGLU(),
                         nn.Linear(mlp_hidden, hidden, bias=False))


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=False)
        self.norm = QKNorm(dim // num_heads)
        self.proj = nn.Linear(dim, dim, bias=False)

    def qkv_heads(self, x):
        """[B, L, dim] -> q, k, v [B, H, L, D] with q, k RMS-normalised."""
        B, L, _ = x.shape
        q, k, v = self.qkv(x).reshape(B, L, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k = self.norm(q, k, v)
        return q, k, v


class DoubleStreamBlock(nn.Module):
    def __init__(self, hidden: int, num_heads: int, mlp_hidden: int):
        super().__init__()
        for stream in ("img", "txt"):
            setattr(self, f"{stream}_norm1", nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6))
            setattr(self, f"{stream}_attn", Attention(hidden, num_heads))
            setattr(self, f"{stream}_norm2", nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6))
            setattr(self, f"{stream}_mlp", _mlp(hidden, mlp_hidden))

    def forward(self, img, txt, img_mod, txt_mod, pe, mask=None):
        return joint_stream(self, img, txt, img_mod, txt_mod, pe, mask)


class SingleStreamBlock(nn.Module):
    """Parallel attention + SwiGLU MLP from one fused input projection (Dehghani et al. 2023, ViT-22B)."""

    def __init__(self, hidden: int, num_heads: int, mlp_hidden: int):
        super().__init__()
        self.hidden, self.num_heads, self.mlp_hidden = hidden, num_heads, mlp_hidden
        self.linear1 = nn.Linear(hidden, 3 * hidden + 2 * mlp_hidden, bias=False)  # qkv ++ MLP in (gate, value)
        self.linear2 = nn.Linear(hidden + mlp_hidden, hidden, bias=False)  # attention out ++ MLP out
        self.norm = QKNorm(hidden // num_heads)
        self.pre_norm = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)

    def forward(self, x, mod, pe, mask=None):
        ((shift, scale, gate),) = mod
        qkv, mlp = torch.split(self.linear1((1 + scale) * self.pre_norm(x) + shift),
                               [3 * self.hidden, 2 * self.mlp_hidden], dim=-1)
        B, L, _ = x.shape
        q, k, v = qkv.reshape(B, L, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)  # [B, H, L, D] each
        q, k = self.norm(q, k, v)
        out = self.linear2(torch.cat((attention(q, k, v, pe, mask), swiglu(mlp)), dim=2))
        return x + gate * out


class LastLayer(nn.Module):
    def __init__(self, hidden: int, out_channels: int):
        super().__init__()
        self.norm_final = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(hidden, out_channels, bias=False)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden, 2 * hidden, bias=False))

    def forward(self, x, vec):
        shift, scale = self.adaLN_modulation(vec).chunk(2, dim=1)  # BFL order: shift first
        return self.linear((1 + scale[:, None, :]) * self.norm_final(x) + shift[:, None, :])


def image_ids(h: int, w: int, t: float = 0.0, device=None) -> torch.Tensor:
    """[h*w, 4] positions (t, row, column, 0) of an h x w token grid, row-major."""
    ids = torch.zeros(h, w, 4, device=device, dtype=torch.float32)
    ids[..., 0] = t
    ids[..., 1] = torch.arange(h, device=device, dtype=torch.float32)[:, None]
    ids[..., 2] = torch.arange(w, device=device, dtype=torch.float32)[None, :]
    return ids.reshape(h * w, 4)


def text_ids(n: int, device=None) -> torch.Tensor:
    """[n, 4] positions (0, 0, 0, i) of n text tokens."""
    ids = torch.zeros(n, 4, device=device, dtype=torch.float32)
    ids[:, 3] = torch.arange(n, device=device, dtype=torch.float32)
    return ids


def _per_token(params, ref_params, n_before: int, n_ref: int):
    """Modulation (shift, scale, gate) sets as [B, L, dim]: ``params`` for the first ``n_before`` tokens,
    ``ref_params`` for the ``n_ref`` reference tokens after them."""
    return [tuple(torch.cat((p.expand(-1, n_before, -1), r.expand(-1, n_ref, -1)), dim=1) for p, r in zip(ps, rs))
            for ps, rs in zip(params, ref_params)]


class Flux2(nn.Module):
    # Reference-KV mode (FLUX.2 [klein] 9B KV, the FluxKVCache node; diffusers' Flux2KleinKVPipeline): reference
    # tokens are modulated as at timestep 0 and attend only to each other, while text and image attend to all.
    # Their keys and values then depend on nothing that changes between steps. A view of the network with this
    # set is made by ``with_reference_kv``; the weights stay shared.
    reference_kv = False

    def __init__(self, config: Flux2Config):
        super().__init__()
        if config.hidden_size % config.num_heads:
            raise ValueError(f"FLUX.2: hidden_size {config.hidden_size} is not a multiple of num_heads {config.num_heads}")
        if sum(config.axes_dim) != config.hidden_size // config.num_heads:
            raise ValueError(f"FLUX.2: rotary axes {config.axes_dim} do not add up to the head size "
                             f"{config.hidden_size // config.num_heads}")
        self.config = config
        hidden, heads, mlp = config.hidden_size, config.num_heads, config.mlp_hidden
        self.pe_embedder = EmbedND(config.theta, config.axes_dim)
        self.img_in = nn.Linear(config.in_channels, hidden, bias=False)
        self.txt_in = nn.Linear(config.context_in_dim, hidden, bias=False)
        self.time_in = MLPEmbedder(256, hidden)
        if config.guidance_embed:
            self.guidance_in = MLPEmbedder(256, hidden)
        self.double_stream_modulation_img = Modulation(hidden, sets=2)
        self.double_stream_modulation_txt = Modulation(hidden, sets=2)
        self.single_stream_modulation = Modulation(hidden, sets=1)
        # plain ModuleLists of self-contained blocks: layer streaming (core/models/streaming.py) walks them
        self.double_blocks = nn.ModuleList(DoubleStreamBlock(hidden, heads, mlp) for _ in range(config.depth))
        self.single_blocks = nn.ModuleList(SingleStreamBlock(hidden, heads, mlp)
                                           for _ in range(config.depth_single_blocks))
        self.final_layer = LastLayer(hidden, config.out_channels)

    def with_reference_kv(self) -> "Flux2":
        """This network (the same modules and weights, not a copy) in reference-KV mode."""
        import copy

        view = copy.copy(self)  # shares _modules/_parameters: patches and device moves reach both
        view.__dict__["reference_kv"] = True
        return view

    def _vec(self, timesteps, guidance, dtype):
        vec = self.time_in(timestep_embedding(timesteps, 256).to(dtype))
        if self.config.guidance_embed:
            if guidance is None:
                raise ValueError("FLUX.2 [dev]-type model needs a guidance value (FluxGuidance)")
            vec = vec + self.guidance_in(timestep_embedding(guidance, 256).to(dtype))
        return vec

    def forward_tokens(self, img, img_ids, txt, txt_ids, timesteps, guidance=None, n_ref: int = 0):
        """BFL's forward: img [B, L, in_channels] tokens, txt [B, T, context_in_dim], ids [B, *, 4],
        timesteps and guidance [B] in 0..1 units of sigma / guidance scale. Returns [B, L, out_channels].
        ``n_ref``: the last n_ref image tokens are references (only used in reference-KV mode)."""
        vec = self._vec(timesteps, guidance, img.dtype)
        img_mod = self.double_stream_modulation_img(vec)
        txt_mod = self.double_stream_modulation_txt(vec)
        single_mod = self.single_stream_modulation(vec)
        n_txt, n_img = txt.shape[1], img.shape[1]
        mask = None
        if self.reference_kv and n_ref:
            ref_vec = self._vec(torch.zeros_like(timesteps), guidance, img.dtype)
            img_mod = _per_token(img_mod, self.double_stream_modulation_img(ref_vec), n_img - n_ref, n_ref)
            single_mod = _per_token(single_mod, self.single_stream_modulation(ref_vec), n_txt + n_img - n_ref, n_ref)
            n = n_txt + n_img
            mask = torch.ones(n, n, dtype=torch.bool, device=img.device)
            mask[n - n_ref:, :n - n_ref] = False  # reference queries see reference keys only
        img = self.img_in(img)
        txt = self.txt_in(txt)
        pe = self.pe_embedder(torch.cat((txt_ids, img_ids), dim=1))
        for block in self.double_blocks:
            img, txt = block(img, txt, img_mod, txt_mod, pe, mask)
        x = torch.cat((txt, img), dim=1)
        for block in self.single_blocks:
            x = block(x, single_mod, pe, mask)
        return self.final_layer(x[:, n_txt:], vec)

    def forward(self, x, timesteps, context, y=None, control=None, guidance=None, ref_latents=None, **_):
        """The denoiser's call: latent x [B, 128, h, w] -> velocity [B, 128, h, w].

        ``y`` [B, 1] carries the guidance scale ([dev]; core/sampling/flow_conds.py) unless ``guidance`` is given.
        ``ref_latents``: reference latents [1 or B, 128, h_i, w_i] (edit workflows), each its own time index.
        """
        B, C, h, w = x.shape
        if context.shape[-1] != self.config.context_in_dim:
            raise ValueError(f"FLUX.2: the text conditioning has width {context.shape[-1]}, this model expects "
                             f"{self.config.context_in_dim} (3 stacked hidden states of its text encoder: "
                             "Qwen3-4B for klein 4B, Qwen3-8B for klein 9B, Mistral-Small-3.2 for [dev]; "
                             "load it with CLIPLoader type 'flux2')")
        if C != self.config.in_channels:
            raise ValueError(f"FLUX.2: latent with {C} channels, the model expects {self.config.in_channels} "
                             "(start from EmptyFlux2LatentImage or the FLUX.2 VAE)")
        if guidance is None and y is not None and y.shape[-1] >= 1:
            guidance = y[:, -1]
        img = x.reshape(B, C, h * w).transpose(1, 2)  # [B, h*w, C]: one token per latent pixel
        ids = [image_ids(h, w, 0.0, x.device)]
        for i, ref in enumerate(ref_latents or ()):
            ref = ref.to(x)
            if ref.ndim != 4 or ref.shape[1] != C:
                raise ValueError(f"FLUX.2: reference latent of shape {tuple(ref.shape)} does not fit a "
                                 f"{C}-channel latent (encode it with the FLUX.2 VAE)")
            if ref.shape[0] != B:
                ref = ref[:1].expand(B, -1, -1, -1)
            rh, rw = ref.shape[-2:]
            img = torch.cat((img, ref.reshape(B, C, rh * rw).transpose(1, 2)), dim=1)
            ids.append(image_ids(rh, rw, REFERENCE_TIME_STEP * (i + 1), x.device))
        img_ids = torch.cat(ids, dim=0)[None].expand(B, -1, -1)
        txt_ids = text_ids(context.shape[1], x.device)[None].expand(B, -1, -1)
        # timestep and guidance stay float32: rounded to bf16 first, sigma 0.7 would embed as 0.699
        out = self.forward_tokens(img, img_ids, context, txt_ids, timesteps.float(),
                                  None if guidance is None else guidance.float(), n_ref=img.shape[1] - h * w)
        return out[:, :h * w].transpose(1, 2).reshape(B, -1, h, w)
