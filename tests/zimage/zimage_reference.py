"""diffusers' ZImageTransformer2DModel as the independent reference: built from our released-layout tensors
through diffusers' own single-file converter, called the way diffusers' ZImagePipeline calls it."""
from __future__ import annotations

import torch


def diffusers_twin(ours_state: dict, config):
    from diffusers import ZImageTransformer2DModel
    from diffusers.loaders.single_file_utils import convert_z_image_transformer_checkpoint_to_diffusers

    ref = ZImageTransformer2DModel(
        all_patch_size=(config.patch_size,), all_f_patch_size=(1,), in_channels=config.in_channels, dim=config.dim,
        n_layers=config.n_layers, n_refiner_layers=config.n_refiner_layers, n_heads=config.n_heads,
        n_kv_heads=config.n_heads, norm_eps=config.norm_eps, qk_norm=True, cap_feat_dim=config.cap_feat_dim,
        rope_theta=config.rope_theta, t_scale=config.t_scale, axes_dims=list(config.axes_dims),
        axes_lens=[4096, 512, 512])
    sd = convert_z_image_transformer_checkpoint_to_diffusers({k: v.clone() for k, v in ours_state.items()})
    ref.load_state_dict(sd, strict=True)
    return ref.eval()


def diffusers_velocity(ref, x, sigma, captions: list):
    """The pipeline's call: latents as [C, 1, H, W] items, t = 1 - sigma, captions as [n_i, D] items,
    output negated (pipeline_z_image.py)."""
    items = list(x.unsqueeze(2).unbind(0))
    out = ref(items, 1.0 - sigma, captions, return_dict=False)[0]
    return -torch.stack([o.float() for o in out], dim=0).squeeze(2)
