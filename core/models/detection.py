"""Which model a state dict holds: family and hyperparameters read from its keys and shapes.

Works on any mapping ``key -> tensor`` (real, meta or lazily loaded) or ``key -> shape``; no weights
are read except for the SD2 v-prediction rule below.

SD2 eps vs v (a file does not say which): in order,
1. an explicit hint: safetensors metadata ``modelspec.prediction_type`` / ``prediction_type``
   (``v``/``v_prediction``/``epsilon``), kohya's ``ss_v_parameterization``, or a ``v_pred`` key in
   the state dict, or ``parameterization: "v"`` in a yaml config beside the file;
2. otherwise ComfyUI's weight statistic: the v-prediction releases (2.0-v, 2.1-v 768) have a
   population std > 0.09 of ``output_blocks.11.1.transformer_blocks.0.norm1.bias`` (the last output
   block's first LayerNorm bias), the eps releases (2.0/2.1-base 512) do not. Inpainting
   (9 input channels) SD2 models are eps.

InstructPix2Pix U-Nets (any family) have 8 input channels: ``extra["ip2p"]``. SD2 unCLIP checkpoints
(sd21-unclip-h/-l) are SD2 U-Nets with a vector input of twice the CLIP image-embedding width:
``extra["unclip"] = {"embed_dim": ...}``.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from core.models.unet import UNetConfig
# VAE layouts are read in vae.py; re-exported here for the callers that look for them beside the U-Net rules
from core.models.vae import VAE_PREFIXES, detect_vae_config, vae_prefix  # noqa: F401

UNET_PREFIXES = ("model.diffusion_model.", "")
V_PRED_STD_THRESHOLD = 0.09


FLUX_PREFIXES = ("model.diffusion_model.", "")
ZIMAGE_PREFIXES = ("model.diffusion_model.", "")
UNCLIP_PREFIXES = ("embedder.model.visual.", "noise_augmentor.")
UNCLIP_VISION_PREFIX = "embedder.model.visual."


class DetectionError(ValueError):
    """The state dict is not a model we know; the message says what was found."""


@dataclass
class ModelConfig:
    """What MODEL.config carries (docs/contracts.md)."""

    family: str  # "sd1" | "sd2" | "sdxl" | "sdxl_refiner" | "sd3" | "flux" | "flux_schnell" | "flux2" | "z_image"
    prediction: str  # "eps" | "v" | "flow"
    unet: UNetConfig  # for DiT families their network config (FluxConfig)
    in_channels: int = 4
    adm_in_channels: int | None = None
    inpaint: bool = False
    text_encoders: tuple = ()  # "clip_l", "openclip_h", "openclip_g" present in the file
    extra: dict = field(default_factory=dict)

    def __getitem__(self, key):  # ComfyUI-style plugins read model configs like dicts
        return getattr(self, key)


def _shape(value) -> tuple:
    return tuple(value.shape) if hasattr(value, "shape") else tuple(value)


def unet_prefix(sd) -> str | None:
    for prefix in UNET_PREFIXES:
        if f"{prefix}input_blocks.0.0.weight" in sd and f"{prefix}out.2.weight" in sd:
            return prefix
    return None


def _count(sd, pattern: str) -> set:
    rx = re.compile(pattern)
    return {m.group(1) for k in sd for m in [rx.match(k)] if m}


def _unet_index(sd, prefix: str) -> tuple[set, set, dict]:
    """One pass over the keys under ``prefix``: input and output block numbers, and the transformer depth
    of every block (``"input_blocks.4"``, ``"middle_block"`` -> count of ``<block>.1.transformer_blocks.N``)."""
    n_in, n_out, depths = set(), set(), {}
    start = len(prefix)
    for key in sd:
        if not key.startswith(prefix):
            continue
        parts = key[start:].split(".", 6)
        if len(parts) < 3:
            continue
        head = parts[0]
        if head == "input_blocks" or head == "output_blocks":
            (n_in if head == "input_blocks" else n_out).add(parts[1])
            block, rest = f"{head}.{parts[1]}", parts[2:]
        elif head == "middle_block":
            block, rest = head, parts[1:]
        else:
            continue
        if len(rest) > 2 and rest[0] == "1" and rest[1] == "transformer_blocks":
            depths.setdefault(block, set()).add(rest[2])
    return n_in, n_out, {block: len(ids) for block, ids in depths.items()}


def detect_unet_config(sd, prefix: str = "model.diffusion_model.") -> UNetConfig:
    """U-Net hyperparameters from keys under ``prefix``."""
    conv_in = _shape(sd[f"{prefix}input_blocks.0.0.weight"])
    model_channels, in_channels = conv_in[0], conv_in[1]
    out_channels = _shape(sd[f"{prefix}out.2.weight"])[0]
    in_ids, out_ids, depths = _unet_index(sd, prefix)
    n_in, n_out = len(in_ids), len(out_ids)

    def depth(block: str) -> int:
        return depths.get(block, 0)

    channel_mult, num_res_blocks, depth_in = [], [], []
    count = 0
    for i in range(1, n_in):
        if f"{prefix}input_blocks.{i}.0.op.weight" in sd:  # Downsample closes a level
            num_res_blocks.append(count)
            count = 0
            continue
        out_ch = _shape(sd[f"{prefix}input_blocks.{i}.0.in_layers.2.weight"])[0]
        if count == 0:
            channel_mult.append(out_ch // model_channels)
        count += 1
        depth_in.append(depth(f"input_blocks.{i}"))
    num_res_blocks.append(count)
    depth_out = [depth(f"output_blocks.{i}") for i in range(n_out)]
    depth_mid = depth("middle_block")

    context_dim, linear = None, False
    for k in sd:
        if k.startswith(prefix) and k.endswith("attn2.to_k.weight"):
            context_dim = _shape(sd[k])[1]
            break
    for k in sd:
        if k.startswith(prefix) and k.endswith(".proj_in.weight"):
            linear = len(_shape(sd[k])) == 2
            break
    adm = f"{prefix}label_emb.0.0.weight"
    adm_in = _shape(sd[adm])[1] if adm in sd else None
    # SD1.x: 8 heads at every width; SD2.x and SDXL: 64 channels per head
    if not linear and adm_in is None:
        heads, head_channels = 8, -1
    else:
        heads, head_channels = -1, 64
    return UNetConfig(in_channels=in_channels, out_channels=out_channels, model_channels=model_channels,
                      channel_mult=tuple(channel_mult), num_res_blocks=tuple(num_res_blocks),
                      transformer_depth=tuple(depth_in), transformer_depth_middle=depth_mid,
                      transformer_depth_output=tuple(depth_out), context_dim=context_dim or 768,
                      num_heads=heads, num_head_channels=head_channels, use_linear_in_transformer=linear,
                      adm_in_channels=adm_in)


def _text_encoders(sd) -> tuple:
    found = []
    for prefix, name in (("cond_stage_model.transformer.", "clip_l"), ("conditioner.embedders.0.transformer.", "clip_l"),
                         ("cond_stage_model.model.", "openclip_h"), ("conditioner.embedders.1.model.", "openclip_g"),
                         ("conditioner.embedders.0.model.", "openclip_g"),
                         # DiT single files (FLUX.1, SD3.5) bundle their towers under text_encoders.<name>.
                         ("text_encoders.clip_l.", "clip_l"), ("text_encoders.clip_g.", "clip_g"),
                         ("text_encoders.t5xxl.", "t5xxl")):
        if any(k.startswith(prefix) for k in sd):
            found.append(name)
    return tuple(dict.fromkeys(found))


def _hinted_prediction(sd, metadata: dict | None, path: Path | None) -> str | None:
    meta = {str(k).lower(): str(v).lower() for k, v in (metadata or {}).items()}
    for key in ("modelspec.prediction_type", "prediction_type", "parameterization"):
        value = meta.get(key)
        if value:
            return "v" if value.startswith("v") else "eps"
    if meta.get("ss_v_parameterization") in ("true", "1"):
        return "v"
    if "v_pred" in sd:
        return "v"
    if path is not None:
        yaml_path = Path(path).with_suffix(".yaml")
        if yaml_path.is_file():
            text = yaml_path.read_text(encoding="utf-8", errors="replace")
            m = re.search(r"parameterization:\s*['\"]?(\w+)", text)
            if m:
                return "v" if m.group(1).lower().startswith("v") else "eps"
    return None


def _v_by_statistic(sd, prefix: str, n_out: int) -> bool:
    key = f"{prefix}output_blocks.{n_out - 1}.1.transformer_blocks.0.norm1.bias"
    bias = sd.get(key) if hasattr(sd, "get") else None
    if bias is None or not hasattr(bias, "float") or bias.device.type == "meta":
        return False
    return bool(bias.float().std(unbiased=False) > V_PRED_STD_THRESHOLD)


def flux_prefix(sd) -> str | None:
    for prefix in FLUX_PREFIXES:
        if f"{prefix}double_blocks.0.img_attn.qkv.weight" in sd and f"{prefix}img_in.weight" in sd:
            return prefix
    return None


def detect_flux_config(sd, prefix: str, name: str = "state dict"):
    """FLUX.1 hyperparameters from shapes: widths from the embedders, depths from the block numbers,
    heads from the QK-norm width, [dev] vs [schnell] from the presence of the guidance embedder."""
    from core.models.flux import FluxConfig

    hidden, in_channels = _shape(sd[f"{prefix}img_in.weight"])
    head_dim = _shape(sd[f"{prefix}double_blocks.0.img_attn.norm.query_norm.scale"])[0]
    if hidden % head_dim or head_dim % 32:
        raise DetectionError(f"{name}: FLUX head size {head_dim} (hidden {hidden}) has no rotary split "
                             "(the releases use 128 = 16 + 56 + 56)")
    out_channels = _shape(sd[f"{prefix}final_layer.linear.weight"])[0]
    # extra inputs beside the noisy latent (core/models/flux_fill.py): none, a control image's latent
    # (Canny/Depth: +out_channels) or a masked image's latent and its 8x8-folded mask (Fill: +5*out_channels)
    if in_channels not in (out_channels, 2 * out_channels, 6 * out_channels):
        raise DetectionError(f"{name}: FLUX model with {in_channels} input and {out_channels} output channels "
                             f"(known: {out_channels}; {2 * out_channels} Canny/Depth; {6 * out_channels} Fill)")
    return FluxConfig(
        in_channels=in_channels, out_channels=out_channels,
        vec_in_dim=_shape(sd[f"{prefix}vector_in.in_layer.weight"])[1],
        context_in_dim=_shape(sd[f"{prefix}txt_in.weight"])[1],
        hidden_size=hidden,
        mlp_ratio=_shape(sd[f"{prefix}double_blocks.0.img_mlp.0.weight"])[0] / hidden,
        num_heads=hidden // head_dim,
        depth=len(_count(sd, re.escape(prefix) + r"double_blocks\.(\d+)\.")),
        depth_single_blocks=len(_count(sd, re.escape(prefix) + r"single_blocks\.(\d+)\.")),
        axes_dim=(head_dim // 8, head_dim * 7 // 16, head_dim * 7 // 16),
        qkv_bias=f"{prefix}double_blocks.0.img_attn.qkv.bias" in sd,
        guidance_embed=f"{prefix}guidance_in.in_layer.weight" in sd,
    )


def _detect_flux(sd, prefix: str, name: str) -> ModelConfig:
    cfg = detect_flux_config(sd, prefix, name)
    family = "flux" if cfg.guidance_embed else "flux_schnell"
    return ModelConfig(family=family, prediction="flow", unet=cfg, in_channels=cfg.latent_channels,
                       inpaint=cfg.in_channels == 6 * cfg.out_channels,
                       text_encoders=_text_encoders(sd), extra={"unet_prefix": prefix, "flux": cfg})


def flux2_prefix(sd) -> str | None:
    """FLUX.2 files share FLUX.1's block names; the shared modulation layers are FLUX.2's alone."""
    for prefix in FLUX_PREFIXES:
        if f"{prefix}double_stream_modulation_img.lin.weight" in sd and f"{prefix}img_in.weight" in sd:
            return prefix
    return None


MMDIT_PREFIXES = ("model.diffusion_model.", "")
SD3_TEXT_ENCODER_PREFIXES = (("text_encoders.clip_l.", "clip_l"), ("text_encoders.clip_g.", "clip_g"),
                         ("text_encoders.t5xxl.", "t5xxl"))


def mmdit_prefix(sd) -> str | None:
    for prefix in MMDIT_PREFIXES:
        if f"{prefix}joint_blocks.0.x_block.attn.qkv.weight" in sd and f"{prefix}x_embedder.proj.weight" in sd:
            return prefix
    return None


def detect_flux2_config(sd, prefix: str, name: str = "state dict"):
    """FLUX.2 hyperparameters from shapes: widths from the embedders, depths from the block numbers, heads from
    the QK-norm width, [dev] vs [klein] from the presence of the guidance embedder."""
    from core.models.flux2 import Flux2Config

    hidden, in_channels = _shape(sd[f"{prefix}img_in.weight"])
    head_dim = _shape(sd[f"{prefix}double_blocks.0.img_attn.norm.query_norm.scale"])[0]
    if hidden % head_dim or head_dim % 8:
        raise DetectionError(f"{name}: FLUX.2 head size {head_dim} (hidden {hidden}) has no 4-axis rotary split "
                             "(the releases use 128 = 4 x 32)")
    return Flux2Config(
        in_channels=in_channels, out_channels=_shape(sd[f"{prefix}final_layer.linear.weight"])[0],
        context_in_dim=_shape(sd[f"{prefix}txt_in.weight"])[1], hidden_size=hidden,
        mlp_ratio=_shape(sd[f"{prefix}double_blocks.0.img_mlp.0.weight"])[0] / 2 / hidden,  # SwiGLU: 2 x mlp hidden
        num_heads=hidden // head_dim,
        depth=len(_count(sd, re.escape(prefix) + r"double_blocks\.(\d+)\.")),
        depth_single_blocks=len(_count(sd, re.escape(prefix) + r"single_blocks\.(\d+)\.")),
        axes_dim=(head_dim // 4,) * 4,
        guidance_embed=f"{prefix}guidance_in.in_layer.weight" in sd,
    )


def _detect_flux2(sd, prefix: str, name: str) -> ModelConfig:
    cfg = detect_flux2_config(sd, prefix, name)
    return ModelConfig(family="flux2", prediction="flow", unet=cfg, in_channels=cfg.in_channels,
                       extra={"unet_prefix": prefix, "flux2": cfg, "variant": "dev" if cfg.guidance_embed else "klein"})


def zimage_prefix(sd) -> str | None:
    """Z-Image's key signature: caption embedder + per-layer adaLN without an activation in front
    (Lumina Image 2.0, the same lineage, has ``adaLN_modulation.1``: SiLU then Linear)."""
    for prefix in ZIMAGE_PREFIXES:
        if f"{prefix}cap_embedder.1.weight" in sd and f"{prefix}x_embedder.weight" in sd:
            return prefix
    return None


def detect_mmdit_config(sd, prefix: str, name: str = "state dict"):
    """SD3 / SD3.5 MM-DiT hyperparameters from shapes, read as Stability AI's reference loader reads them
    (sd3.5 repo, sd3_impls.py): width from ``x_embedder.proj``, depth from the joint block numbers, the
    position table side from ``pos_embed``, q/k RMSNorm from ``ln_q``, MMDiT-X layers from ``x_block.attn2``.
    Every release has 64 channels per head; ``ln_q``'s width says so when present."""
    from core.models.mmdit import MMDiTConfig

    hidden, in_channels, patch, _ = _shape(sd[f"{prefix}x_embedder.proj.weight"])
    blocks = {int(m.group(1)) for k in sd for m in [re.match(re.escape(prefix) + r"joint_blocks\.(\d+)\.", k)] if m}
    depth = max(blocks) + 1
    if blocks != set(range(depth)):
        raise DetectionError(f"{name}: MM-DiT joint blocks {sorted(set(range(depth)) - blocks)} are missing")
    ln_q = sd.get(f"{prefix}joint_blocks.0.x_block.attn.ln_q.weight") if hasattr(sd, "get") else None
    head_dim = _shape(ln_q)[0] if ln_q is not None else 64
    if hidden % head_dim:
        raise DetectionError(f"{name}: MM-DiT width {hidden} is not a multiple of the head size {head_dim}")
    n_pos = _shape(sd[f"{prefix}pos_embed"])[1]
    side = math.isqrt(n_pos)
    if side * side != n_pos:
        raise DetectionError(f"{name}: MM-DiT position table of {n_pos} entries is not square")
    if f"{prefix}register" in sd:
        raise DetectionError(f"{name}: MM-DiT with register tokens (SD3 8B research layout) is not supported")
    out_channels = _shape(sd[f"{prefix}final_layer.linear.weight"])[0] // (patch * patch)
    x_layers = sorted(i for i in blocks if f"{prefix}joint_blocks.{i}.x_block.attn2.qkv.weight" in sd)
    return MMDiTConfig(
        in_channels=in_channels, out_channels=out_channels, patch_size=patch, hidden_size=hidden, depth=depth,
        num_heads=hidden // head_dim,
        mlp_ratio=_shape(sd[f"{prefix}joint_blocks.0.x_block.mlp.fc1.weight"])[0] / hidden,
        context_in_dim=_shape(sd[f"{prefix}context_embedder.weight"])[1],
        pooled_dim=_shape(sd[f"{prefix}y_embedder.mlp.0.weight"])[1],
        pos_embed_max_size=side, qk_norm=ln_q is not None, x_block_self_attn_layers=tuple(x_layers),
        qkv_bias=f"{prefix}joint_blocks.0.x_block.attn.qkv.bias" in sd)


def mmdit_variant(cfg) -> str:
    """Which release the shapes match: the name ComfyUI users know the files by."""
    if cfg.x_block_self_attn_layers:
        return "sd35_medium"
    if cfg.qk_norm:
        return "sd35_large"
    return "sd3_medium"


def _detect_sd3(sd, prefix: str, name: str) -> ModelConfig:
    cfg = detect_mmdit_config(sd, prefix, name)
    encoders = tuple(n for p, n in SD3_TEXT_ENCODER_PREFIXES if any(k.startswith(p) for k in sd))
    return ModelConfig(family="sd3", prediction="flow", unet=cfg, in_channels=cfg.in_channels,
                       text_encoders=encoders,
                       extra={"unet_prefix": prefix, "mmdit": cfg, "variant": mmdit_variant(cfg)})
def detect_zimage_config(sd, prefix: str, name: str = "state dict"):
    """Z-Image hyperparameters from shapes: width from the patch embedder, heads from the QK-norm width,
    depths from the block numbers, caption width from the caption embedder. The released files are
    16-channel (FLUX VAE) latents in 2x2 patches; rotary axes split the head as 1/4, 3/8, 3/8."""
    from core.models.zimage import ZImageConfig

    if f"{prefix}layers.0.adaLN_modulation.0.weight" not in sd:
        raise DetectionError(f"{name}: a Lumina-family DiT that is not Z-Image (no 'layers.0.adaLN_modulation.0.weight'; "
                             "Lumina Image 2.0 / NetaYume files are not supported)")
    dim, patch_features = _shape(sd[f"{prefix}x_embedder.weight"])
    head_dim = _shape(sd[f"{prefix}layers.0.attention.q_norm.weight"])[0]
    qkv_rows = _shape(sd[f"{prefix}layers.0.attention.qkv.weight"])[0]
    if dim % head_dim or head_dim % 16 or qkv_rows != 3 * dim:
        raise DetectionError(f"{name}: Z-Image layout with width {dim}, head size {head_dim} and {qkv_rows} "
                             "fused q/k/v rows is not one we can build (expected 3 x width rows and a head size "
                             "that is a multiple of 16)")
    in_channels = 16
    patch = int(round((patch_features / in_channels) ** 0.5))
    if patch * patch * in_channels != patch_features:
        raise DetectionError(f"{name}: Z-Image patch embedder takes {patch_features} features, not 16 channels "
                             "in square patches")
    return ZImageConfig(
        in_channels=in_channels, dim=dim, patch_size=patch,
        n_layers=len(_count(sd, re.escape(prefix) + r"layers\.(\d+)\.")),
        n_refiner_layers=len(_count(sd, re.escape(prefix) + r"noise_refiner\.(\d+)\.")),
        n_heads=dim // head_dim,
        cap_feat_dim=_shape(sd[f"{prefix}cap_embedder.1.weight"])[1],
        ffn_hidden=_shape(sd[f"{prefix}layers.0.feed_forward.w1.weight"])[0],
        t_hidden=_shape(sd[f"{prefix}t_embedder.mlp.0.weight"])[0],
        axes_dims=(head_dim // 4, head_dim * 3 // 8, head_dim * 3 // 8),
    )


def _detect_zimage(sd, prefix: str, name: str) -> ModelConfig:
    cfg = detect_zimage_config(sd, prefix, name)
    return ModelConfig(family="z_image", prediction="flow", unet=cfg, in_channels=cfg.in_channels,
                       extra={"unet_prefix": prefix, "zimage": cfg})


def qwen_image_prefix(sd) -> str | None:
    """Qwen-Image's MMDiT: the text-input RMS norm and the first block's image modulation (ComfyUI keys on
    ``txt_norm.weight`` alone)."""
    for prefix in FLUX_PREFIXES:
        if f"{prefix}txt_norm.weight" in sd and f"{prefix}transformer_blocks.0.img_mod.1.weight" in sd:
            return prefix
    return None


def detect_qwen_image_config(sd, prefix: str, name: str = "state dict"):
    """Widths from the embedders, heads from the QK-norm width, depth from the block numbers; rotary axes
    split as the release's 16/56/56 of 128 (1:3.5:3.5)."""
    from core.models.qwen_image import QwenImageConfig

    inner, in_channels = _shape(sd[f"{prefix}img_in.weight"])
    head_dim = _shape(sd[f"{prefix}transformer_blocks.0.attn.norm_q.weight"])[0]
    if inner % head_dim or head_dim % 16:
        raise DetectionError(f"{name}: Qwen-Image head size {head_dim} (width {inner}) has no rotary split "
                             "(the release uses 128 = 16 + 56 + 56)")
    out_features = _shape(sd[f"{prefix}proj_out.weight"])[0]
    patch = 2
    return QwenImageConfig(
        patch_size=patch, in_channels=in_channels, out_channels=out_features // (patch * patch),
        num_layers=len(_count(sd, re.escape(prefix) + r"transformer_blocks\.(\d+)\.")),
        attention_head_dim=head_dim, num_attention_heads=inner // head_dim,
        joint_attention_dim=_shape(sd[f"{prefix}txt_in.weight"])[1],
        axes_dims_rope=(head_dim // 8, head_dim * 7 // 16, head_dim * 7 // 16),
    )


def _detect_qwen_image(sd, prefix: str, name: str) -> ModelConfig:
    cfg = detect_qwen_image_config(sd, prefix, name)
    if cfg.in_channels != cfg.out_channels * cfg.patch_size ** 2:
        raise DetectionError(f"{name}: Qwen-Image model with {cfg.in_channels} input and {cfg.out_channels} output "
                             "channels (extra conditioning inputs) is not supported")
    return ModelConfig(family="qwen_image", prediction="flow", unet=cfg, in_channels=cfg.latent_channels,
                       extra={"unet_prefix": prefix, "qwen_image": cfg})


def detect(sd, metadata: dict | None = None, path: Path | None = None, name: str = "state dict") -> ModelConfig:
    """Family, prediction type and network hyperparameters; DetectionError when not a known model."""
    prefix = unet_prefix(sd)
    if prefix is None and flux2_prefix(sd) is not None:  # before FLUX.1: FLUX.2 has its block names too
        return _detect_flux2(sd, flux2_prefix(sd), name)
    if prefix is None and mmdit_prefix(sd) is not None:
        return _detect_sd3(sd, mmdit_prefix(sd), name)
    if prefix is None and zimage_prefix(sd) is not None:
        return _detect_zimage(sd, zimage_prefix(sd), name)
    if prefix is None and flux_prefix(sd) is not None:
        return _detect_flux(sd, flux_prefix(sd), name)
    if prefix is None and qwen_image_prefix(sd) is not None:
        return _detect_qwen_image(sd, qwen_image_prefix(sd), name)
    if prefix is None:
        sample = ", ".join(list(sd)[:5])
        raise DetectionError(f"{name}: no Stable Diffusion U-Net, FLUX or Z-Image transformer found (no "
                             "'model.diffusion_model.input_blocks.0.0.weight', 'input_blocks.0.0.weight', "
                             f"'double_blocks.0.img_attn.qkv.weight' or 'cap_embedder.1.weight'; {len(sd)} tensors, "
                             f"first keys: {sample})")
    unet = detect_unet_config(sd, prefix)
    ctx, adm, linear = unet.context_dim, unet.adm_in_channels, unet.use_linear_in_transformer
    # Structural rules, so tiny test models and fine-tunes of odd sizes classify like the releases:
    # SD1.x projects with 1x1 convs, SD2.x with Linear; SDXL adds the size-conditioning vector, whose
    # width is the pooled text width + 6 x 256 (base) or = context + 5 x 256 (refiner, G only).
    # The refiner rule goes first: the real refiner (context 1280, adm 2560) also satisfies the base rule.
    # SD2 unCLIP: an SD2 U-Net whose vector input is a CLIP image embedding ++ its noise-level embedding
    # (adm 2048 for ViT-H, 1536 for ViT-L); the files carry the image tower and the noise augmentor.
    unclip_keys = any(k.startswith(UNCLIP_PREFIXES) for k in sd)
    unclip = None
    if adm is None:
        family = "sd2" if linear else "sd1"
    elif linear and adm % 2 == 0 and (ctx == 1024 or unclip_keys):
        family, unclip = "sd2", adm // 2
    elif linear and ctx != 1024 and adm == ctx + 1280:
        family = "sdxl_refiner"
    elif linear and ctx != 1024 and adm > 1536 and adm - 1536 < ctx:
        family = "sdxl"
    else:
        raise DetectionError(f"{name}: unknown U-Net (context_dim={ctx}, adm_in_channels={adm}, "
                             f"model_channels={unet.model_channels}, channel_mult={unet.channel_mult}); "
                             "supported: SD1.x (context 768), SD2.x (1024), SD2 unCLIP (1024 + adm 1536/2048), "
                             "SDXL base (2048 + adm 2816), SDXL refiner")
    prediction = "eps"
    if family == "sd2":
        hinted = _hinted_prediction(sd, metadata, path)
        if hinted is not None:
            prediction = hinted
        elif unet.in_channels == 4 and _v_by_statistic(sd, prefix, len(unet.transformer_depth_output)):
            prediction = "v"
    elif "v_pred" in sd or _hinted_prediction({}, metadata, None) == "v":
        prediction = "v"  # v-prediction SDXL fine-tunes mark themselves
    extra = {"unet_prefix": prefix}
    if unclip is not None:
        extra["unclip"] = {"embed_dim": unclip}
    if unet.in_channels == 8:  # InstructPix2Pix: noisy latent ++ the input image's latent
        extra["ip2p"] = True
    return ModelConfig(family=family, prediction=prediction, unet=unet, in_channels=unet.in_channels,
                       adm_in_channels=adm, inpaint=unet.in_channels == 9, text_encoders=_text_encoders(sd),
                       extra=extra)
