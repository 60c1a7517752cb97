"""Helpers for the 16-channel VAE tests: diffusers' AutoencoderKL twin of one of our VAE files."""
from __future__ import annotations


def diffusers_config(cfg) -> dict:
    """diffusers AutoencoderKL keyword arguments equal to our VAEConfig (the 16-channel flavour)."""
    levels = len(cfg.ch_mult)
    return dict(in_channels=cfg.in_channels, out_channels=cfg.out_ch,
                down_block_types=("DownEncoderBlock2D",) * levels, up_block_types=("UpDecoderBlock2D",) * levels,
                block_out_channels=tuple(cfg.ch * m for m in cfg.ch_mult), layers_per_block=cfg.num_res_blocks,
                latent_channels=cfg.z_channels, norm_num_groups=32, use_quant_conv=cfg.use_quant_conv,
                use_post_quant_conv=cfg.use_quant_conv)


def diffusers_twin(sd: dict, cfg):
    """diffusers AutoencoderKL holding the weights of LDM-layout ``sd``, mapped by diffusers' own
    single-file converter (an independent reading of the layout)."""
    from diffusers import AutoencoderKL
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

    kwargs = diffusers_config(cfg)
    ref = AutoencoderKL(**kwargs).eval()
    converted = convert_ldm_vae_checkpoint(dict(sd), kwargs)
    # diffusers' mid-block attention is Linear; the LDM files store 1x1 convs
    converted = {k: v.reshape(ref.state_dict()[k].shape) for k, v in converted.items()}
    ref.load_state_dict(converted, strict=True)
    return ref
