"""Z-Image transformer: equal to diffusers' ZImageTransformer2DModel on the same tensors (read through
diffusers' own converter of the released single-file layout), and the full-size layout on meta."""
from __future__ import annotations

import torch

from tests import testdata
from zimage_reference import diffusers_twin, diffusers_velocity


def tiny(seed: int = 3):
    from core.models.tiny import tiny_zimage_config, tiny_zimage_state_dict
    from core.models.zimage import ZImage

    config = tiny_zimage_config()
    sd = tiny_zimage_state_dict(config, seed=seed)
    model = ZImage(config).eval()
    model.load_state_dict(sd, strict=True)
    return model, sd, config


def test_tiny_zimage_equals_diffusers_on_equal_length_captions():
    ours, sd, config = tiny()
    ref = diffusers_twin(sd, config)
    g = torch.Generator().manual_seed(7)
    x = torch.randn(2, 16, 6, 10, generator=g)  # 15 patches: padded to 32 with the image pad token
    context = torch.randn(2, 7, config.cap_feat_dim, generator=g)
    sigma = torch.tensor([0.83, 0.21])
    with torch.no_grad():
        got = ours(x, sigma, context)
        want = diffusers_velocity(ref, x, sigma, list(context.unbind(0)))
    assert got.shape == x.shape
    assert float(want.abs().max()) > 0.1  # a real signal, not two near-zero outputs
    assert torch.allclose(got, want, atol=1e-4, rtol=0), float((got - want).abs().max())


def test_batched_captions_of_different_lengths_equal_diffusers_per_item():
    """Positive and negative prompts of 5 and 40 tokens batched in one call: the shorter one arrives
    repeated to a common length, with its real length in y; each item must equal diffusers' own."""
    ours, sd, config = tiny()
    ref = diffusers_twin(sd, config)
    g = torch.Generator().manual_seed(11)
    x = torch.randn(2, 16, 8, 8, generator=g)
    short, long = torch.randn(5, config.cap_feat_dim, generator=g), torch.randn(40, config.cap_feat_dim, generator=g)
    context = torch.stack([short.repeat(8, 1), long])  # _match_tokens: lcm(5, 40) = 40
    sigma = torch.tensor([0.5, 0.5])
    with torch.no_grad():
        got = ours(x, sigma, context, y=torch.tensor([[0.0, 5.0], [0.0, 40.0]]))
        want = diffusers_velocity(ref, x, sigma, [short, long])
    assert torch.allclose(got, want, atol=1e-4, rtol=0), float((got - want).abs().max())


def test_a_repeated_caption_without_its_length_is_a_different_prompt():
    ours, _, config = tiny()
    g = torch.Generator().manual_seed(1)
    x, cap = torch.randn(1, 16, 4, 4, generator=g), torch.randn(1, 5, config.cap_feat_dim, generator=g)
    with torch.no_grad():
        alone = ours(x, torch.tensor([0.4]), cap)
        with_len = ours(x, torch.tensor([0.4]), cap.repeat(1, 3, 1), y=torch.tensor([[0.0, 5.0]]))
        without = ours(x, torch.tensor([0.4]), cap.repeat(1, 3, 1))
    assert torch.allclose(alone, with_len, atol=1e-5)
    assert not torch.allclose(alone, without, atol=1e-3)


def test_odd_latent_sizes_are_padded_to_whole_patches_and_cropped_back():
    ours, _, config = tiny()
    with torch.no_grad():
        out = ours(torch.randn(1, 16, 5, 7), torch.tensor([0.5]), torch.randn(1, 3, config.cap_feat_dim))
    assert out.shape == (1, 16, 5, 7) and torch.isfinite(out).all()


def test_bfloat16_weights_follow_the_float32_result():
    ours, _, config = tiny()
    g = torch.Generator().manual_seed(2)
    x, cap = torch.randn(1, 16, 4, 4, generator=g), torch.randn(1, 6, config.cap_feat_dim, generator=g)
    with torch.no_grad():
        full = ours(x, torch.tensor([0.7]), cap)
        half = ours.to(torch.bfloat16)(x.bfloat16(), torch.tensor([0.7]), cap.bfloat16()).float()
    assert half.dtype == torch.float32 and torch.isfinite(half).all()
    assert float((half - full).abs().max()) < 0.1 * float(full.abs().max())


def full_size():
    from core.models.zimage import ZImage, ZImageConfig

    with torch.device("meta"):
        return ZImage(ZImageConfig())


def test_full_size_zimage_state_dict_equals_the_z_image_turbo_manifest():
    manifest = testdata.manifest("z_image_turbo")
    ours = {k: list(v.shape) for k, v in full_size().state_dict().items()}
    assert set(ours) == set(manifest["keys"])
    assert {k: s for k, s in ours.items() if manifest["keys"][k] != s} == {}


def test_full_size_zimage_has_the_manifests_parameter_count():
    manifest = testdata.manifest("z_image_turbo")
    n = sum(p.numel() for p in full_size().parameters())
    assert n == manifest["components"]["transformer"]["params"]


def test_the_manifest_converts_to_exactly_diffusers_default_z_image_turbo_on_meta():
    """Our reading of the released layout, through diffusers' converter, is diffusers' own network."""
    from diffusers import ZImageTransformer2DModel
    from diffusers.loaders.single_file_utils import convert_z_image_transformer_checkpoint_to_diffusers

    manifest = testdata.manifest("z_image_turbo")
    with torch.device("meta"):
        ref = {k: list(v.shape) for k, v in ZImageTransformer2DModel().state_dict().items()}
        converted = convert_z_image_transformer_checkpoint_to_diffusers(
            {k: torch.empty(v, device="meta") for k, v in manifest["keys"].items()})
    assert {k: list(v.shape) for k, v in converted.items()} == ref
