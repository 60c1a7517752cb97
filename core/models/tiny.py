"""Test support: seeded random networks in the released key layouts. Not used by the product.

Tests and benchmarks (bench/, which has no tests/ on its path) build their models here; no module of
core/ or nodes/ imports it (tests/foundation/test_import_cycles.py checks).

``write_tiny_checkpoint(path, family)`` writes a .safetensors that every loader treats as the real
thing: the same key names as the released checkpoints (tests/data/reference/checkpoints), U-Net
model_channels 32 with two levels, a 4-level VAE with 32 channels (so latents are still 1/8 of the image
and have 4 channels), and text encoders of width 32 with 2 layers (CLIP in the transformers layout,
OpenCLIP in its own).
Weights are scaled by 1/sqrt(fan_in) so activations stay O(1): outputs are finite and not trivial.
``fill_random(module)`` fills a full-size meta-built network once; ``random_text_encoder_state_dict(config)``
gives a text encoder of any size in its checkpoint layout. ``write_tiny_zimage`` / ``write_tiny_qwen3`` write
Z-Image and Qwen3 files in their released layouts (caption width = Qwen3 width = 32).
"""
from __future__ import annotations

import math
from pathlib import Path

import torch

from core.models.clip import TextEncoderConfig, build_encoder, to_checkpoint
from core.models.unet import UNetConfig, UNetModel
from core.models.vae import AutoencoderKL, VAEConfig
from core.models.weights import save_safetensors

FAMILIES = ("sd15", "sd21v", "sdxl", "sdxl_refiner", "sd15_inpaint", "sd15_ip2p", "sd21_unclip")
IN_CHANNELS = {"sd15_inpaint": 9, "sd15_ip2p": 8}
TEXT_WIDTH = 32
TEXT_LAYERS = 2
VOCAB = 49408
POSITIONS = 77
IMAGE_EMBED = 32  # projection width of the tiny unCLIP checkpoint's image tower


def tiny_unet_config(family: str) -> UNetConfig:
    common = dict(model_channels=32, channel_mult=(1, 2), num_res_blocks=1)
    if family in ("sd15", "sd15_inpaint", "sd15_ip2p"):
        return UNetConfig.from_levels(**common, depth_per_level=(1, 1), depth_middle=1, context_dim=TEXT_WIDTH,
                                      in_channels=IN_CHANNELS.get(family, 4), num_heads=8)
    if family in ("sd21v", "sd21_unclip"):
        # unCLIP: y = the image embedding (width IMAGE_EMBED) ++ its noise-level embedding
        adm = 2 * IMAGE_EMBED if family == "sd21_unclip" else None
        return UNetConfig.from_levels(**common, depth_per_level=(1, 1), depth_middle=1, context_dim=TEXT_WIDTH,
                                      num_heads=-1, num_head_channels=64, use_linear_in_transformer=True,
                                      adm_in_channels=adm)
    if family == "sdxl":
        # context = CLIP-L hidden + OpenCLIP-G hidden; y = G's pooled projection + 6 x 256 size embeddings
        return UNetConfig.from_levels(**common, depth_per_level=(0, 2), depth_middle=2, context_dim=2 * TEXT_WIDTH,
                                      num_heads=-1, num_head_channels=64, use_linear_in_transformer=True,
                                      adm_in_channels=TEXT_WIDTH + 6 * 256)
    if family == "sdxl_refiner":
        # context = OpenCLIP-G hidden only; y = G's pooled projection + 5 x 256 (size, crop, aesthetic score)
        return UNetConfig.from_levels(**common, depth_per_level=(0, 2), depth_middle=2, context_dim=TEXT_WIDTH,
                                      num_heads=-1, num_head_channels=64, use_linear_in_transformer=True,
                                      adm_in_channels=TEXT_WIDTH + 5 * 256)
    raise ValueError(f"tiny checkpoint: unknown family {family!r} (known: {', '.join(FAMILIES)})")


TINY_VAE = VAEConfig(ch=32, ch_mult=(1, 1, 1, 1), num_res_blocks=1)
# FLUX.1 ``ae.safetensors`` / SD3 VAE shape: 16 latent channels, no quant convs, 4 levels (latents 1/8)
TINY_VAE16 = VAEConfig(ch=32, ch_mult=(1, 1, 1, 1), num_res_blocks=1, z_channels=16, embed_dim=16,
                       use_quant_conv=False)


def _init(sd: dict, gen: torch.Generator, norm_bias_std: float = 0.05) -> dict:
    out = {}
    for key, t in sd.items():
        shape = tuple(t.shape)
        if key.endswith("logit_scale"):
            out[key] = torch.tensor(math.log(1 / 0.07))
        elif len(shape) >= 2:
            fan_in = math.prod(shape[1:])
            if "embedding" in key or key.endswith("positional_embedding"):
                fan_in = 1.0 / 0.02 ** 2  # embeddings: std 0.02 as CLIP
            out[key] = torch.randn(shape, generator=gen) / math.sqrt(fan_in)
        elif ("norm" in key or "ln_" in key or "layer_norm" in key) and key.endswith("weight"):
            out[key] = 1.0 + 0.1 * torch.randn(shape, generator=gen)
        elif "norm" in key or "ln_" in key or "layer_norm" in key:
            out[key] = norm_bias_std * torch.randn(shape, generator=gen)
        else:
            out[key] = 0.02 * torch.randn(shape, generator=gen)
    return out


def fill_random(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """``module`` (built on meta) with every tensor filled once from ``seed``: uniform with variance
    1/fan_in (1/50 for vectors), in eval mode without grads. Full-size benches and tests use it: no
    initialiser pass and no second copy of the weights."""
    gen = torch.Generator().manual_seed(seed)
    sd = {}
    for key, t in module.state_dict().items():
        fan_in = t[0].numel() if t.ndim > 1 else 50
        bound = (3.0 / fan_in) ** 0.5
        sd[key] = torch.empty(t.shape).uniform_(-bound, bound, generator=gen)
    module.load_state_dict(sd, strict=True, assign=True)
    return module.eval().requires_grad_(False)


def _meta_state(module_factory) -> dict:
    with torch.device("meta"):
        return module_factory().state_dict()


def _clip_l(prefix: str) -> dict:
    """transformers CLIPTextModel layout, with the ``text_model.`` level that real files have.

    Written by hand (tests check it equals transformers' own key set) so no transformers import is needed.
    """
    w, m = TEXT_WIDTH, 4 * TEXT_WIDTH
    e = torch.empty
    with torch.device("meta"):
        out = {"embeddings.token_embedding.weight": e(VOCAB, w), "embeddings.position_embedding.weight": e(POSITIONS, w),
               "final_layer_norm.weight": e(w), "final_layer_norm.bias": e(w)}
        for i in range(TEXT_LAYERS):
            r = f"encoder.layers.{i}."
            for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
                out[f"{r}self_attn.{proj}.weight"] = e(w, w)
                out[f"{r}self_attn.{proj}.bias"] = e(w)
            out.update({r + "layer_norm1.weight": e(w), r + "layer_norm1.bias": e(w), r + "mlp.fc1.weight": e(m, w),
                        r + "mlp.fc1.bias": e(m), r + "mlp.fc2.weight": e(w, m), r + "mlp.fc2.bias": e(w),
                        r + "layer_norm2.weight": e(w), r + "layer_norm2.bias": e(w)})
    return {prefix + "text_model." + k: v for k, v in out.items()}


def _openclip(prefix: str, projection: int = TEXT_WIDTH) -> dict:
    w, m = TEXT_WIDTH, 4 * TEXT_WIDTH
    e = torch.empty
    with torch.device("meta"):
        out = {"token_embedding.weight": e(VOCAB, w), "positional_embedding": e(POSITIONS, w),
               "ln_final.weight": e(w), "ln_final.bias": e(w), "text_projection": e(w, projection), "logit_scale": e(())}
        for i in range(TEXT_LAYERS):
            r = f"transformer.resblocks.{i}."
            out.update({r + "ln_1.weight": e(w), r + "ln_1.bias": e(w), r + "attn.in_proj_weight": e(3 * w, w),
                        r + "attn.in_proj_bias": e(3 * w), r + "attn.out_proj.weight": e(w, w),
                        r + "attn.out_proj.bias": e(w), r + "ln_2.weight": e(w), r + "ln_2.bias": e(w),
                        r + "mlp.c_fc.weight": e(m, w), r + "mlp.c_fc.bias": e(m), r + "mlp.c_proj.weight": e(w, m),
                        r + "mlp.c_proj.bias": e(w)})
    return {prefix + k: v for k, v in out.items()}


def _openclip_visual(prefix: str, width: int = 64, layers: int = 2, image: int = 32, patch: int = 8,
                     output_dim: int = IMAGE_EMBED) -> dict:
    """An OpenCLIP image tower (what unCLIP checkpoints carry under ``embedder.model.visual.``)."""
    w, m = width, 4 * width
    e = torch.empty
    with torch.device("meta"):
        out = {"conv1.weight": e(w, 3, patch, patch), "class_embedding": e(w),
               "positional_embedding": e((image // patch) ** 2 + 1, w), "ln_pre.weight": e(w), "ln_pre.bias": e(w),
               "ln_post.weight": e(w), "ln_post.bias": e(w), "proj": e(w, output_dim)}
        for i in range(layers):
            r = f"transformer.resblocks.{i}."
            out.update({r + "ln_1.weight": e(w), r + "ln_1.bias": e(w), r + "attn.in_proj_weight": e(3 * w, w),
                        r + "attn.in_proj_bias": e(3 * w), r + "attn.out_proj.weight": e(w, w),
                        r + "attn.out_proj.bias": e(w), r + "ln_2.weight": e(w), r + "ln_2.bias": e(w),
                        r + "mlp.c_fc.weight": e(m, w), r + "mlp.c_fc.bias": e(m), r + "mlp.c_proj.weight": e(w, m),
                        r + "mlp.c_proj.bias": e(w)})
    return {prefix + k: v for k, v in out.items()}


def tiny_state_dict(family: str = "sd15", seed: int = 0) -> tuple[dict, dict]:
    """(state dict, safetensors metadata) of a tiny checkpoint of ``family``."""
    cfg = tiny_unet_config(family)
    gen = torch.Generator().manual_seed(seed)
    shapes = {"model.diffusion_model." + k: v for k, v in _meta_state(lambda: UNetModel(cfg)).items()}
    shapes.update({"first_stage_model." + k: v for k, v in _meta_state(lambda: AutoencoderKL(TINY_VAE)).items()})
    metadata = {"latentflow.tiny": family}
    if family in ("sd15", "sd15_inpaint", "sd15_ip2p"):
        shapes.update(_clip_l("cond_stage_model.transformer."))
    elif family in ("sd21v", "sd21_unclip"):
        shapes.update(_openclip("cond_stage_model.model."))
        metadata["modelspec.prediction_type"] = "v"
        if family == "sd21_unclip":
            shapes.update(_openclip_visual("embedder.model.visual."))
    elif family == "sdxl_refiner":  # the refiner carries OpenCLIP-G alone, as embedder 0
        shapes.update(_openclip("conditioner.embedders.0.model."))
    else:
        shapes.update(_clip_l("conditioner.embedders.0.transformer."))
        shapes.update(_openclip("conditioner.embedders.1.model."))
    sd = _init(shapes, gen)
    if family == "sd21v":
        # the weight statistic detection falls back to when a file carries no hint (detection.py)
        n_out = len(cfg.transformer_depth_output)
        key = f"model.diffusion_model.output_blocks.{n_out - 1}.1.transformer_blocks.0.norm1.bias"
        sd[key] = 0.3 * torch.randn(sd[key].shape, generator=gen)
    if family == "sd21_unclip":  # the noise augmentor's schedule buffers, which loaders ignore
        sd["noise_augmentor.alphas_cumprod"] = torch.ones(1000)
    if family == "sd15":
        # optional keys real files carry; loaders must ignore them
        sd["alphas_cumprod"] = torch.cumprod(1 - torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000) ** 2, 0)
        sd["model_ema.decay"] = torch.tensor(0.9999)
        sd["cond_stage_model.transformer.text_model.embeddings.position_ids"] = torch.arange(POSITIONS)[None]
    return sd, metadata


def write_tiny_checkpoint(path, family: str = "sd15", seed: int = 0) -> Path:
    sd, metadata = tiny_state_dict(family, seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_safetensors(sd, path, metadata)


def tiny_vae16_state_dict(seed: int = 0, config: VAEConfig = TINY_VAE16, prefix: str = "") -> dict:
    """A seeded 16-channel VAE in ``ae.safetensors``' layout (bare keys; ``prefix`` ``vae.`` or
    ``first_stage_model.`` gives the bundled spellings)."""
    shapes = {prefix + k: v for k, v in _meta_state(lambda: AutoencoderKL(config)).items()}
    return _init(shapes, torch.Generator().manual_seed(seed))


def write_tiny_vae16(path, seed: int = 0, config: VAEConfig = TINY_VAE16) -> Path:
    """A tiny FLUX/SD3-style VAE file for the ``vae`` folder (template runs, VAELoader tests)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_safetensors(tiny_vae16_state_dict(seed, config), path)


def tiny_clip_vision_state_dict(projection_dim: int = TEXT_WIDTH, seed: int = 0) -> dict:
    """A tiny transformers ``CLIPVisionModelWithProjection`` (width 64, 2 layers, 32 px, patch 8) with
    seeded weights; its projection width equals the tiny checkpoints' pooled text width, so its image
    embeddings fit an SDXL tiny model's pooled slot (revision)."""
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    config = CLIPVisionConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=1,
                              image_size=32, patch_size=8, projection_dim=projection_dim, hidden_act="gelu",
                              layer_norm_eps=1e-5)
    with torch.device("meta"):
        shapes = CLIPVisionModelWithProjection(config).state_dict()
    shapes = {k: v for k, v in shapes.items() if not k.endswith("position_ids")}
    return _init(shapes, torch.Generator().manual_seed(seed))


def write_tiny_clip_vision(path, projection_dim: int = TEXT_WIDTH, seed: int = 0) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_safetensors(tiny_clip_vision_state_dict(projection_dim, seed), path)


def random_text_encoder_state_dict(config: TextEncoderConfig, *, seed: int = 0, scale: float = 0.1) -> dict:
    """Seeded random text-encoder weights in ``config``'s checkpoint layout (prefix-free), any size."""
    gen = torch.Generator().manual_seed(seed)
    module = build_encoder(config, "meta")
    sd = {}
    for key, ref in module.state_dict().items():
        noise = torch.randn(ref.shape, generator=gen) * scale
        if key == "logit_scale":
            sd[key] = torch.tensor(4.6052)  # log(1 / 0.07), CLIP's initial temperature
        elif "layer_norm" in key and key.endswith("weight"):
            sd[key] = 1.0 + noise  # LayerNorm gains near 1 so activations keep their scale
        else:
            sd[key] = noise
    return to_checkpoint(sd, config.layout)


# --- Qwen-Image (tests/qwen_image) ------------------------------------------------------------------

def tiny_qwen_image_config(**overrides):
    """Qwen-Image's MMDiT at width 64 (2 heads of 32, rotary 4/14/14 as detection splits it), 2 blocks, context width 64 (the tiny Qwen2.5-VL width)."""
    from core.models.qwen_image import QwenImageConfig

    base = dict(num_layers=2, attention_head_dim=32, num_attention_heads=2, joint_attention_dim=64,
                axes_dims_rope=(4, 14, 14))
    base.update(overrides)
    return QwenImageConfig(**base)


def tiny_qwen_image_state_dict(config=None, seed: int = 0) -> dict:
    """Seeded weights in the released ``qwen_image_bf16.safetensors`` layout (no prefix)."""
    from core.models.qwen_image import QwenImageTransformer

    config = config or tiny_qwen_image_config()
    return _init(_meta_state(lambda: QwenImageTransformer(config)), torch.Generator().manual_seed(seed))


def write_tiny_qwen_image(path, seed: int = 0, prefix: str = "") -> Path:
    """A tiny ``qwen_image_fp8_e4m3fn.safetensors`` stand-in (float32) for UNETLoader."""
    sd = {prefix + k: v for k, v in tiny_qwen_image_state_dict(seed=seed).items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_safetensors(sd, path)


def tiny_wan_vae_config():
    """The Wan 2.1 VAE's structure (4 levels, 2 res blocks, temporal resamplers on levels 2-3) at width 8."""
    from core.models.vae_wan import WanVAEConfig

    return WanVAEConfig(dim=8)


def tiny_wan_vae_state_dict(seed: int = 0) -> dict:
    """Seeded weights in the released ``qwen_image_vae.safetensors`` layout."""
    from core.models.vae_wan import WanVAE

    return _init(_meta_state(lambda: WanVAE(tiny_wan_vae_config())), torch.Generator().manual_seed(seed))


def write_tiny_qwen_image_vae(path, seed: int = 0) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_safetensors(tiny_wan_vae_state_dict(seed), path)


def tiny_qwen25_vl_config():
    """Qwen2.5-VL at test size: text width 64 (2 heads of 32, 1 KV head), 2 layers, the real 152,064-token
    vocabulary; vision tower width 32 (2 heads of 16), 2 blocks, 14-px patches merged 2x2 into width 64."""
    from transformers import Qwen2_5_VLConfig

    text = dict(vocab_size=152064, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                num_key_value_heads=1, rms_norm_eps=1e-6, max_position_embeddings=128000,
                rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": [4, 6, 6]})
    vision = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64, patch_size=14,
                  temporal_patch_size=2, spatial_merge_size=2, window_size=112, fullatt_block_indexes=[],
                  tokens_per_second=2)
    return Qwen2_5_VLConfig(text_config=text, vision_config=vision)


def tiny_qwen25_vl_state_dict(seed: int = 0, vision: bool = True) -> dict:
    """Seeded weights in the released ``qwen_2.5_vl_7b.safetensors`` layout (``model.*``, ``visual.*``)."""
    from transformers import Qwen2_5_VLModel

    config = tiny_qwen25_vl_config()
    shapes = _meta_state(lambda: Qwen2_5_VLModel(config))
    sd = _init(shapes, torch.Generator().manual_seed(seed))
    out = {}
    for key, value in sd.items():
        if key.startswith("language_model."):
            out["model." + key[len("language_model."):]] = value
        elif vision and key.startswith("visual."):
            out[key] = value
    return out


def write_tiny_qwen25_vl(path, seed: int = 0, vision: bool = True, fp8_scaled: bool = False) -> Path:
    """A tiny ``qwen_2.5_vl_7b.safetensors`` (bf16) or, with ``fp8_scaled``, a ``..._fp8_scaled`` stand-in:
    2-D text weights as float8_e4m3fn with a per-tensor ``scale_weight`` and the ``scaled_fp8`` marker."""
    sd = tiny_qwen25_vl_state_dict(seed, vision)
    if fp8_scaled:
        scaled = {"scaled_fp8": torch.empty(0, dtype=torch.float8_e4m3fn)}
        for key, value in sd.items():
            if key.startswith("model.layers.") and key.endswith(".weight") and value.ndim == 2:
                scale = value.abs().max().float() / 448.0
                scaled[key] = (value / scale).to(torch.float8_e4m3fn)
                scaled[key[:-len("weight")] + "scale_weight"] = scale.reshape(())
            else:
                scaled[key] = value.to(torch.bfloat16)
        sd = scaled
    else:
        sd = {k: v.to(torch.bfloat16) for k, v in sd.items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_safetensors(sd, path)


QWEN_LORA_TARGETS = ("attn.to_q", "attn.to_k", "attn.to_v", "attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj",
                     "attn.to_out.0", "attn.to_add_out", "img_mlp.net.0.proj", "img_mlp.net.2",
                     "txt_mlp.net.0.proj", "txt_mlp.net.2", "img_mod.1", "txt_mod.1")


def tiny_qwen_image_lora_state_dict(seed: int = 0, rank: int = 4, style: str = "peft") -> dict:
    """A Lightning-style LoRA over every block linear of the tiny Qwen-Image transformer: ``peft``
    (``transformer_blocks.N.attn.to_q.lora_A/lora_B.weight``), ``diffusers`` (same under ``transformer.``) or
    ``kohya`` (``lora_unet_transformer_blocks_N_attn_to_q.lora_down/lora_up.weight`` + ``.alpha``)."""
    shapes = tiny_qwen_image_state_dict()
    gen = torch.Generator().manual_seed(seed)
    blocks = sorted({int(k.split(".")[1]) for k in shapes if k.startswith("transformer_blocks.")})
    sd = {}
    for b in blocks:
        for target in QWEN_LORA_TARGETS:
            path = f"transformer_blocks.{b}.{target}"
            out_f, in_f = shapes[path + ".weight"].shape
            down = torch.randn(rank, in_f, generator=gen) / math.sqrt(in_f)
            up = torch.randn(out_f, rank, generator=gen) * 0.1
            if style == "kohya":
                name = "lora_unet_" + path.replace(".", "_")
                sd[name + ".lora_down.weight"], sd[name + ".lora_up.weight"] = down, up
                sd[name + ".alpha"] = torch.tensor(float(rank) / 2)
            else:
                name = ("transformer." if style == "diffusers" else "") + path
                sd[name + ".lora_A.weight"], sd[name + ".lora_B.weight"] = down, up
    return sd


def write_tiny_qwen_image_lora(path, seed: int = 0, style: str = "peft") -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_safetensors({k: v.to(torch.bfloat16) for k, v in tiny_qwen_image_lora_state_dict(seed, style=style).items()}, path)



# --- FLUX.2 -----------------------------------------------------------------------------------------------
# Named as the official templates name the files: flux-2-klein-4b.safetensors / flux-2-klein-base-4b (klein,
# no guidance embedder), flux2_dev_fp8mixed.safetensors ([dev], with one), flux2-vae.safetensors.
FLUX2_VARIANTS = ("klein", "dev")


def tiny_flux2_config(variant: str = "klein"):
    """Width 64, 2 heads of 32 (4 rotary axes of 8), one block of each kind; the text context is 3 stacked
    hidden states of a width-TEXT_WIDTH encoder, as FLUX.2 stacks 3 layers of Qwen3 / Mistral."""
    from core.models.flux2 import Flux2Config

    if variant not in FLUX2_VARIANTS:
        raise ValueError(f"tiny FLUX.2: unknown variant {variant!r} (known: {', '.join(FLUX2_VARIANTS)})")
    return Flux2Config(context_in_dim=3 * TEXT_WIDTH, hidden_size=64, num_heads=2, depth=1, depth_single_blocks=1,
                       axes_dim=(8, 8, 8, 8), guidance_embed=variant == "dev")


def tiny_flux2_state_dict(variant: str = "klein", seed: int = 0) -> dict:
    from core.models.flux2 import Flux2

    cfg = tiny_flux2_config(variant)
    sd = _init(_meta_state(lambda: Flux2(cfg)), torch.Generator().manual_seed(seed))
    gen = torch.Generator().manual_seed(seed + 1)
    for key in sd:
        if key.endswith(".scale"):  # RMS-norm gains near 1 (the generic init treats "norm" vectors as biases)
            sd[key] = 1.0 + 0.1 * torch.randn(sd[key].shape, generator=gen)
    return sd


def write_tiny_flux2(path, variant: str = "klein", seed: int = 0) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_safetensors(tiny_flux2_state_dict(variant, seed), path, {"latentflow.tiny": f"flux2_{variant}"})


def tiny_flux2_vae_config():
    from core.models.vae_flux2 import Flux2VAEConfig

    cfg = VAEConfig(ch=32, ch_mult=(1, 1, 1, 1), num_res_blocks=1, z_channels=32, embed_dim=32)
    return Flux2VAEConfig(encoder=cfg, decoder=cfg)


def tiny_flux2_vae_state_dict(seed: int = 0) -> dict:
    """A 4-level FLUX.2 VAE of width 32 (latents at 1/16, 128 channels) in BFL's layout, with latent statistics."""
    from core.models.vae_flux2 import Flux2AutoEncoder

    cfg = tiny_flux2_vae_config()
    sd = _init(_meta_state(lambda: Flux2AutoEncoder(cfg)), torch.Generator().manual_seed(seed))
    gen = torch.Generator().manual_seed(seed + 1)
    sd["bn.running_mean"] = 0.1 * torch.randn(cfg.embed_dim, generator=gen)
    sd["bn.running_var"] = 1.0 + 0.2 * torch.rand(cfg.embed_dim, generator=gen)
    sd["bn.num_batches_tracked"] = torch.tensor(1000, dtype=torch.int64)  # real files carry BatchNorm's counter
    return sd


def write_tiny_flux2_vae(path, seed: int = 0) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_safetensors(tiny_flux2_vae_state_dict(seed), path, {"latentflow.tiny": "flux2_vae"})


# --- SD3.5 (MM-DiT) -------------------------------------------------------------------------------

SD3_VARIANTS = ("sd35_large", "sd35_medium", "sd3_medium")


def tiny_mmdit_config(variant: str = "sd35_large"):
    """A 3-block MM-DiT of width 128 (2 heads of 64, as the releases) with the released text widths
    (T5 4096, pooled CLIP-L ++ CLIP-G 2048): Large-style (q/k RMSNorm), Medium-style (also MMDiT-X
    self-attention in blocks 0 and 1) or SD3 Medium (3.0: neither)."""
    from core.models.mmdit import MMDiTConfig

    if variant not in SD3_VARIANTS:
        raise ValueError(f"tiny SD3: unknown variant {variant!r} (known: {', '.join(SD3_VARIANTS)})")
    return MMDiTConfig(hidden_size=128, depth=3, num_heads=2, pos_embed_max_size=32,
                       qk_norm=variant != "sd3_medium",
                       x_block_self_attn_layers=(0, 1) if variant == "sd35_medium" else ())


def tiny_mmdit_state_dict(config, seed: int = 0, prefix: str = "") -> dict:
    """Seeded weights of an MM-DiT of ``config`` in the released layout (``prefix`` + ``joint_blocks...``)."""
    from core.models.mmdit import MMDiT

    shapes = {prefix + k: v for k, v in _meta_state(lambda: MMDiT(config)).items()}
    sd = _init(shapes, torch.Generator().manual_seed(seed))
    gen = torch.Generator().manual_seed(seed + 1)
    sd[prefix + "pos_embed"] = 0.5 * torch.randn(sd[prefix + "pos_embed"].shape, generator=gen)
    return sd


def _sd3_vae_shapes(prefix: str) -> dict:
    """The SD3 VAE layout: the KL-f8 autoencoder with 16 latent channels and no quant convs."""
    cfg = VAEConfig(ch=32, ch_mult=(1, 1, 1, 1), num_res_blocks=1, z_channels=16, embed_dim=16)
    return {prefix + k: v for k, v in _meta_state(lambda: AutoencoderKL(cfg)).items() if "quant_conv" not in k}


def tiny_sd3_state_dict(variant: str = "sd35_large", seed: int = 0, with_vae: bool = True) -> tuple[dict, dict]:
    """(state dict, metadata) of a tiny SD3.5 single-file checkpoint: the transformer under
    ``model.diffusion_model.`` and, with ``with_vae``, a 16-channel VAE under ``first_stage_model.``
    (text encoders are not included: CLIPLoader/TripleCLIPLoader files carry them)."""
    sd = tiny_mmdit_state_dict(tiny_mmdit_config(variant), seed, prefix="model.diffusion_model.")
    if with_vae:
        sd.update(_init(_sd3_vae_shapes("first_stage_model."), torch.Generator().manual_seed(seed + 2)))
    return sd, {"latentflow.tiny": variant}


def write_tiny_sd3_for_templates(path, variant: str = "sd35_large", unet_only: bool = False, seed: int = 0) -> Path:
    """A tiny SD3.5 as the templates' files hold it and the tiny text towers feed it: context of the tiny
    T5's width and pooled of tiny CLIP-L ++ CLIP-G; a checkpoint bundles the three towers and the VAE
    (``sd3.5_large_fp8_scaled.safetensors`` does too)."""
    from dataclasses import replace

    cfg = replace(tiny_mmdit_config(variant), context_in_dim=TINY_T5_WIDTH, pooled_dim=TINY_SD3_POOLED)
    prefix = "" if unet_only else "model.diffusion_model."
    sd = tiny_mmdit_state_dict(cfg, seed, prefix=prefix)
    if not unet_only:
        sd.update(_init(_sd3_vae_shapes("first_stage_model."), torch.Generator().manual_seed(seed + 2)))
        sd.update(tiny_bundled_text_encoders(seed=seed))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_safetensors(sd, path, {"latentflow.tiny": variant})


def write_tiny_sd3(path, variant: str = "sd35_large", seed: int = 0, with_vae: bool = True,
                   unet_only: bool = False) -> Path:
    """``sd3.5_large_fp8_scaled.safetensors``-style file (checkpoint; the templates' name, tiny and float32),
    or with ``unet_only`` a ``diffusion_models`` file whose keys have no ``model.diffusion_model.`` prefix."""
    if unet_only:
        sd, metadata = tiny_mmdit_state_dict(tiny_mmdit_config(variant), seed), {"latentflow.tiny": variant}
    else:
        sd, metadata = tiny_sd3_state_dict(variant, seed, with_vae)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_safetensors(sd, path, metadata)


def tiny_sd3_controlnet_state_dict(mmdit_config=None, blocks: int = 2, kind: str = "canny", seed: int = 0) -> dict:
    """A Stability-layout SD3.5 Large ControlNet fitting an MM-DiT of ``mmdit_config`` (the tiny Large by
    default): ``blocks`` transformer blocks, ``control_type`` of ``kind`` (blur, canny, depth)."""
    from core.models.sd3_controlnet import CONTROL_TYPES, SD3ControlNet, SD3ControlNetConfig

    m = mmdit_config or tiny_mmdit_config("sd35_large")
    cfg = SD3ControlNetConfig(hidden_size=m.hidden_size, num_heads=m.num_heads, num_blocks=blocks,
                              in_channels=m.in_channels, patch_size=m.patch_size, pooled_dim=m.pooled_dim)
    sd = _init(_meta_state(lambda: SD3ControlNet(cfg)), torch.Generator().manual_seed(seed))
    sd["control_type"] = torch.tensor([{v: k for k, v in CONTROL_TYPES.items()}[kind]], dtype=torch.int32)
    return sd


def write_tiny_sd3_controlnet(path, kind: str = "canny", blocks: int = 2, seed: int = 0) -> Path:
    """``sd3.5_large_controlnet_{blur,canny,depth}.safetensors``-style file for the tiny SD3.5 Large."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_safetensors(tiny_sd3_controlnet_state_dict(blocks=blocks, kind=kind, seed=seed), path)


def write_sd3_template_files(models_dir) -> list:
    """The SD3.5 files the official templates name (sd3.5_simple_example, sd3.5_large_{blur,canny,depth}), tiny,
    under ``models_dir`` (``checkpoints/``, ``controlnet/``); returns their paths."""
    base = Path(models_dir)
    paths = [write_tiny_sd3(base / "checkpoints" / "sd3.5_large_fp8_scaled.safetensors", "sd35_large")]
    for kind in ("blur", "canny", "depth"):
        paths.append(write_tiny_sd3_controlnet(base / "controlnet" / f"sd3.5_large_controlnet_{kind}.safetensors", kind))
    return paths


# --- Z-Image and Qwen3 (issue 19) ---------------------------------------------------------------
def tiny_zimage_config():
    """Z-Image at width 64 (2 heads of 32 = rotary axes 8 + 12 + 12), 2 main + 1 refiner layers, Qwen3
    features of width 32. The timestep MLP keeps its real inner width 1024 (diffusers fixes it)."""
    from core.models.zimage import ZImageConfig

    return ZImageConfig(dim=64, n_layers=2, n_refiner_layers=1, n_heads=2, cap_feat_dim=TEXT_WIDTH,
                        ffn_hidden=int(64 / 3 * 8), axes_dims=(8, 12, 12))


def tiny_zimage_state_dict(config=None, seed: int = 0) -> dict:
    """Seeded Z-Image weights in the released single-file layout (z_image_turbo_bf16.safetensors)."""
    from core.models.zimage import ZImage

    config = config or tiny_zimage_config()
    sd = _init(_meta_state(lambda: ZImage(config)), torch.Generator().manual_seed(seed))
    gen = torch.Generator().manual_seed(seed + 1)
    for key in ("x_pad_token", "cap_pad_token"):  # learned tokens: give them a real signal
        sd[key] = torch.randn(sd[key].shape, generator=gen)
    # the caption RMSNorm's gain (a bare index in its key): near 1, as every other norm gain
    sd["cap_embedder.0.weight"] = 1.0 + 0.1 * torch.randn(sd["cap_embedder.0.weight"].shape, generator=gen)
    return sd


def write_tiny_zimage(path, seed: int = 0, prefix: str = "") -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_safetensors({prefix + k: v for k, v in tiny_zimage_state_dict(seed=seed).items()}, path)


def tiny_qwen3_config(layers: int = 2):
    """transformers' Qwen3Config with the real vocabulary (151,936 rows, so the shipped tokenizer's ids
    fit), width 32, 2 query heads of 16 sharing 1 key/value head. FLUX.2 [klein] reads layer 27: give
    ``layers`` >= 27 there."""
    from transformers import Qwen3Config

    return Qwen3Config(vocab_size=151936, hidden_size=TEXT_WIDTH, intermediate_size=64, num_hidden_layers=layers,
                       num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=4096,
                       rope_theta=1_000_000.0, rms_norm_eps=1e-6, tie_word_embeddings=True)


def tiny_qwen3_state_dict(layers: int = 2, seed: int = 0) -> dict:
    """Seeded Qwen3 weights in the layout of ComfyUI's ``qwen_3_4b.safetensors`` (``model.layers.N...``,
    ``model.embed_tokens.weight``, ``model.norm.weight``; the tied ``lm_head`` is not stored)."""
    from transformers import Qwen3Model

    config = tiny_qwen3_config(layers)
    with torch.device("meta"):
        shapes = Qwen3Model(config).state_dict()
    sd = _init({"model." + k: v for k, v in shapes.items()}, torch.Generator().manual_seed(seed))
    return sd


def write_tiny_qwen3(path, layers: int = 2, seed: int = 0) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_safetensors(tiny_qwen3_state_dict(layers, seed), path)


# --- FLUX.1 / SD3.5 text encoders -------------------------------------------------------------------
# Tiny towers in the released files' layouts, named as the official templates name the files. Sizes
# keep SD3's arithmetic (L + G widths fit in the T5 width) and the towers' detection rule (bigG has 32
# blocks, core/models/dit_text_loaders.py): CLIP-L width 32 x 2 blocks, bigG width 48 x 32 blocks, T5
# width 96 with 4 heads of 16 (inner width 64 != d_model, as T5 allows) x 2 blocks.
TINY_CLIP_G_WIDTH = 48
TINY_CLIP_G_LAYERS = 32
TINY_T5_CONFIG = dict(d_model=96, d_kv=16, d_ff=128, num_layers=2, num_heads=4)
TINY_TEXT_ENCODER_FILES = ("clip_l.safetensors", "clip_g.safetensors", "t5xxl_fp16.safetensors",
                           "t5xxl_fp8_e4m3fn_scaled.safetensors")


def _hf_text_tower(prefix: str, width: int, layers: int, projection: bool) -> dict:
    """transformers CLIPTextModel(WithProjection) layout with the ``text_model.`` level real files have."""
    m = 4 * width
    e = torch.empty
    with torch.device("meta"):
        out = {"embeddings.token_embedding.weight": e(VOCAB, width),
               "embeddings.position_embedding.weight": e(POSITIONS, width),
               "final_layer_norm.weight": e(width), "final_layer_norm.bias": e(width)}
        for i in range(layers):
            r = f"encoder.layers.{i}."
            for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
                out[f"{r}self_attn.{proj}.weight"] = e(width, width)
                out[f"{r}self_attn.{proj}.bias"] = e(width)
            out.update({r + "layer_norm1.weight": e(width), r + "layer_norm1.bias": e(width),
                        r + "mlp.fc1.weight": e(m, width), r + "mlp.fc1.bias": e(m),
                        r + "mlp.fc2.weight": e(width, m), r + "mlp.fc2.bias": e(width),
                        r + "layer_norm2.weight": e(width), r + "layer_norm2.bias": e(width)})
        out = {prefix + "text_model." + k: v for k, v in out.items()}
        if projection:
            out[prefix + "text_projection.weight"] = e(width, width)
    return out


def tiny_t5_config():
    from core.models.t5 import T5Config

    return T5Config(**TINY_T5_CONFIG)


def tiny_text_encoder_state_dict(kind: str, seed: int = 0) -> dict:
    """Float32 weights of one tiny tower, ``kind`` "clip_l" | "clip_g" | "t5xxl", in its file layout."""
    gen = torch.Generator().manual_seed(seed)
    if kind == "clip_l":
        return _init(_hf_text_tower("", TEXT_WIDTH, TEXT_LAYERS, projection=True), gen)
    if kind == "clip_g":
        return _init(_hf_text_tower("", TINY_CLIP_G_WIDTH, TINY_CLIP_G_LAYERS, projection=True), gen)
    if kind == "t5xxl":
        from core.models.t5 import build_t5

        return _init(dict(build_t5(tiny_t5_config()).state_dict()), gen)
    raise ValueError(f"tiny text encoder: unknown kind {kind!r} (known: clip_l, clip_g, t5xxl)")


def scaled_fp8(sd: dict) -> dict:
    """``sd`` as ComfyUI's scaled-fp8 files store it: every 2-D ``*.weight`` of a linear layer as
    float8_e4m3fn divided by a per-tensor ``scale_weight`` (max |w| / 448), the rest in float16, plus the
    ``scaled_fp8`` marker."""
    out = {}
    for key, value in sd.items():
        if value.ndim == 2 and key.endswith(".weight") and key != "shared.weight" and "relative_attention" not in key:
            scale = value.abs().max().float() / torch.finfo(torch.float8_e4m3fn).max
            out[key] = (value.float() / scale).to(torch.float8_e4m3fn)
            out[key[: -len("weight")] + "scale_weight"] = scale.reshape(())
        else:
            out[key] = value.to(torch.float16)
    out["scaled_fp8"] = torch.empty(0, dtype=torch.float8_e4m3fn)
    return out


def write_tiny_text_encoder(path, seed: int = 0) -> Path:
    """Write the tiny tower a template file name stands for (TINY_TEXT_ENCODER_FILES): clip_l/clip_g in
    float32, t5xxl_fp16 in float16, t5xxl_fp8_e4m3fn_scaled as scaled fp8 (same weights up to rounding)."""
    path = Path(path)
    name = path.name
    if name.startswith("clip_l"):
        sd = tiny_text_encoder_state_dict("clip_l", seed)
    elif name.startswith("clip_g"):
        sd = tiny_text_encoder_state_dict("clip_g", seed)
    elif name.startswith("t5xxl") and "fp8" in name:
        sd = scaled_fp8(tiny_text_encoder_state_dict("t5xxl", seed))
    elif name.startswith("t5xxl"):
        sd = {k: v.to(torch.float16) for k, v in tiny_text_encoder_state_dict("t5xxl", seed).items()}
    else:
        raise ValueError(f"tiny text encoder: no tiny tower for {name!r} (known: {', '.join(TINY_TEXT_ENCODER_FILES)})")
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_safetensors(sd, path)


# The widths the tiny text towers give a DiT: T5's d_model (the context every T5-conditioned tiny DiT takes),
# CLIP-L's pooled width (FLUX's vector) and CLIP-L ++ CLIP-G pooled (SD3's vector).
TINY_T5_WIDTH = TINY_T5_CONFIG["d_model"]
TINY_SD3_POOLED = TEXT_WIDTH + TINY_CLIP_G_WIDTH


def tiny_bundled_text_encoders(kinds=("clip_l", "clip_g", "t5xxl"), seed: int = 0) -> dict:
    """The tiny towers under the ``text_encoders.<kind>.transformer.`` names SD3.5 / FLUX checkpoints use,
    for checkpoint writers to add to their state dicts."""
    return {f"text_encoders.{kind}.transformer.{k}": v for kind in kinds
            for k, v in tiny_text_encoder_state_dict(kind, seed).items()}


# --- FLUX.1 -----------------------------------------------------------------------------------------

FLUX_KINDS = ("dev", "schnell", "fill", "kontext")


def tiny_flux_config(kind: str = "dev"):
    """A 2+2-block FLUX.1 of width 64 (2 heads of 32, rotary axes 4/14/14) fed by the tiny text towers: context
    of the tiny T5's width, vector of the tiny CLIP-L's pooled width. [schnell] has no guidance embedding;
    Fill takes the masked image's latent and its folded mask beside the noisy latent (6 × 64 inputs)."""
    from core.models.flux import FluxConfig

    if kind not in FLUX_KINDS:
        raise ValueError(f"tiny FLUX: unknown kind {kind!r} (known: {', '.join(FLUX_KINDS)})")
    return FluxConfig(in_channels=384 if kind == "fill" else 64, out_channels=64, vec_in_dim=TEXT_WIDTH,
                      context_in_dim=TINY_T5_WIDTH, hidden_size=64, num_heads=2, depth=2, depth_single_blocks=2,
                      axes_dim=(4, 14, 14), guidance_embed=kind != "schnell")


def tiny_flux_state_dict(kind: str = "dev", seed: int = 0, prefix: str = "") -> dict:
    """Seeded weights in BFL's layout (``double_blocks.N…``, ``single_blocks.N…``), under ``prefix``."""
    from core.models.flux import Flux

    cfg = tiny_flux_config(kind)
    return {prefix + k: v for k, v in _init(_meta_state(lambda: Flux(cfg)), torch.Generator().manual_seed(seed)).items()}


def write_tiny_flux(path, kind: str = "dev", seed: int = 0) -> Path:
    """``flux1-dev.safetensors``-style diffusion model (no prefix), tiny and float32."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_safetensors(tiny_flux_state_dict(kind, seed), path, {"latentflow.tiny": f"flux_{kind}"})



# FLUX.2 [dev]'s text encoder (Mistral-Small-3.2's language model), tiny: width TEXT_WIDTH so the three
# stacked hidden states (10, 20, 30) give 3 x TEXT_WIDTH features, what a tiny FLUX.2 transformer takes as
# context_in_dim; 4 heads of 8 sharing 2 key-value heads; the real vocabulary size, so real token ids embed.
MISTRAL_TINY = dict(hidden_size=TEXT_WIDTH, intermediate_size=2 * TEXT_WIDTH, num_attention_heads=4,
                    num_key_value_heads=2, head_dim=TEXT_WIDTH // 4, vocab_size=131072)


def tiny_mistral_flux2_config(layers: int = 32):
    from transformers import MistralConfig

    return MistralConfig(**MISTRAL_TINY, num_hidden_layers=layers, max_position_embeddings=131072,
                         rms_norm_eps=1e-5, rope_theta=1_000_000_000.0, sliding_window=None)


def tiny_mistral_flux2_state_dict(layers: int = 32, seed: int = 0) -> dict:
    """``mistral_3_small_flux2_bf16.safetensors``'s layout (``model.embed_tokens.weight``, ``model.layers.N.``,
    ``model.norm.weight``), float32 seeded weights; ``layers`` 30 gives a file cut after FLUX.2's last layer."""
    from transformers import MistralModel

    sd = _init(_meta_state(lambda: MistralModel(tiny_mistral_flux2_config(layers))), torch.Generator().manual_seed(seed))
    return {"model." + k: v for k, v in sd.items()}


def write_tiny_mistral_flux2(path, seed: int = 0, layers: int = 32, dtype: torch.dtype = torch.bfloat16) -> Path:
    """A tiny ``mistral_3_small_flux2_bf16.safetensors`` (CLIPLoader type ``flux2``, FLUX.2 [dev])."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sd = {k: v.to(dtype) for k, v in tiny_mistral_flux2_state_dict(layers, seed).items()}
    return save_safetensors(sd, path, {"latentflow.tiny": "mistral_3_small_flux2"})
