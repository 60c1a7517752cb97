"""FLUX.1 transformer: equal to diffusers' FluxTransformer2DModel on the same tensors, the full-size layout
of flux1-dev.safetensors on the meta device, and detection from a file's shapes."""
from __future__ import annotations

import pytest
import torch

from tests import testdata
from flow_toys import tiny_flux, tiny_flux_config
from flux_diffusers_keys import bfl_to_diffusers


def diffusers_twin(ours, config):
    from diffusers import FluxTransformer2DModel

    head = config.hidden_size // config.num_heads
    ref = FluxTransformer2DModel(
        patch_size=1, in_channels=config.in_channels, out_channels=config.out_channels,
        num_layers=config.depth, num_single_layers=config.depth_single_blocks, attention_head_dim=head,
        num_attention_heads=config.num_heads, joint_attention_dim=config.context_in_dim,
        pooled_projection_dim=config.vec_in_dim, guidance_embeds=config.guidance_embed,
        axes_dims_rope=tuple(config.axes_dim))
    sd = bfl_to_diffusers(dict(ours.state_dict()), config.depth, config.depth_single_blocks, config.hidden_size)
    ref.load_state_dict(sd, strict=True)
    return ref.eval()


def diffusers_velocity(ref, x, t, context, pooled, guidance):
    """diffusers' call with the pipeline's packing: 2x2 patches, ids (0, row, col), sigma as timestep."""
    B, C, h, w = x.shape
    H, W = h // 2, w // 2
    img = x.reshape(B, C, H, 2, W, 2).permute(0, 2, 4, 1, 3, 5).reshape(B, H * W, C * 4)
    ids = torch.zeros(H, W, 3)
    ids[..., 1] = torch.arange(H)[:, None]
    ids[..., 2] = torch.arange(W)[None, :]
    out = ref(hidden_states=img, encoder_hidden_states=context, pooled_projections=pooled, timestep=t,
              img_ids=ids.reshape(-1, 3), txt_ids=torch.zeros(context.shape[1], 3), guidance=guidance).sample
    return out.reshape(B, H, W, C, 2, 2).permute(0, 3, 1, 4, 2, 5).reshape(B, C, h, w)


@pytest.mark.parametrize("guidance_embed", [True, False], ids=["dev", "schnell"])
def test_tiny_flux_equals_diffusers_flux_transformer(guidance_embed):
    config = tiny_flux_config(guidance=guidance_embed)
    ours = tiny_flux(config, seed=3)
    ref = diffusers_twin(ours, config)
    g = torch.Generator().manual_seed(7)
    x = torch.randn(2, 16, 6, 10, generator=g)
    context = torch.randn(2, 5, config.context_in_dim, generator=g)
    pooled = torch.randn(2, config.vec_in_dim, generator=g)
    t = torch.tensor([0.83, 0.21])
    guidance = torch.tensor([3.5, 1.0]) if guidance_embed else None
    with torch.no_grad():
        y = torch.cat([pooled, (guidance if guidance_embed else torch.zeros(2))[:, None]], dim=1)
        got = ours(x, t, context, y=y)
        want = diffusers_velocity(ref, x, t, context, pooled, guidance)
    assert got.shape == x.shape
    assert float(want.abs().max()) > 0.1  # a real signal, not two near-zero outputs
    assert torch.allclose(got, want, atol=1e-4, rtol=0), float((got - want).abs().max())


def test_guidance_changes_the_output_of_a_dev_model_only():
    dev, schnell = tiny_flux(tiny_flux_config(True)), tiny_flux(tiny_flux_config(False))
    x, ctx, t = torch.randn(1, 16, 4, 4), torch.randn(1, 3, 20), torch.tensor([0.5])
    pooled = torch.randn(1, 12)
    with torch.no_grad():
        for model, changes in ((dev, True), (schnell, False)):
            a = model(x, t, ctx, y=torch.cat([pooled, torch.tensor([[1.0]])], 1))
            b = model(x, t, ctx, y=torch.cat([pooled, torch.tensor([[4.0]])], 1))
            assert (not torch.allclose(a, b)) == changes


def test_odd_latent_sizes_are_padded_to_whole_patches_and_cropped_back():
    model = tiny_flux(tiny_flux_config())
    with torch.no_grad():
        out = model(torch.randn(1, 16, 5, 7), torch.tensor([0.5]), torch.randn(1, 3, 20), y=torch.randn(1, 13))
    assert out.shape == (1, 16, 5, 7) and torch.isfinite(out).all()


def full_size_flux():
    from core.models.flux import Flux, FluxConfig

    with torch.device("meta"):
        return Flux(FluxConfig())


def test_full_size_flux_state_dict_equals_the_flux1_dev_manifest():
    manifest = testdata.manifest("flux1_dev")
    ours = {k: list(v.shape) for k, v in full_size_flux().state_dict().items()}
    assert set(ours) == set(manifest["keys"])
    assert {k: s for k, s in ours.items() if manifest["keys"][k] != s} == {}


def test_full_size_flux_has_the_manifests_parameter_count():
    manifest = testdata.manifest("flux1_dev")
    n = sum(p.numel() for p in full_size_flux().parameters())
    assert n == manifest["components"]["transformer"]["params"] == 11_901_408_320


def test_detection_reads_the_published_dev_config_from_the_manifests_shapes():
    from core.models.detection import detect
    from core.models.flux import FluxConfig

    shapes = {k: tuple(v) for k, v in testdata.manifest("flux1_dev")["keys"].items()}
    cfg = detect(shapes, name="flux1-dev.safetensors")
    assert (cfg.family, cfg.prediction, cfg.in_channels) == ("flux", "flow", 16)
    assert cfg.unet == FluxConfig()  # the published [dev] hyperparameters, all of them


def test_a_file_without_the_guidance_embedder_is_schnell():
    from core.models.detection import detect

    manifest = testdata.manifest("flux1_dev")
    shapes = {k: tuple(v) for k, v in manifest["keys"].items() if k not in manifest["schnell_missing_keys"]}
    cfg = detect(shapes, name="flux1-schnell.safetensors")
    assert cfg.family == "flux_schnell" and not cfg.unet.guidance_embed


def test_detection_accepts_the_bundled_checkpoint_prefix():
    from core.models.detection import detect

    shapes = {"model.diffusion_model." + k: tuple(v) for k, v in testdata.manifest("flux1_dev")["keys"].items()}
    cfg = detect(shapes, name="flux1-dev-fp8.safetensors")
    assert cfg.family == "flux" and cfg.extra["unet_prefix"] == "model.diffusion_model."


def test_detection_of_a_tiny_flux_recovers_its_config():
    from core.models.detection import detect

    config = tiny_flux_config()
    assert detect(dict(tiny_flux(config).state_dict())).unet == config


def test_unknown_extra_input_channels_are_refused_by_name():
    # Fill (384) and Canny/Depth (128) are known (tests/flux/test_fill.py); other widths are not
    from core.models.detection import DetectionError, detect

    shapes = {k: tuple(v) for k, v in testdata.manifest("flux1_dev")["keys"].items()}
    shapes["img_in.weight"] = (3072, 200)
    with pytest.raises(DetectionError, match="odd-flux.*200 input and 64 output channels"):
        detect(shapes, name="odd-flux.safetensors")
