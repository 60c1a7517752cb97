"""The SD1.x style model (T2I-Adapter's StyleAdapter): CLIP vision tokens -> extra prompt tokens.

Released as ``t2iadapter_style_sd14v1``: the CLIP ViT-L/14 vision tower's last hidden state (257 tokens
of 1024) gets ``num_token`` learned style tokens appended; three pre-norm residual attention blocks
(CLIP's, quick-GELU MLP) run over them; the style tokens, layer-normed and projected to the text width
(768), are appended to the prompt's context. Module names equal the file's keys (``transformer_layes``
is the release's spelling); width, tokens, depth and context width come from the shapes, 8 heads from
the release.
"""
from __future__ import annotations

import torch
from torch import nn

HEADS = 8


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)  # CLIP's GELU approximation (Radford et al. 2021)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential()
        self.mlp.add_module("c_fc", nn.Linear(width, 4 * width))
        self.mlp.add_module("gelu", QuickGELU())
        self.mlp.add_module("c_proj", nn.Linear(4 * width, width))
        self.ln_2 = nn.LayerNorm(width)

    def forward(self, x):  # x: [L, N, D] (sequence first, as nn.MultiheadAttention by default)
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class StyleAdapter(nn.Module):
    def __init__(self, width: int = 1024, context_dim: int = 768, heads: int = HEADS, layers: int = 3,
                 num_token: int = 8):
        super().__init__()
        self.num_token = num_token
        self.transformer_layes = nn.Sequential(*[ResidualAttentionBlock(width, heads) for _ in range(layers)])
        self.style_embedding = nn.Parameter(torch.zeros(1, num_token, width))
        self.ln_post = nn.LayerNorm(width)
        self.ln_pre = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.zeros(width, context_dim))

    def forward(self, x):  # x: [N, T, width] CLIP vision last hidden state
        style = self.style_embedding.expand(x.shape[0], -1, -1).to(x.dtype)
        x = self.ln_pre(torch.cat([x, style], dim=1))
        x = self.transformer_layes(x.permute(1, 0, 2)).permute(1, 0, 2)  # [N, L, D] -> [L, N, D] and back
        return self.ln_post(x[:, -self.num_token:]) @ self.proj  # [N, num_token, context_dim]


class StyleModel:
    """STYLE_MODEL: ``get_cond(clip_vision_output)`` gives the extra context tokens [N, tokens, D]."""

    def __init__(self, model: StyleAdapter, name: str = ""):
        self.model, self.name = model, name

    def get_cond(self, clip_vision_output) -> torch.Tensor:
        hidden = clip_vision_output["last_hidden_state"]
        width = self.model.style_embedding.shape[-1]
        if hidden.shape[-1] != width:
            raise ValueError(f"style model {self.name!r} expects CLIP vision features of width {width} "
                             f"(ViT-L/14), got {hidden.shape[-1]}")
        param = self.model.proj
        with torch.inference_mode():
            return self.model(hidden.to(param.device, param.dtype)).float().cpu()


def load_state_dict(sd: dict, name: str = "style model") -> StyleModel:
    if "style_embedding" not in sd:
        hint = " (a FLUX Redux model, which Latentflow does not run)" if "redux_down.weight" in sd else ""
        raise ValueError(f"{name}: not a style model{hint}: no 'style_embedding' among {len(sd)} tensors")
    _, tokens, width = sd["style_embedding"].shape
    layers = len({k.split(".")[1] for k in sd if k.startswith("transformer_layes.")})
    model = StyleAdapter(width, sd["proj"].shape[1], HEADS, layers, tokens)
    missing, unexpected = model.load_state_dict({k: v.float() for k, v in sd.items()}, strict=False)
    if missing or unexpected:
        raise ValueError(f"{name}: style model keys do not match (missing {missing[:3]}, unexpected {unexpected[:3]})")
    return StyleModel(model.eval().requires_grad_(False), name)


def load(path) -> StyleModel:
    from pathlib import Path

    from core.models.weights import load_file

    sd, _ = load_file(path)
    return load_state_dict(sd, Path(path).name)
