"""The FLUX.1 ``ae.safetensors`` / SD3 VAE layout: our module against the manifest built from BFL's code,
and diffusers' reading of the same keys (no weights needed: everything on meta)."""
from __future__ import annotations

import torch

from core.models.building import on_meta
from core.models.vae import AutoencoderKL, detect_vae_config, vae_prefix
from tests import testdata


def manifest_shapes() -> dict:
    return {k: tuple(v) for k, v in testdata.manifest("flux1_ae")["keys"].items()}


def test_detection_reads_the_published_flux_ae_config_from_the_manifest():
    cfg = detect_vae_config(manifest_shapes(), prefix="")
    assert (cfg.ch, cfg.ch_mult, cfg.num_res_blocks) == (128, (1, 2, 4, 4), 2)
    assert (cfg.z_channels, cfg.embed_dim, cfg.use_quant_conv) == (16, 16, False)


def test_full_size_16_channel_vae_state_dict_equals_the_flux1_ae_manifest():
    cfg = detect_vae_config(manifest_shapes(), prefix="")
    ours = {k: tuple(v.shape) for k, v in on_meta(lambda: AutoencoderKL(cfg)).state_dict().items()}
    assert ours == manifest_shapes()


def test_manifest_has_its_stated_parameter_count():
    m = testdata.manifest("flux1_ae")
    n = sum(torch.Size(v).numel() for v in m["keys"].values())
    assert n == m["components"]["vae"]["params"] == 83_819_683


def test_the_sd3_vae_config_in_diffusers_is_the_same_layout_as_flux_ae():
    """SD3/SD3.5 bundle a VAE with the published diffusers config below; diffusers' own single-file
    converter maps every manifest key onto it with equal shapes, so one manifest serves both."""
    from diffusers import AutoencoderKL as DiffusersVAE
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

    kwargs = dict(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
                  up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(128, 256, 512, 512),
                  layers_per_block=2, latent_channels=16, use_quant_conv=False, use_post_quant_conv=False)
    with torch.device("meta"):
        ref = DiffusersVAE(**kwargs)
        sd = {k: torch.empty(v) for k, v in manifest_shapes().items()}
    converted = convert_ldm_vae_checkpoint(sd, kwargs)
    expected = {k: v.numel() for k, v in ref.state_dict().items()}
    assert {k: v.numel() for k, v in converted.items()} == expected


def test_prefixes_of_standalone_and_bundled_files_are_found():
    shapes = manifest_shapes()
    assert vae_prefix(shapes) == ""
    assert vae_prefix({"vae." + k: v for k, v in shapes.items()}) == "vae."
    assert vae_prefix({"first_stage_model." + k: v for k, v in shapes.items()}) == "first_stage_model."


def test_diffusers_format_vae_keys_are_not_taken_for_the_ldm_layout():
    assert vae_prefix({"encoder.conv_in.weight": (128, 3, 3, 3), "decoder.conv_in.weight": (512, 16, 3, 3),
                       "decoder.mid_block.resnets.0.conv1.weight": (512, 512, 3, 3)}) is None


def test_the_4_channel_sd_vae_keeps_its_quant_convs():
    shapes = {k[len("first_stage_model."):]: tuple(v) for k, v in testdata.manifest("sd15")["keys"].items()
              if k.startswith("first_stage_model.")}
    cfg = detect_vae_config(shapes, prefix="")
    assert (cfg.z_channels, cfg.embed_dim, cfg.use_quant_conv) == (4, 4, True)
    ours = {k: tuple(v.shape) for k, v in on_meta(lambda: AutoencoderKL(cfg)).state_dict().items()}
    assert ours == shapes
