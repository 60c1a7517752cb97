"""GLIGEN: grounded generation with boxes (Li et al. 2023, "GLIGEN: Open-Set Grounded Text-to-Image
Generation"), text-box variant.

A GLIGEN file adds two things to an SD1.x U-Net, in the released key layout:

- ``position_net.*``: the grounding tokenizer. Each box (x1, y1, x2, y2 as fractions of the image) gets a
  Fourier embedding (8 frequencies ``100 ** (k / 8)``, sin and cos of the 4 coordinates, frequency-major:
  64 values) concatenated with the phrase's pooled text embedding, then an MLP (in -> 512 -> 512 -> out)
  gives one grounding token per box (§3.2, eq. 5). Up to 30 boxes; unused slots take the learned null
  features (``null_positive_feature``, ``null_position_feature``).
- ``<block>.fuser.*`` for each transformer block of the U-Net (e.g. ``input_blocks.1.1.transformer_blocks.0``,
  with or without ``model.diffusion_model.``): a gated self-attention layer inserted after the block's
  self-attention (§3.3, eq. 8): the visual tokens attend over themselves plus the projected grounding
  tokens, and the result is added through ``tanh(alpha_attn)``; a feed-forward through ``tanh(alpha_dense)``.

Heads follow the U-Net: 8 heads when the grounding width is 768 (SD1.x), else 64 channels per head.
The U-Net calls fusers through its ``middle_patch`` hook (core/models/attention.py); the sampler batches
the grounding tokens of each conditioning beside its text (core/sampling/guidance.py).
"""
from __future__ import annotations

import logging
import re

import torch
from torch import nn

from core.models.attention import CrossAttention, FeedForward

log = logging.getLogger(__name__)

MAX_OBJECTS = 30
FOURIER_FREQS = 8
UNET_PREFIX = "model.diffusion_model."


def fourier_embedding(boxes: torch.Tensor, num_freqs: int = FOURIER_FREQS, temperature: float = 100.0) -> torch.Tensor:
    """[B, N, 4] -> [B, N, num_freqs * 2 * 4]: for each frequency, sin of the 4 coordinates then cos."""
    freqs = temperature ** (torch.arange(num_freqs, dtype=torch.float32, device=boxes.device) / num_freqs)
    angles = freqs.to(boxes.dtype)[:, None] * boxes[..., None, :]  # [B, N, F, 4]
    return torch.stack([angles.sin(), angles.cos()], dim=-2).flatten(-3)  # [B, N, F*2*4]


class GatedSelfAttentionDense(nn.Module):
    """x + tanh(a_attn) * SelfAttn(LN([x, W o]))[:visual] , then + tanh(a_dense) * FF(LN(x))."""

    def __init__(self, query_dim: int, context_dim: int, heads: int, dim_head: int):
        super().__init__()
        self.linear = nn.Linear(context_dim, query_dim)
        self.attn = CrossAttention(query_dim, None, heads, dim_head)
        self.ff = FeedForward(query_dim)
        self.norm1 = nn.LayerNorm(query_dim)
        self.norm2 = nn.LayerNorm(query_dim)
        self.alpha_attn = nn.Parameter(torch.tensor(0.0))
        self.alpha_dense = nn.Parameter(torch.tensor(0.0))

    def forward(self, x: torch.Tensor, objs: torch.Tensor) -> torch.Tensor:
        visual = x.shape[1]
        tokens = torch.cat([x, self.linear(objs)], dim=1)  # [B, visual + N, C]
        x = x + self.alpha_attn.tanh() * self.attn(self.norm1(tokens))[:, :visual]
        return x + self.alpha_dense.tanh() * self.ff(self.norm2(x))


class PositionNet(nn.Module):
    """Grounding tokens from (box, phrase embedding) pairs; masked slots use the null features."""

    def __init__(self, in_dim: int, out_dim: int, fourier_freqs: int = FOURIER_FREQS):
        super().__init__()
        self.fourier_freqs = fourier_freqs
        position_dim = fourier_freqs * 2 * 4
        self.linears = nn.Sequential(nn.Linear(in_dim + position_dim, 512), nn.SiLU(), nn.Linear(512, 512), nn.SiLU(),
                                     nn.Linear(512, out_dim))
        self.null_positive_feature = nn.Parameter(torch.zeros(in_dim))
        self.null_position_feature = nn.Parameter(torch.zeros(position_dim))

    def forward(self, boxes: torch.Tensor, masks: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
        """boxes [B, N, 4], masks [B, N] (1 = a real box), embeddings [B, N, in_dim] -> [B, N, out_dim]."""
        m = masks[..., None].to(boxes.dtype)
        xyxy = fourier_embedding(boxes, self.fourier_freqs) * m + (1 - m) * self.null_position_feature
        phrases = embeddings * m + (1 - m) * self.null_positive_feature
        return self.linears(torch.cat([phrases, xyxy], dim=-1))


def _block_order(path: str) -> tuple:
    """U-Net execution order of a transformer block path: input blocks, middle, output blocks."""
    part = {"input_blocks": 0, "middle_block": 1, "output_blocks": 2}
    numbers = [int(n) for n in re.findall(r"\d+", path)]
    return (part[path.split(".")[0]], *numbers)


class Gligen(nn.Module):
    """The fusers (one per U-Net transformer block, by block path) and the position net."""

    def __init__(self, fusers: dict, position_net: PositionNet, key_dim: int):
        super().__init__()
        self.paths = sorted(fusers, key=_block_order)
        self.module_list = nn.ModuleList(fusers[p] for p in self.paths)
        self.index = {p: i for i, p in enumerate(self.paths)}
        self.position_net = position_net
        self.key_dim = key_dim
        self.max_objs = MAX_OBJECTS

    def objects(self, params: list | None, latent_hw: tuple, batch: int, device=None, dtype=None) -> torch.Tensor:
        """Grounding tokens [batch, 30, D] for ``params`` = [(pooled [1, key_dim], h, w, y, x)] in latent units
        (GLIGENTextBoxApply's boxes), each box normalised by the latent size; None: no boxes (all null)."""
        h, w = latent_hw
        params = list(params or [])
        if len(params) > self.max_objs:
            log.warning("GLIGEN: %d boxes; the model takes %d, the rest are ignored", len(params), self.max_objs)
            params = params[:self.max_objs]
        param = next(self.position_net.parameters())
        width = self.position_net.null_positive_feature.shape[0]
        boxes = torch.zeros(self.max_objs, 4)
        masks = torch.zeros(self.max_objs)
        embeds = torch.zeros(self.max_objs, width)
        for i, (pooled, bh, bw, by, bx) in enumerate(params):
            pooled = pooled.reshape(-1)
            if pooled.shape[0] != width:
                raise ValueError(f"GLIGEN: the box text's pooled embedding has {pooled.shape[0]} values, the model "
                                 f"takes {width} (the released models: SD1.x's CLIP-L, 768)")
            boxes[i] = torch.tensor([bx / w, by / h, (bx + bw) / w, (by + bh) / h])
            masks[i] = 1.0
            embeds[i] = pooled.float()
        with torch.inference_mode():
            objs = self.position_net(boxes[None].to(param), masks[None].to(param), embeds[None].to(param))
        return objs.repeat(batch, 1, 1).to(device or param.device, dtype or param.dtype)

    def fuse(self, x: torch.Tensor, objs: torch.Tensor, path: str) -> torch.Tensor:
        index = self.index.get(path)
        if index is None:  # a block the file has no fuser for
            return x
        fuser = self.module_list[index]
        dtype = fuser.linear.weight.dtype  # the file's precision may differ from the U-Net's
        return fuser(x.to(dtype), objs.to(x.device, dtype)).to(x.dtype)


class GligenHandle:
    """GLIGEN socket value: the module, moved to the compute device while sampling (``modules()``).
    ``.model`` is the module, as ComfyUI's GLIGEN patcher exposes it."""

    def __init__(self, model: Gligen, name: str = ""):
        self.model = model
        self.name = name
        self.device = None

    def modules(self) -> list:
        return [self.model]

    def __repr__(self) -> str:
        return f"GligenHandle({self.name!r}, {len(self.model.module_list)} fusers, key_dim {self.model.key_dim})"


class GligenPatch:
    """The U-Net's ``middle_patch`` for one batched call: every item's grounding tokens [B, 30, D]."""

    def __init__(self, gligen: Gligen, objs: torch.Tensor):
        self.gligen, self.objs = gligen, objs

    def __call__(self, x: torch.Tensor, extra_options: dict) -> torch.Tensor:
        return self.gligen.fuse(x, self.objs, extra_options["path"])

    def sliced(self, lo: int, hi: int) -> "GligenPatch":
        return GligenPatch(self.gligen, self.objs[lo:hi])


def _heads(query_dim: int, key_dim: int) -> tuple[int, int]:
    if key_dim == 768:  # SD1.x: 8 heads at every width
        return 8, query_dim // 8
    return max(1, query_dim // 64), min(64, query_dim)


def load_state_dict(sd: dict, name: str = "GLIGEN", dtype: torch.dtype | None = None) -> GligenHandle:
    """A GLIGEN from its state dict (fusers under the U-Net's block paths, ``position_net.*``)."""
    dtype = dtype or torch.float32
    groups: dict = {}
    for key, value in sd.items():
        if ".fuser." not in key:
            continue
        path, rest = key.split(".fuser.", 1)
        if path.startswith(UNET_PREFIX):
            path = path[len(UNET_PREFIX):]
        if path.split(".")[0] not in ("input_blocks", "middle_block", "output_blocks"):
            raise ValueError(f"{name}: fuser under an unknown block {path!r}")
        groups.setdefault(path, {})[rest] = value
    position = {k.split("position_net.", 1)[1]: v for k, v in sd.items()
                if k.startswith("position_net.") or k.startswith(UNET_PREFIX + "position_net.")}
    if not groups or "null_positive_feature" not in position:
        sample = ", ".join(list(sd)[:4])
        raise ValueError(f"{name}: not a GLIGEN file (expected '*.fuser.*' and 'position_net.*' keys; "
                         f"first keys: {sample})")
    in_dim = position["null_positive_feature"].shape[0]
    out_dim = position["linears.4.weight"].shape[0]
    fusers = {}
    key_dim = None
    for path, weights in groups.items():
        if "linear.weight" not in weights:
            raise ValueError(f"{name}: fuser of {path} has no 'linear.weight'")
        query_dim, key_dim = weights["linear.weight"].shape
        heads, dim_head = _heads(query_dim, key_dim)
        with torch.device("meta"):
            fuser = GatedSelfAttentionDense(query_dim, key_dim, heads, dim_head)
        _fill(fuser, weights, f"{name} ({path}.fuser)", dtype)
        fusers[path] = fuser
    with torch.device("meta"):
        net = PositionNet(in_dim, out_dim)
    _fill(net, position, f"{name} (position_net)", dtype)
    gligen = Gligen(fusers, net, key_dim)
    log.info("%s: GLIGEN with %d fusers, grounding width %d", name, len(fusers), key_dim)
    return GligenHandle(gligen.eval().requires_grad_(False), name)


def _fill(module: nn.Module, weights: dict, where: str, dtype) -> None:
    expected = module.state_dict()
    missing = sorted(set(expected) - set(weights))
    if missing:
        raise ValueError(f"{where}: missing weights {', '.join(missing[:5])}")
    for key, ref in expected.items():
        if tuple(weights[key].shape) != tuple(ref.shape):
            raise ValueError(f"{where}: {key} has shape {tuple(weights[key].shape)}, expected {tuple(ref.shape)}")
    module.load_state_dict({k: weights[k].to(dtype) for k in expected}, strict=True, assign=True)


def load(path, dtype: torch.dtype | None = None) -> GligenHandle:
    from pathlib import Path

    from core.models.weights import load_file

    sd, _ = load_file(path)
    return load_state_dict(sd, Path(path).name, dtype)
