"""CLIP text encoders: transformers' CLIP modules, OpenCLIP weights converted on load.

One module, :class:`ClipTextEncoder`, serves all three text towers of SD1/SD2/SDXL:

- CLIP ViT-L/14 (SD1, SDXL encoder 0): released files already use transformers' layout, with a
  ``text_model.`` level that transformers >= 5 no longer has, so that segment is stripped/added here.
- OpenCLIP ViT-H/14 (SD2) and ViT-bigG/14 (SDXL encoder 1): the ``open_clip`` layout
  (``transformer.resblocks.N.attn.in_proj_weight`` ...) is converted to the same transformers modules
  (q/k/v split from ``in_proj``; ``text_projection`` is used as ``x @ P``, i.e. a Linear with weight Pᵀ)
  and converted back by :func:`to_checkpoint` for key listings and weight patches.

The forward pass is ours (``scaled_dot_product_attention`` with a causal mask, Radford et al. 2021,
§2.4 / the GPT-2 block: pre-LayerNorm, residual attention then MLP), so clip skip can stop early and
textual-inversion vectors can be placed into the token embeddings.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

log = logging.getLogger(__name__)

HEAD_DIM = 64  # every released CLIP text tower uses 64-wide heads (L: 12, H: 16, bigG: 20)

HF, OPENCLIP = "hf", "openclip"


@dataclass(frozen=True)
class TextEncoderConfig:
    hidden_size: int
    num_layers: int
    intermediate_size: int
    vocab_size: int = 49408
    max_positions: int = 77
    activation: str = "quick_gelu"  # OpenAI CLIP-L; OpenCLIP H/bigG use exact "gelu"
    projection_dim: int | None = None  # text_projection output width (pooled vector), None = no projection
    layout: str = HF  # which checkpoint layout the weights came from / go back to
    has_logit_scale: bool = False  # OpenCLIP files carry an unused logit_scale scalar; kept for round trips

    @property
    def num_heads(self) -> int:
        # Released towers all have 64-wide heads. Tiny test models (hidden < 64) get one head.
        return max(1, self.hidden_size // HEAD_DIM)


CLIP_L = TextEncoderConfig(hidden_size=768, num_layers=12, intermediate_size=3072)
OPENCLIP_H = TextEncoderConfig(hidden_size=1024, num_layers=24, intermediate_size=4096, activation="gelu",
                               projection_dim=1024, layout=OPENCLIP, has_logit_scale=True)
OPENCLIP_BIGG = TextEncoderConfig(hidden_size=1280, num_layers=32, intermediate_size=5120, activation="gelu",
                                  projection_dim=1280, layout=OPENCLIP, has_logit_scale=True)


class ClipTextEncoder(nn.Module):
    """transformers' CLIPTextModel modules (``self.transformer``) plus an optional text projection."""

    def __init__(self, config: TextEncoderConfig):
        super().__init__()
        from transformers import CLIPTextConfig, CLIPTextModel

        self.config = config
        hf_config = CLIPTextConfig(
            vocab_size=config.vocab_size, hidden_size=config.hidden_size,
            intermediate_size=config.intermediate_size, num_hidden_layers=config.num_layers,
            num_attention_heads=config.num_heads, max_position_embeddings=config.max_positions,
            hidden_act=config.activation, projection_dim=config.projection_dim or config.hidden_size,
        )
        self.transformer = CLIPTextModel(hf_config)
        self.text_projection = (nn.Linear(config.hidden_size, config.projection_dim, bias=False)
                                if config.projection_dim else None)
        if config.has_logit_scale:
            self.register_buffer("logit_scale", torch.zeros(()))

    @property
    def layers(self):
        return self.transformer.encoder.layers

    def token_embeddings(self, ids: torch.Tensor) -> torch.Tensor:
        return self.transformer.embeddings.token_embedding(ids)

    def forward(self, embeds: torch.Tensor, *, layer: int = -1, final_norm: bool = True,
                pooled_index: torch.Tensor | None = None, project: bool = True):
        """Encode token embeddings ``[B, T, C]``.

        ``layer``: negative index of the block whose output is returned (-1 last, -2 penultimate = clip
        skip 2); ``final_norm``: apply the final LayerNorm to that output. ``pooled_index`` ``[B]``: the
        end-of-text positions; then the pooled vector (final layer, final norm, projection unless
        ``project`` is false: FLUX and SD3 take CLIP-L's pooled vector unprojected) is returned too.
        """
        n_layers = len(self.layers)
        if not -n_layers <= layer <= -1:
            layer = -1  # like ComfyUI, a skip deeper than the model falls back to the last layer
        stop = n_layers + layer + 1  # number of blocks whose output we need
        needed = n_layers if pooled_index is not None else stop
        t = embeds.shape[1]
        x = embeds + self.transformer.embeddings.position_embedding.weight[:t].to(embeds.dtype)
        hidden = None
        for i in range(needed):
            x = self._block(self.layers[i], x)
            if i + 1 == stop:
                hidden = x
        norm = self.transformer.final_layer_norm
        hidden = norm(hidden) if final_norm else hidden
        if pooled_index is None:
            return hidden, None
        # The pooled vector always comes from the last block after the final norm, whatever the skip.
        last = hidden if (stop == n_layers and final_norm) else norm(x)
        pooled = last[torch.arange(last.shape[0], device=last.device), pooled_index.to(last.device)]
        if project and self.text_projection is not None:
            pooled = self.text_projection(pooled)
        return hidden, pooled

    @staticmethod
    def _block(block, x: torch.Tensor) -> torch.Tensor:
        attn = block.self_attn
        b, t, c = x.shape
        h = block.layer_norm1(x)
        # [B, T, C] -> [B, heads, T, 64]
        q, k, v = (proj(h).view(b, t, attn.num_heads, -1).transpose(1, 2)
                   for proj in (attn.q_proj, attn.k_proj, attn.v_proj))
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + attn.out_proj(o.transpose(1, 2).reshape(b, t, c))
        return x + block.mlp(block.layer_norm2(x))


# ---------------------------------------------------------------------------------------------------
# Key layouts
# ---------------------------------------------------------------------------------------------------
_RESBLOCK = re.compile(r"^transformer\.resblocks\.(\d+)\.(.+)$")
_OPENCLIP_BLOCK = {  # open_clip block sub-key -> transformers layer sub-key (in_proj handled apart)
    "ln_1.weight": "layer_norm1.weight", "ln_1.bias": "layer_norm1.bias",
    "ln_2.weight": "layer_norm2.weight", "ln_2.bias": "layer_norm2.bias",
    "attn.out_proj.weight": "self_attn.out_proj.weight", "attn.out_proj.bias": "self_attn.out_proj.bias",
    "mlp.c_fc.weight": "mlp.fc1.weight", "mlp.c_fc.bias": "mlp.fc1.bias",
    "mlp.c_proj.weight": "mlp.fc2.weight", "mlp.c_proj.bias": "mlp.fc2.bias",
}
_OPENCLIP_TOP = {
    "token_embedding.weight": "transformer.embeddings.token_embedding.weight",
    "positional_embedding": "transformer.embeddings.position_embedding.weight",
    "ln_final.weight": "transformer.final_layer_norm.weight",
    "ln_final.bias": "transformer.final_layer_norm.bias",
    "logit_scale": "logit_scale",
}
IGNORED_KEYS = ("embeddings.position_ids", "attn_mask")  # optional buffers; we always use arange / causal


def detect_layout(sd: dict) -> str:
    if "positional_embedding" in sd or any(k.startswith("transformer.resblocks.") for k in sd):
        return OPENCLIP
    return HF


def config_from_state_dict(sd: dict, *, activation: str | None = None) -> TextEncoderConfig:
    """Sizes from tensor shapes (either layout, prefix already removed)."""
    layout = detect_layout(sd)
    if layout == OPENCLIP:
        tok = sd["token_embedding.weight"]
        layers = {int(m.group(1)) for k in sd if (m := _RESBLOCK.match(k))}
        proj = sd.get("text_projection")
        return TextEncoderConfig(
            hidden_size=tok.shape[1], vocab_size=tok.shape[0], num_layers=len(layers),
            max_positions=sd["positional_embedding"].shape[0],
            intermediate_size=sd["transformer.resblocks.0.mlp.c_fc.weight"].shape[0],
            activation=activation or "gelu", projection_dim=proj.shape[1] if proj is not None else None,
            layout=OPENCLIP, has_logit_scale="logit_scale" in sd)
    sd = {_strip_text_model(k): v for k, v in sd.items()}
    tok = sd["embeddings.token_embedding.weight"]
    layers = {int(k.split(".")[2]) for k in sd if k.startswith("encoder.layers.")}
    proj = sd.get("text_projection.weight")
    return TextEncoderConfig(
        hidden_size=tok.shape[1], vocab_size=tok.shape[0], num_layers=len(layers),
        max_positions=sd["embeddings.position_embedding.weight"].shape[0],
        intermediate_size=sd["encoder.layers.0.mlp.fc1.weight"].shape[0],
        activation=activation or "quick_gelu", projection_dim=proj.shape[0] if proj is not None else None,
        layout=HF)


def _strip_text_model(key: str) -> str:
    return key[len("text_model."):] if key.startswith("text_model.") else key


def to_module_keys(sd: dict, layout: str) -> dict:
    """Checkpoint-layout tensors (prefix removed) -> :class:`ClipTextEncoder` state-dict names.

    OpenCLIP's fused ``in_proj`` is split into q/k/v views (no copy).
    """
    out: dict = {}
    for key, value in sd.items():
        if key.endswith(IGNORED_KEYS):
            continue
        if layout == HF:
            key = _strip_text_model(key)
            out[key if key.startswith("text_projection") else "transformer." + key] = value
            continue
        if key in _OPENCLIP_TOP:
            out[_OPENCLIP_TOP[key]] = value
        elif key == "text_projection":
            out["text_projection.weight"] = value.t()  # x @ P == Linear(weight=Pᵀ)
        elif m := _RESBLOCK.match(key):
            n, sub = m.groups()
            base = f"transformer.encoder.layers.{n}."
            if sub in ("attn.in_proj_weight", "attn.in_proj_bias"):
                kind = sub.rsplit("_", 1)[1]  # "weight" / "bias"
                for name, part in zip(("q_proj", "k_proj", "v_proj"), value.chunk(3, dim=0)):
                    out[f"{base}self_attn.{name}.{kind}"] = part
            elif sub in _OPENCLIP_BLOCK:
                out[base + _OPENCLIP_BLOCK[sub]] = value
            else:
                out[key] = value  # unknown: reported as unexpected by the loader
        else:
            out[key] = value
    return out


def to_checkpoint(sd: dict, layout: str) -> dict:
    """:class:`ClipTextEncoder` state dict -> released key layout (with ``text_model.`` for HF)."""
    out: dict = {}
    if layout == HF:
        for key, value in sd.items():
            if key.startswith("transformer."):
                out["text_model." + key[len("transformer."):]] = value
            elif key != "logit_scale":
                out[key] = value
        return out
    top = {v: k for k, v in _OPENCLIP_TOP.items()}
    block = {v: k for k, v in _OPENCLIP_BLOCK.items()}
    fused: dict = {}
    for key, value in sd.items():
        if key in top:
            out[top[key]] = value
        elif key == "text_projection.weight":
            out["text_projection"] = value.t().contiguous()  # files (safetensors) need contiguous tensors
        elif key.startswith("transformer.encoder.layers."):
            n, sub = key[len("transformer.encoder.layers."):].split(".", 1)
            if sub.startswith("self_attn.") and sub.split(".")[1] in ("q_proj", "k_proj", "v_proj"):
                proj, kind = sub.split(".")[1:]
                fused.setdefault((n, kind), {})[proj] = value
            else:
                out[f"transformer.resblocks.{n}.{block[sub]}"] = value
    for (n, kind), parts in fused.items():
        out[f"transformer.resblocks.{n}.attn.in_proj_{kind}"] = torch.cat(
            [parts["q_proj"], parts["k_proj"], parts["v_proj"]], dim=0)
    return out


def build_encoder(config: TextEncoderConfig, device="meta") -> ClipTextEncoder:
    """The module with uninitialised (``meta``) or zero-cost parameters on ``device``."""
    with torch.device(device):
        return ClipTextEncoder(config).eval().requires_grad_(False)


def load_encoder(sd: dict, *, dtype=None, device="cpu", activation: str | None = None,
                 where: str = "text encoder") -> ClipTextEncoder:
    """Build on ``meta`` and assign the tensors of ``sd`` (prefix removed, either layout)."""
    config = config_from_state_dict(sd, activation=activation)
    module = build_encoder(config, "meta")
    tensors = to_module_keys(sd, config.layout)
    expected = module.state_dict()
    missing = [k for k in expected if k not in tensors]
    if missing:
        raise ValueError(f"{where}: {len(missing)} weights missing, e.g. {missing[:3]}")
    unexpected = [k for k in tensors if k not in expected]
    if unexpected:
        log.warning("%s: %d unexpected weights ignored, e.g. %s", where, len(unexpected), unexpected[:3])
    assigned = {}
    for key, ref in expected.items():
        value = tensors[key]
        if tuple(value.shape) != tuple(ref.shape):
            raise ValueError(f"{where}: weight {key} has shape {tuple(value.shape)}, expected {tuple(ref.shape)}")
        target_dtype = dtype if (dtype is not None and value.is_floating_point()) else value.dtype
        assigned[key] = value.to(device=device, dtype=target_dtype)
    module.load_state_dict(assigned, assign=True)
    # transformers' non-persistent position_ids buffer is not in any file; rebuild it off meta.
    embeddings = module.transformer.embeddings
    embeddings.position_ids = torch.arange(config.max_positions, device=device)[None]
    return module.eval().requires_grad_(False)
