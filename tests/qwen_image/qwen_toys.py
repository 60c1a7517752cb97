"""Tiny seeded Qwen-Image components for the tests: our modules and their diffusers twins built from the
same tensors."""
from __future__ import annotations

import torch


def tiny_transformer(seed: int = 0, **overrides):
    from core.models.qwen_image import QwenImageTransformer
    from core.models.tiny import tiny_qwen_image_config, tiny_qwen_image_state_dict

    config = tiny_qwen_image_config(**overrides)
    model = QwenImageTransformer(config)
    model.load_state_dict(tiny_qwen_image_state_dict(config, seed=seed), strict=True)
    return model.eval()


def diffusers_transformer(ours):
    """diffusers' QwenImageTransformer2DModel loaded from our state dict as it is: the layouts are one."""
    from diffusers import QwenImageTransformer2DModel

    c = ours.config
    ref = QwenImageTransformer2DModel(
        patch_size=c.patch_size, in_channels=c.in_channels, out_channels=c.out_channels, num_layers=c.num_layers,
        attention_head_dim=c.attention_head_dim, num_attention_heads=c.num_attention_heads,
        joint_attention_dim=c.joint_attention_dim, axes_dims_rope=tuple(c.axes_dims_rope))
    ref.load_state_dict(ours.state_dict(), strict=True)
    return ref.eval()


def pack(x: torch.Tensor) -> torch.Tensor:
    """QwenImagePipeline._pack_latents: [B, C, h, w] -> [B, h/2 * w/2, C*4]."""
    B, C, h, w = x.shape
    return x.reshape(B, C, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5).reshape(B, (h // 2) * (w // 2), C * 4)


def unpack(tokens: torch.Tensor, C: int, h: int, w: int) -> torch.Tensor:
    B = tokens.shape[0]
    return tokens.reshape(B, h // 2, w // 2, C, 2, 2).permute(0, 3, 1, 4, 2, 5).reshape(B, C, h, w)


def diffusers_velocity(ref, x, sigma, context, refs=(), mask=None):
    """The pipelines' transformer call: packed latents (reference latents appended), img_shapes per image,
    timestep = sigma (the pipeline passes t / 1000)."""
    B, C, h, w = x.shape
    tokens = [pack(x)] + [pack(r) for r in refs]
    shapes = [[(1, h // 2, w // 2)] + [(1, r.shape[2] // 2, r.shape[3] // 2) for r in refs]] * B
    out = ref(hidden_states=torch.cat(tokens, dim=1), encoder_hidden_states=context,
              encoder_hidden_states_mask=mask, timestep=sigma, img_shapes=shapes, return_dict=False)[0]
    return unpack(out[:, :(h // 2) * (w // 2)], C, h, w)


def tiny_vae(seed: int = 0):
    from core.models.tiny import tiny_wan_vae_config, tiny_wan_vae_state_dict
    from core.models.vae_wan import WanVAE

    vae = WanVAE(tiny_wan_vae_config())
    vae.load_state_dict(tiny_wan_vae_state_dict(seed), strict=True)
    return vae.eval()


def diffusers_vae(ours):
    """diffusers' AutoencoderKLQwenImage with our weights, renamed by diffusers' own reading of the original Wan
    layout (single_file_utils.convert_wan_vae_to_diffusers)."""
    from diffusers import AutoencoderKLQwenImage
    from diffusers.loaders.single_file_utils import convert_wan_vae_to_diffusers

    c = ours.config
    ref = AutoencoderKLQwenImage(base_dim=c.dim, z_dim=c.z_dim, dim_mult=list(c.dim_mult),
                                 num_res_blocks=c.num_res_blocks, temperal_downsample=list(c.temporal_downsample))
    ref.load_state_dict(convert_wan_vae_to_diffusers(dict(ours.state_dict())), strict=True)
    return ref.eval()


def tiny_clip(seed: int = 0, vision: bool = True):
    from core.models.qwen_vl_text import clip_from_state_dicts
    from core.models.tiny import tiny_qwen25_vl_state_dict

    return clip_from_state_dicts([tiny_qwen25_vl_state_dict(seed, vision)], dtype=torch.float32, device="cpu")


def diffusers_text_encoder(clip):
    """transformers' Qwen2_5_VLForConditionalGeneration (what the diffusers pipelines hold) with the same weights."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    ref = Qwen2_5_VLForConditionalGeneration(clip.model.config)
    sd = {"model." + k: v for k, v in clip.model.state_dict().items()}
    sd["lm_head.weight"] = ref.lm_head.weight.detach().clone()
    ref.load_state_dict(sd, strict=True)
    return ref.eval()


def diffusers_pipeline(cls, clip, with_processor: bool = False):
    """A diffusers Qwen-Image pipeline of class ``cls`` around the tiny encoder (transformer and VAE tiny too)."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    from core.models.llm_tokenizers import qwen_tokenizer

    parts = dict(scheduler=FlowMatchEulerDiscreteScheduler(), vae=diffusers_vae(tiny_vae()),
                 text_encoder=diffusers_text_encoder(clip), tokenizer=qwen_tokenizer("qwen2.5-vl"),
                 transformer=diffusers_transformer(tiny_transformer()))
    if with_processor:
        from transformers import Qwen2VLImageProcessor, Qwen2VLProcessor, Qwen2VLVideoProcessor

        parts["processor"] = Qwen2VLProcessor(image_processor=Qwen2VLImageProcessor(),
                                              tokenizer=qwen_tokenizer("qwen2.5-vl"),
                                              video_processor=Qwen2VLVideoProcessor())
    return cls(**parts)
