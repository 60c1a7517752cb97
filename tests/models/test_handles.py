"""MODEL/VAE handles: patches merged on activation and restored bit for bit, clones, VAE IMAGE conversion."""
from __future__ import annotations

import pytest
import torch

from core import devices
from core.models.checkpoint import load_checkpoint

KEY = "model.diffusion_model.input_blocks.1.1.proj_in.weight"


@pytest.fixture()
def loaded(tiny_checkpoint, cpu_fp32):
    model, _clip, vae = load_checkpoint(tiny_checkpoint("sd15"), output_clip=False)
    return model, vae


def _weight(model):
    return model.unet.input_blocks[1][1].proj_in.weight


def test_low_rank_patch_is_merged_while_active(loaded):
    model, _ = loaded
    w = _weight(model)
    up, down = torch.randn(w.shape[0], 2), torch.randn(2, w.shape[1])
    patched = model.clone()
    assert patched.add_patches({KEY: (0.5, up, down)}) == [KEY]
    original = w.detach().clone()
    with devices.manager.activate(patched):
        expected = original + 0.5 * (up @ down).reshape(w.shape)
        torch.testing.assert_close(_weight(patched).detach(), expected)


def test_original_bits_are_restored_after_activation(loaded):
    model, _ = loaded
    w = _weight(model)
    original = w.detach().clone()
    patched = model.clone()
    patched.add_patches({KEY: (1.0, torch.randn(w.shape[0], 4), torch.randn(4, w.shape[1]))}, strength_model=0.7)
    with devices.manager.activate(patched):
        assert not torch.equal(_weight(patched), original)
    assert torch.equal(_weight(model), original)


def test_clone_shares_weights_and_copies_patch_lists(loaded):
    model, _ = loaded
    other = model.clone()
    other.add_patches({KEY: (1.0, torch.zeros(1, 1), torch.zeros(1, 1))})
    assert other.unet is model.unet
    assert model.patches == {} and KEY in other.patches
    other.model_options["transformer_options"]["x"] = 1
    assert "x" not in model.model_options["transformer_options"]


def test_unknown_patch_keys_are_not_applied(loaded):
    model, _ = loaded
    assert model.clone().add_patches({"model.diffusion_model.nope.weight": (1.0, torch.ones(1, 1), torch.ones(1, 1))}) == []


def test_vae_decode_gives_image_in_unit_range(loaded):
    _, vae = loaded
    image = vae.decode(torch.randn(2, 4, 5, 6))
    assert image.shape == (2, 40, 48, 3) and image.dtype == torch.float32
    assert image.min() >= 0 and image.max() <= 1 and image.std() > 0.01


def test_vae_encode_crops_to_a_multiple_of_8_and_drops_alpha(loaded):
    _, vae = loaded
    latent = vae.encode(torch.rand(1, 43, 35, 4))
    assert latent.shape == (1, 4, 5, 4)
    assert torch.isfinite(latent).all()


def test_tiling_reassembles_a_local_function_exactly():
    from core.models.vae_tiling import tiled_map

    x = torch.randn(2, 4, 37, 29)
    upsample = lambda t: torch.nn.functional.interpolate(t, scale_factor=8.0, mode="nearest")[:, :3] * 2
    out = tiled_map(x, upsample, tile=16, overlap=4, scale=8, out_channels=3)
    torch.testing.assert_close(out, upsample(x))


def test_tiled_decode_with_one_tile_equals_decode(loaded):
    _, vae = loaded
    latent = torch.randn(1, 4, 12, 10)
    torch.testing.assert_close(vae.decode_tiled(latent, tile_size=512, overlap=64), vae.decode(latent))


def test_tiled_decode_is_close_to_whole_decode(loaded):
    _, vae = loaded
    latent = torch.randn(1, 4, 24, 24)
    whole = vae.decode(latent)
    tiled = vae.decode_tiled(latent, tile_size=128, overlap=32)
    assert tiled.shape == whole.shape
    # the VAE's mid-block attention sees the whole image, so tiles differ a little, not a lot
    assert (tiled - whole).abs().mean() < 0.25 * (whole - whole.mean()).abs().mean()


def test_tiled_encode_matches_whole_encode_on_average(loaded):
    _, vae = loaded
    image = torch.rand(1, 192, 160, 3)
    whole = vae.encode(image)
    tiled = vae.encode_tiled(image, tile_size=128, overlap=32)
    assert tiled.shape == whole.shape
    assert (tiled - whole).abs().mean() < 0.25 * whole.abs().mean()  # global mid-block attention: close, not equal


def test_oom_is_retried_once_after_freeing(monkeypatch):
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) == 1:
            raise torch.OutOfMemoryError("CUDA out of memory")
        return "ok"

    assert devices.manager.run(flaky, what="test") == "ok" and len(calls) == 2


def test_repeated_oom_gives_a_clear_error():
    def always():
        raise torch.OutOfMemoryError("CUDA out of memory")

    with pytest.raises(MemoryError, match=r"VAE decode: out of memory .*tiled"):
        devices.manager.run(always, what="VAE decode")
