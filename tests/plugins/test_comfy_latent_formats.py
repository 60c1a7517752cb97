"""comfy.latent_formats as packs use it: the classes they instantiate carry ComfyUI's attributes, and
process_in / process_out are exactly the transforms sampling applies (shifted 16-channel spaces included)."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def compat_path():
    from core.compat import ensure_on_path

    ensure_on_path()


@pytest.mark.parametrize("name, channels, scale, shift", [("SD15", 4, 0.18215, 0.0), ("SDXL", 4, 0.13025, 0.0),
                                                          ("SD3", 16, 1.5305, 0.0609), ("Flux", 16, 0.3611, 0.1159)])
def test_format_classes_carry_comfyuis_constants(name, channels, scale, shift):
    import comfy.latent_formats as lf

    fmt = getattr(lf, name)()
    assert (fmt.latent_channels, fmt.scale_factor, fmt.shift_factor) == (channels, scale, shift)
    assert len(fmt.latent_rgb_factors) == channels


def test_flux_subtracts_its_shift_before_scaling_and_round_trips():
    import comfy.latent_formats as lf

    x = torch.randn(1, 16, 4, 4, generator=torch.Generator().manual_seed(0))
    fmt = lf.Flux()
    assert torch.allclose(fmt.process_in(x), (x - 0.1159) * 0.3611)
    assert torch.allclose(fmt.process_out(fmt.process_in(x)), x, atol=1e-6)
    assert isinstance(fmt, lf.SD3)          # as in ComfyUI, Flux's class derives from SD3's
