"""Test helpers for FLUX.2: tiny configs, seeded weights, and the diffusers twins built from the same tensors."""
from __future__ import annotations

import torch

from core.models.flux2 import Flux2, Flux2Config


def tiny_config(guidance: bool = False, depth: int = 2, single: int = 2, context: int = 24) -> Flux2Config:
    """klein-like (guidance=False) or dev-like; head size 32 = 4 rotary axes of 8."""
    return Flux2Config(context_in_dim=context, hidden_size=64, num_heads=2, depth=depth, depth_single_blocks=single,
                       axes_dim=(8, 8, 8, 8), guidance_embed=guidance)


def tiny_flux2(config: Flux2Config, seed: int = 0) -> Flux2:
    from core.models.tiny import fill_random

    from core.models.building import on_meta

    return fill_random(on_meta(lambda: Flux2(config)), seed)


def diffusers_twin(ours: Flux2):
    """diffusers' Flux2Transformer2DModel with OUR state dict converted by diffusers' own single-file converter
    (which reads BFL's released key layout), so the test checks our key names as well as the math."""
    from diffusers import Flux2Transformer2DModel
    from diffusers.loaders.single_file_utils import convert_flux2_transformer_checkpoint_to_diffusers

    c = ours.config
    ref = Flux2Transformer2DModel(
        patch_size=1, in_channels=c.in_channels, out_channels=c.out_channels, num_layers=c.depth,
        num_single_layers=c.depth_single_blocks, attention_head_dim=c.hidden_size // c.num_heads,
        num_attention_heads=c.num_heads, joint_attention_dim=c.context_in_dim, mlp_ratio=c.mlp_ratio,
        axes_dims_rope=tuple(c.axes_dim), rope_theta=c.theta, guidance_embeds=c.guidance_embed)
    sd = convert_flux2_transformer_checkpoint_to_diffusers({k: v.clone() for k, v in ours.state_dict().items()})
    ref.load_state_dict(sd, strict=True)
    return ref.eval()


def diffusers_velocity(ref, x, t, context, guidance=None, refs=()):
    """diffusers' call as Flux2Pipeline / Flux2KleinPipeline make it: one token per 128-channel latent pixel,
    ids (0, row, col, 0), text ids (0, 0, 0, i), references appended with time 10, 20, ..."""
    from diffusers.pipelines.flux2.pipeline_flux2 import Flux2Pipeline

    B, C, h, w = x.shape
    tokens = Flux2Pipeline._pack_latents(x)
    ids = Flux2Pipeline._prepare_latent_ids(x)
    if refs:
        ref_ids = Flux2Pipeline._prepare_image_ids([r[:1] for r in refs])
        ref_tokens = torch.cat([Flux2Pipeline._pack_latents(r[:1]) for r in refs], dim=1)
        tokens = torch.cat([tokens, ref_tokens.expand(B, -1, -1)], dim=1)
        ids = torch.cat([ids, ref_ids.expand(B, -1, -1)], dim=1)
    txt_ids = Flux2Pipeline._prepare_text_ids(context)
    out = ref(hidden_states=tokens, encoder_hidden_states=context, timestep=t, img_ids=ids, txt_ids=txt_ids,
              guidance=guidance, return_dict=False)[0]
    return out[:, :h * w].transpose(1, 2).reshape(B, C, h, w)


def tiny_vae_config(small_decoder: bool = False):
    """4 levels (so 1/8, then 2x2 patches: 1/16) of width 32/64; a narrower decoder like the small-decoder file."""
    from core.models.vae import VAEConfig
    from core.models.vae_flux2 import Flux2VAEConfig

    enc = VAEConfig(ch=32, ch_mult=(1, 1, 2, 2), num_res_blocks=1, z_channels=32, embed_dim=32)
    dec = VAEConfig(ch=32, ch_mult=(1, 1, 1, 1) if small_decoder else (1, 1, 2, 2), num_res_blocks=1,
                    z_channels=32, embed_dim=32)
    return Flux2VAEConfig(encoder=enc, decoder=dec)


def diffusers_vae_twin(ours):
    """diffusers' AutoencoderKLFlux2 with our tensors: the LDM-layout blocks converted by diffusers' own
    convert_ldm_vae_checkpoint, the nested quant convs moved to the top level where diffusers keeps them."""
    from diffusers import AutoencoderKLFlux2
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

    enc, dec = ours.config.encoder, ours.config.decoder
    ref = AutoencoderKLFlux2(block_out_channels=tuple(enc.ch * m for m in enc.ch_mult),
                             decoder_block_out_channels=tuple(dec.ch * m for m in dec.ch_mult),
                             layers_per_block=enc.num_res_blocks, latent_channels=enc.z_channels)
    sd = {k: v.clone() for k, v in ours.state_dict().items()}
    stats = {k: sd.pop(k) for k in list(sd) if k.startswith("bn.")}
    sd["quant_conv.weight"] = sd.pop("encoder.quant_conv.weight")
    sd["quant_conv.bias"] = sd.pop("encoder.quant_conv.bias")
    sd["post_quant_conv.weight"] = sd.pop("decoder.post_quant_conv.weight")
    sd["post_quant_conv.bias"] = sd.pop("decoder.post_quant_conv.bias")
    converted = convert_ldm_vae_checkpoint(sd, dict(ref.config))
    converted.update(stats)
    missing, unexpected = ref.load_state_dict(converted, strict=False)
    assert not unexpected and set(missing) <= {"bn.num_batches_tracked"}, (missing, unexpected)
    return ref.eval()


def diffusers_kv_velocities(ref, x, t_steps, context, refs):
    """diffusers' Flux2KleinKVPipeline calls: step 0 with the references prepended ("extract": references at
    timestep 0, attending to themselves only, their K/V cached), later steps with the cached K/V ("cached")."""
    from diffusers.models.transformers.transformer_flux2 import Flux2KVAttnProcessor, Flux2KVParallelSelfAttnProcessor
    from diffusers.pipelines.flux2.pipeline_flux2 import Flux2Pipeline

    for block in ref.transformer_blocks:
        block.attn.set_processor(Flux2KVAttnProcessor())
    for block in ref.single_transformer_blocks:
        block.attn.set_processor(Flux2KVParallelSelfAttnProcessor())
    B, C, h, w = x.shape
    tokens, ids = Flux2Pipeline._pack_latents(x), Flux2Pipeline._prepare_latent_ids(x)
    ref_ids = Flux2Pipeline._prepare_image_ids([r[:1] for r in refs]).expand(B, -1, -1)
    ref_tokens = torch.cat([Flux2Pipeline._pack_latents(r[:1]) for r in refs], dim=1).expand(B, -1, -1)
    txt_ids = Flux2Pipeline._prepare_text_ids(context)
    outs, cache = [], None
    for i, t in enumerate(t_steps):
        if i == 0:
            out, cache = ref(hidden_states=torch.cat([ref_tokens, tokens], 1), encoder_hidden_states=context,
                             timestep=t, img_ids=torch.cat([ref_ids, ids], 1), txt_ids=txt_ids, return_dict=False,
                             kv_cache_mode="extract", num_ref_tokens=ref_tokens.shape[1])
        else:
            out = ref(hidden_states=tokens, encoder_hidden_states=context, timestep=t, img_ids=ids, txt_ids=txt_ids,
                      return_dict=False, kv_cache=cache, kv_cache_mode="cached")[0]
        outs.append(out.transpose(1, 2).reshape(B, C, h, w))
    return outs
