"""The T5 v1.1 encoder (FLUX.1's and SD3.5's T5-XXL) in the released single-file key layout.

Module attribute names equal the keys of ``t5xxl_fp16.safetensors`` (transformers' ``T5EncoderModel``
names without its tied ``encoder.embed_tokens`` copy): ``shared.weight``,
``encoder.block.N.layer.0.SelfAttention.{q,k,v,o}.weight``, ``encoder.block.0.layer.0.SelfAttention.
relative_attention_bias.weight``, ``encoder.block.N.layer.1.DenseReluDense.{wi_0,wi_1,wo}.weight``,
``...layer_norm.weight``, ``encoder.final_layer_norm.weight``.

The math is T5's (Raffel et al. 2020, §2.1; v1.1 = gated-GELU feed-forward, untied embeddings):
pre-RMSNorm blocks without biases, attention logits without the 1/sqrt(d) scale, and one learned relative
position bias computed by block 0 and shared by every block. Activations run in the dtype of the input
embeddings while each weight is cast to it when used, as ComfyUI does (text encoders compute in float32
with half-precision weights, which keeps T5's large activations from overflowing in float16).

fp8 files (``t5xxl_fp8_e4m3fn_scaled.safetensors``) store each linear weight as ``float8_e4m3fn`` with a
``<name>.scale_weight`` scalar (real weight = stored * scale) and a ``scaled_fp8`` marker; they are
dequantized once on load into the requested dtype (:func:`dequantize_scaled_fp8`). That doubles the
memory the fp8 file saves, a trade accepted for text encoders, which run once per prompt.
"""
from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class T5Config:
    d_model: int
    d_kv: int
    d_ff: int
    num_layers: int
    num_heads: int
    vocab_size: int = 32128
    num_buckets: int = 32
    max_distance: int = 128
    eps: float = 1e-6

    @property
    def inner_dim(self) -> int:
        return self.d_kv * self.num_heads


# google/t5-v1_1-xxl's published config (the encoder FLUX.1 and SD3.5 use)
T5_XXL = T5Config(d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64)


def _linear(x: torch.Tensor, layer: nn.Linear) -> torch.Tensor:
    return F.linear(x, layer.weight.to(x.dtype))


class T5LayerNorm(nn.Module):
    """RMSNorm without mean subtraction or bias (T5's LayerNorm), variance in float32."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        variance = x.float().pow(2).mean(-1, keepdim=True)
        return self.weight.to(x.dtype) * (x * torch.rsqrt(variance + self.eps)).to(x.dtype)


class T5Attention(nn.Module):
    def __init__(self, config: T5Config, has_relative_bias: bool):
        super().__init__()
        self.config = config
        self.q = nn.Linear(config.d_model, config.inner_dim, bias=False)
        self.k = nn.Linear(config.d_model, config.inner_dim, bias=False)
        self.v = nn.Linear(config.d_model, config.inner_dim, bias=False)
        self.o = nn.Linear(config.inner_dim, config.d_model, bias=False)
        self.relative_attention_bias = (nn.Embedding(config.num_buckets, config.num_heads)
                                        if has_relative_bias else None)

    def position_bias(self, length: int, device, dtype) -> torch.Tensor:
        """[1, heads, T, T] additive logits bias from the bucketed key-minus-query distance."""
        pos = torch.arange(length, device=device)
        buckets = relative_position_bucket(pos[None, :] - pos[:, None], self.config.num_buckets,
                                           self.config.max_distance)
        bias = self.relative_attention_bias.weight.to(dtype)[buckets]  # [T, T, heads]
        return bias.permute(2, 0, 1)[None]

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        h = self.config.num_heads
        # [B, T, inner] -> [B, heads, T, d_kv]
        q, k, v = (_linear(x, proj).view(b, t, h, -1).transpose(1, 2) for proj in (self.q, self.k, self.v))
        # T5 folds the 1/sqrt(d_kv) scale into its initialisation: logits are plain q·k
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=1.0)
        return _linear(o.transpose(1, 2).reshape(b, t, -1), self.o)


class T5LayerSelfAttention(nn.Module):
    def __init__(self, config: T5Config, has_relative_bias: bool):
        super().__init__()
        self.SelfAttention = T5Attention(config, has_relative_bias)
        self.layer_norm = T5LayerNorm(config.d_model, config.eps)

    def forward(self, x, bias):
        return x + self.SelfAttention(self.layer_norm(x), bias)


class T5DenseGatedActDense(nn.Module):
    """v1.1 feed-forward: gelu(x W0) * (x W1), then Wo (Shazeer 2020, GEGLU; tanh-approximated GELU)."""

    def __init__(self, config: T5Config):
        super().__init__()
        self.wi_0 = nn.Linear(config.d_model, config.d_ff, bias=False)
        self.wi_1 = nn.Linear(config.d_model, config.d_ff, bias=False)
        self.wo = nn.Linear(config.d_ff, config.d_model, bias=False)

    def forward(self, x):
        return _linear(F.gelu(_linear(x, self.wi_0), approximate="tanh") * _linear(x, self.wi_1), self.wo)


class T5LayerFF(nn.Module):
    def __init__(self, config: T5Config):
        super().__init__()
        self.DenseReluDense = T5DenseGatedActDense(config)
        self.layer_norm = T5LayerNorm(config.d_model, config.eps)

    def forward(self, x):
        return x + self.DenseReluDense(self.layer_norm(x))


class T5Block(nn.Module):
    def __init__(self, config: T5Config, has_relative_bias: bool):
        super().__init__()
        self.layer = nn.ModuleList([T5LayerSelfAttention(config, has_relative_bias), T5LayerFF(config)])

    def forward(self, x, bias):
        x = self.layer[1](self.layer[0](x, bias))
        if x.dtype == torch.float16:
            # transformers' guard: float16 T5 activations can reach inf; clamp only when they did
            limit = torch.finfo(x.dtype).max - 1000 if torch.isinf(x).any() else torch.finfo(x.dtype).max
            x = x.clamp(-limit, limit)
        return x


class T5Stack(nn.Module):
    def __init__(self, config: T5Config):
        super().__init__()
        self.block = nn.ModuleList([T5Block(config, i == 0) for i in range(config.num_layers)])
        self.final_layer_norm = T5LayerNorm(config.d_model, config.eps)


class T5Encoder(nn.Module):
    """The T5 encoder stack with its token embedding ``shared``."""

    def __init__(self, config: T5Config):
        super().__init__()
        self.config = config
        self.shared = nn.Embedding(config.vocab_size, config.d_model)
        self.encoder = T5Stack(config)

    @property
    def layers(self):
        return self.encoder.block

    def token_embeddings(self, ids: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return self.shared.weight[ids].to(dtype)

    def forward(self, embeds: torch.Tensor, *, layer: int = -1, final_norm: bool = True,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        """Hidden states ``[B, T, d_model]`` after block ``layer`` (negative index; a skip deeper than the
        model falls back to the last block, as ComfyUI's clip skip does), with the final RMSNorm when
        ``final_norm``. ``mask`` ``[B, T]`` (1 = attend) hides padding keys; ComfyUI's FLUX and SD3 use none."""
        n = len(self.layers)
        if not -n <= layer <= -1:
            layer = -1
        stop = n + layer + 1
        x = embeds
        bias = self.layers[0].layer[0].SelfAttention.position_bias(x.shape[1], x.device, x.dtype)
        if mask is not None:
            hide = (mask[:, None, None, :] == 0).to(x.device)
            bias = bias.masked_fill(hide, torch.finfo(x.dtype).min)
        for block in self.layers[:stop]:
            x = block(x, bias)
        return self.encoder.final_layer_norm(x) if final_norm else x


def relative_position_bucket(relative: torch.Tensor, num_buckets: int = 32, max_distance: int = 128) -> torch.Tensor:
    """Bidirectional bucket of each key-minus-query distance (Raffel et al. 2020, §2.1; Mesh TensorFlow's
    rule): half the buckets per direction; in each, exact buckets for distances below a quarter of all
    buckets, then logarithmically wider ones up to ``max_distance``, beyond which all share the last."""
    half = num_buckets // 2
    out = (relative > 0).long() * half
    distance = relative.abs()
    exact = half // 2
    log_ratio = torch.log(distance.float().clamp(min=1) / exact) / math.log(max_distance / exact)
    large = (exact + (log_ratio * (half - exact)).long()).clamp(max=half - 1)
    return out + torch.where(distance < exact, distance, large)


# ---------------------------------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------------------------------
_BLOCK = re.compile(r"^encoder\.block\.(\d+)\.")
# keys real files may carry that the network does not use
IGNORED = ("scaled_fp8", "encoder.embed_tokens.weight")


def is_t5(sd) -> bool:
    return "encoder.block.0.layer.0.SelfAttention.q.weight" in sd and "encoder.final_layer_norm.weight" in sd


def config_from_state_dict(sd) -> T5Config:
    """Sizes from tensor shapes (no prefix). Gated-GELU (v1.1) only: the relu ``wi`` of T5 v1.0 is refused."""
    if "encoder.block.0.layer.1.DenseReluDense.wi_0.weight" not in sd:
        raise ValueError("T5: not a T5 v1.1 encoder (no gated 'DenseReluDense.wi_0' weight; T5 v1.0 files "
                         "with a single 'wi' are not supported)")
    d_ff, d_model = sd["encoder.block.0.layer.1.DenseReluDense.wi_0.weight"].shape
    inner = sd["encoder.block.0.layer.0.SelfAttention.q.weight"].shape[0]
    buckets, heads = sd["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"].shape
    layers = {int(m.group(1)) for k in sd if (m := _BLOCK.match(k))}
    vocab = (sd.get("shared.weight") if "shared.weight" in sd else sd["encoder.embed_tokens.weight"]).shape[0]
    return T5Config(d_model=d_model, d_kv=inner // heads, d_ff=d_ff, num_layers=len(layers), num_heads=heads,
                    vocab_size=vocab, num_buckets=buckets)


def dequantize_scaled_fp8(sd: dict, dtype: torch.dtype) -> dict:
    """``{name: stored.float() * scale_weight}`` in ``dtype`` for every weight with a ``scale_weight``
    sibling; those scales, ``scale_input`` values (ComfyUI ignores them for text encoders) and the marker
    are dropped; other tensors pass through unchanged."""
    out = {}
    for key, value in sd.items():
        if key.endswith((".scale_weight", ".scale_input")):
            continue
        scale_key = key[: -len("weight")] + "scale_weight" if key.endswith(".weight") else None
        if scale_key is not None and scale_key in sd:
            value = (value.float() * sd[scale_key].float()).to(dtype)
        out[key] = value
    return out


def to_module_state_dict(sd: dict, dtype: torch.dtype) -> dict:
    """A file's T5 tensors (no prefix) as :class:`T5Encoder` state-dict entries."""
    sd = dequantize_scaled_fp8(sd, dtype) if any(k.endswith(".scale_weight") for k in sd) else dict(sd)
    if "shared.weight" not in sd and "encoder.embed_tokens.weight" in sd:
        sd["shared.weight"] = sd["encoder.embed_tokens.weight"]  # some exports keep only the tied copy
    for key in IGNORED:
        sd.pop(key, None)
    return sd


def load_t5(sd: dict, *, dtype: torch.dtype, device, where: str = "T5 text encoder") -> T5Encoder:
    """Build on meta and fill from ``sd`` (no prefix; fp16/bf16/fp32 or scaled fp8)."""
    from core.models.building import fill_module, on_meta

    config = config_from_state_dict(sd)
    tensors = to_module_state_dict(sd, dtype)
    model = fill_module(on_meta(lambda: T5Encoder(config)), tensors, "", dtype, device, where, whole=True)
    log.info("%s: T5 encoder, %d layers, width %d, %s", where, config.num_layers, config.d_model, dtype)
    return model.requires_grad_(False)


def build_t5(config: T5Config = T5_XXL, device="meta") -> T5Encoder:
    """The module on ``device`` (``meta``: shapes only, for key manifests)."""
    with torch.device(device):
        return T5Encoder(config).eval().requires_grad_(False)
