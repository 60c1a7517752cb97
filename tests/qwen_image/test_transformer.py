"""Qwen-Image transformer: our module in the released key layout equals diffusers' QwenImageTransformer2DModel
on the same tensors (text-to-image and with Edit reference latents)."""
from __future__ import annotations

import torch

from qwen_toys import diffusers_transformer, diffusers_velocity, tiny_transformer


def _inputs(B=2, h=8, w=12, T=7, width=64, seed=5):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(B, 16, h, w, generator=g), torch.tensor([0.9, 0.3][:B]),
            torch.randn(B, T, width, generator=g))


def test_state_dict_keys_equal_diffusers_keys():
    ours = tiny_transformer()
    ref = diffusers_transformer(ours)
    assert set(ours.state_dict()) == set(ref.state_dict())


def test_velocity_equals_diffusers():
    ours = tiny_transformer(seed=1)
    ref = diffusers_transformer(ours)
    x, sigma, ctx = _inputs()
    with torch.no_grad():
        got = ours(x, sigma, ctx)
        want = diffusers_velocity(ref, x, sigma, ctx)
    assert got.shape == x.shape
    assert float(want.abs().max()) > 0.1
    assert torch.allclose(got, want, atol=1e-4, rtol=0), float((got - want).abs().max())


def test_odd_token_grid_equals_diffusers():
    """3 x 5 patches: the centred row/column positions of an odd grid follow diffusers."""
    ours = tiny_transformer(seed=2)
    ref = diffusers_transformer(ours)
    x, sigma, ctx = _inputs(B=1, h=6, w=10)
    with torch.no_grad():
        got = ours(x, sigma, ctx)
        want = diffusers_velocity(ref, x, sigma, ctx)
    assert torch.allclose(got, want, atol=1e-4, rtol=0), float((got - want).abs().max())


def test_reference_latents_equal_diffusers_edit_call():
    """Edit: reference latents appended to the image tokens with frame index 1, 2 (QwenImageEditPlusPipeline)."""
    ours = tiny_transformer(seed=3)
    ref = diffusers_transformer(ours)
    x, sigma, ctx = _inputs(B=1)
    g = torch.Generator().manual_seed(9)
    refs = [torch.randn(1, 16, 8, 12, generator=g), torch.randn(1, 16, 12, 8, generator=g)]
    with torch.no_grad():
        got = ours(x, sigma, ctx, ref_latents=refs)
        want = diffusers_velocity(ref, x, sigma, ctx, refs=refs)
        plain = ours(x, sigma, ctx)
    assert torch.allclose(got, want, atol=1e-4, rtol=0), float((got - want).abs().max())
    assert float((got - plain).abs().max()) > 1e-3  # the references change the result


def test_text_padding_mask_equals_diffusers_mask():
    ours = tiny_transformer(seed=4)
    ref = diffusers_transformer(ours)
    x, sigma, ctx = _inputs()
    mask = torch.ones(2, ctx.shape[1], dtype=torch.bool)
    mask[1, 4:] = False
    with torch.no_grad():
        got = ours(x, sigma, ctx, attention_mask=mask)
        want = diffusers_velocity(ref, x, sigma, ctx, mask=mask)
    assert torch.allclose(got, want, atol=1e-4, rtol=0), float((got - want).abs().max())
