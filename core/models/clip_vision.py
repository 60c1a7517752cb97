"""CLIP vision encoders (CLIP_VISION): the image towers used by unCLIP, SDXL revision and IP-Adapters.

Files in ``models/clip_vision/`` hold a transformers ``CLIPVisionModelWithProjection`` state dict
(``vision_model.*`` + ``visual_projection.weight``, as ComfyUI's clip_vision_g / clip_vision_h / ViT-L
files do), optionally under a prefix. The architecture is read from the shapes; what shapes cannot say
is fixed by the released models: 16 heads for widths 1024/1280/1664 (ViT-L/H/bigG), 12 for 768, and
OpenAI's quick-GELU for ViT-L (LAION's H and bigG use GELU). Images are prepared as CLIP was trained:
resized (bicubic, shorter side to the model's size) and centre-cropped, or squashed when ``crop`` is
off, quantised to 8 bits, then normalised with CLIP's mean and std.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

log = logging.getLogger(__name__)

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
PREFIXES = ("", "clip_vision.", "model.", "vision_tower.")
HEADS = {768: 12, 1024: 16, 1280: 16, 1664: 16}


def find_prefix(sd) -> str | None:
    for prefix in PREFIXES:
        if f"{prefix}vision_model.embeddings.patch_embedding.weight" in sd:
            return prefix
    return None


def config_from_state_dict(sd, prefix: str = ""):
    """transformers ``CLIPVisionConfig`` of a vision tower state dict."""
    from transformers import CLIPVisionConfig

    p = prefix + "vision_model."
    hidden, _, patch, _ = sd[p + "embeddings.patch_embedding.weight"].shape
    positions = sd[p + "embeddings.position_embedding.weight"].shape[0]
    side = round((positions - 1) ** 0.5)
    layers = len({k[len(p + "encoder.layers."):].split(".")[0] for k in sd if k.startswith(p + "encoder.layers.")})
    intermediate = sd[p + "encoder.layers.0.mlp.fc1.weight"].shape[0]
    projection = sd[prefix + "visual_projection.weight"].shape[0] if prefix + "visual_projection.weight" in sd else hidden
    heads = HEADS.get(hidden, max(1, hidden // 64))
    # OpenAI's ViT-L/14 (224 and 336) was trained with quick-GELU; LAION's H and bigG with GELU.
    act = "quick_gelu" if hidden == 1024 and layers == 24 else "gelu"
    return CLIPVisionConfig(hidden_size=hidden, intermediate_size=intermediate, num_hidden_layers=layers,
                            num_attention_heads=heads, image_size=side * patch, patch_size=patch,
                            projection_dim=projection, hidden_act=act, layer_norm_eps=1e-5)


def preprocess(image: torch.Tensor, size: int, crop: bool = True) -> torch.Tensor:
    """IMAGE [B, H, W, C] in 0..1 -> normalised pixel values [B, 3, size, size]."""
    import torch.nn.functional as F

    x = image[..., :3].movedim(-1, 1).float()
    if crop:
        scale = size / min(x.shape[-2], x.shape[-1])
        h, w = round(x.shape[-2] * scale), round(x.shape[-1] * scale)
        x = F.interpolate(x, size=(h, w), mode="bicubic", antialias=True, align_corners=False)
        top, left = (h - size) // 2, (w - size) // 2
        x = x[..., top:top + size, left:left + size]
    else:
        x = F.interpolate(x, size=(size, size), mode="bicubic", antialias=True, align_corners=False)
    x = (x.clamp(0, 1) * 255).round() / 255  # CLIP saw 8-bit images
    mean = torch.tensor(CLIP_MEAN, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - mean) / std


@dataclass
class ClipVisionOutput:
    """CLIP_VISION_OUTPUT: what plugins read by attribute or by key, as in ComfyUI."""

    image_embeds: torch.Tensor  # [B, projection_dim]
    last_hidden_state: torch.Tensor  # [B, tokens, hidden]
    penultimate_hidden_states: torch.Tensor  # [B, tokens, hidden]
    image_sizes: list | None = None

    def __getitem__(self, key):
        return getattr(self, key)

    def get(self, key, default=None):
        return getattr(self, key, default)


class ClipVisionHandle:
    """A loaded CLIP vision tower; ``encode_image`` runs it on the compute device."""

    def __init__(self, model, name: str = ""):
        self.model = model
        self.name = name
        self.device = None

    @property
    def image_size(self) -> int:
        return self.model.config.image_size

    def modules(self) -> list:
        return [self.model]

    def encode_image(self, image: torch.Tensor, crop: bool = True) -> ClipVisionOutput:
        from core import devices

        pixels = preprocess(image, self.image_size, crop)
        with devices.manager.activate(self) as handle, torch.inference_mode():
            param = next(handle.model.parameters())
            out = handle.model(pixel_values=pixels.to(param.device, param.dtype), output_hidden_states=True)
        cpu = torch.device("cpu")  # outputs live on the CPU between nodes, like every other tensor
        return ClipVisionOutput(image_embeds=out.image_embeds.to(cpu).float(),
                                last_hidden_state=out.last_hidden_state.to(cpu).float(),
                                penultimate_hidden_states=out.hidden_states[-2].to(cpu).float())

    def __repr__(self) -> str:
        cfg = self.model.config
        return f"ClipVisionHandle({self.name!r}, {cfg.hidden_size}x{cfg.num_hidden_layers}, {cfg.image_size}px)"


def load_state_dict(sd: dict, name: str = "CLIP vision", dtype: torch.dtype | None = None) -> ClipVisionHandle:
    from transformers import CLIPVisionModelWithProjection

    prefix = find_prefix(sd)
    if prefix is None:
        sample = ", ".join(list(sd)[:4])
        raise ValueError(f"{name}: not a CLIP vision model (no 'vision_model.embeddings.patch_embedding.weight'; "
                         f"first keys: {sample})")
    config = config_from_state_dict(sd, prefix)
    with torch.device("meta"):
        model = CLIPVisionModelWithProjection(config)
    weights = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
    weights = {k: v for k, v in weights.items() if not k.endswith("position_ids")}
    if "visual_projection.weight" not in weights:  # a tower saved without its projection: identity
        weights["visual_projection.weight"] = torch.eye(config.hidden_size)
    target = dtype or torch.float32
    missing = set(model.state_dict()) - set(weights)
    if missing:
        raise ValueError(f"{name}: CLIP vision weights missing: {', '.join(sorted(missing)[:5])}")
    model.load_state_dict({k: v.to(target) for k, v in weights.items() if k in model.state_dict()},
                          strict=False, assign=True)
    # position_ids is a non-persistent buffer left on meta by the meta build: give it real values.
    embeddings = model.vision_model.embeddings
    if hasattr(embeddings, "position_ids"):
        embeddings.register_buffer("position_ids", torch.arange(embeddings.num_positions).unsqueeze(0),
                                   persistent=False)
    log.info("%s: CLIP vision %d x %d, %d px, projection %d", name, config.hidden_size, config.num_hidden_layers,
             config.image_size, config.projection_dim)
    return ClipVisionHandle(model.eval().requires_grad_(False), name)


def load(path, dtype: torch.dtype | None = None) -> ClipVisionHandle:
    from pathlib import Path

    from core.models.weights import load_file

    sd, _ = load_file(path)
    return load_state_dict(sd, Path(path).name, dtype)
