"""Our MM-DiT (core/models/mmdit.py) against diffusers' SD3Transformer2DModel, same released-layout weights."""
from __future__ import annotations

import pytest
import torch

from sd3_reference import diffusers_from_released, inputs, ours, small_config

VARIANTS = {
    "sd3_medium_no_qk_norm": dict(qk_norm=False),
    "sd35_large_qk_norm": dict(qk_norm=True),
    "sd35_medium_mmdit_x": dict(qk_norm=True, x_layers=(0, 1)),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_velocity_equals_diffusers_sd3_transformer(variant):
    config = small_config(**VARIANTS[variant])
    net, sd = ours(config)
    ref = diffusers_from_released(sd, config)
    x, t, ctx, y = inputs(config)
    with torch.no_grad():
        got = net(x, t, ctx, y)
        want = ref(hidden_states=x, encoder_hidden_states=ctx, pooled_projections=y, timestep=t).sample
    assert got.shape == x.shape
    assert want.abs().mean() > 0.05  # not a trivially zero output
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_skipped_layers_equal_diffusers_skip_layers():
    config = small_config(qk_norm=True, x_layers=(0,), depth=4)
    net, sd = ours(config)
    ref = diffusers_from_released(sd, config)
    x, t, ctx, y = inputs(config)
    with torch.no_grad():
        got = net(x, t, ctx, y, transformer_options={"skip_layers": {"double": [1, 2]}})
        want = ref(hidden_states=x, encoder_hidden_states=ctx, pooled_projections=y, timestep=t,
                   skip_layers=[1, 2]).sample
        full = net(x, t, ctx, y)
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    assert (got - full).abs().max() > 1e-3  # skipping changed the result


def test_odd_latent_size_is_padded_and_cropped_back():
    config = small_config()
    net, _ = ours(config)
    x, t, ctx, y = inputs(config, h=7, w=5)
    with torch.no_grad():
        out = net(x, t, ctx, y)
    assert out.shape == x.shape and torch.isfinite(out).all()


def test_image_larger_than_position_table_is_refused_with_its_size():
    config = small_config()
    net, _ = ours(config)
    x, t, ctx, y = inputs(config, h=34, w=8)
    with pytest.raises(ValueError, match="17x4 patches is larger than the position table"):
        net(x, t, ctx, y)
