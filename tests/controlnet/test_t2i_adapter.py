"""T2I-Adapters (TencentARC full and light SD1.x layouts) loaded through the ControlNet loader."""
import math

import pytest
import torch

from core.models.controlnet import load_controlnet
from core.models.t2i_adapter import T2IAdapterHandle, is_t2i_adapter
from core.models.unet import UNetModel

from .test_controlnet import _inputs, _unet_out

CHANNELS = (32, 64, 64, 64)  # the tiny U-Net's levels are 32 and 64 wide; later levels go unused


def _randn(gen, *shape):
    return torch.randn(shape, generator=gen) / math.sqrt(math.prod(shape[1:]))


def full_adapter_sd(seed=0, hint_channels=3, per_level=2, prefix="adapter."):
    """Full layout: conv_in on the 8× unshuffled hint, then per_level blocks per level (block1 3×3, block2 1×1)."""
    gen = torch.Generator().manual_seed(seed)
    sd = {"conv_in.weight": _randn(gen, CHANNELS[0], hint_channels * 64, 3, 3), "conv_in.bias": torch.zeros(CHANNELS[0])}
    n = 0
    for level, ch in enumerate(CHANNELS):
        for j in range(per_level):
            p = f"body.{n}."
            if j == 0 and level > 0 and CHANNELS[level - 1] != ch:
                sd[p + "in_conv.weight"] = _randn(gen, ch, CHANNELS[level - 1], 1, 1)
                sd[p + "in_conv.bias"] = torch.zeros(ch)
            sd[p + "block1.weight"], sd[p + "block1.bias"] = _randn(gen, ch, ch, 3, 3), 0.1 * torch.ones(ch)
            sd[p + "block2.weight"], sd[p + "block2.bias"] = _randn(gen, ch, ch, 1, 1), torch.zeros(ch)
            n += 1
    return {prefix + k: v for k, v in sd.items()}


def light_adapter_sd(seed=0, blocks=2):
    gen = torch.Generator().manual_seed(seed)
    sd, cin = {}, 3 * 64
    for level, ch in enumerate(CHANNELS):
        inner, p = ch // 4, f"body.{level}."
        sd[p + "in_conv.weight"], sd[p + "in_conv.bias"] = _randn(gen, inner, cin, 1, 1), torch.zeros(inner)
        for j in range(blocks):
            for conv in ("block1", "block2"):
                sd[f"{p}body.{j}.{conv}.weight"] = _randn(gen, inner, inner, 3, 3)
                sd[f"{p}body.{j}.{conv}.bias"] = torch.zeros(inner)
        sd[p + "out_conv.weight"], sd[p + "out_conv.bias"] = _randn(gen, ch, inner, 1, 1), torch.zeros(ch)
        cin = ch
    return sd


@pytest.fixture(scope="module")
def unet():
    from core.models.tiny import tiny_unet_config

    torch.manual_seed(0)
    return UNetModel(tiny_unet_config("sd15")).eval()


def _load(tmp_path, sd, name="adapter.safetensors"):
    from safetensors.torch import save_file

    save_file(sd, str(tmp_path / name))
    return load_controlnet(tmp_path / name)


@pytest.mark.parametrize("make", [full_adapter_sd, light_adapter_sd], ids=["full", "light"])
def test_controlnet_loader_recognises_the_adapter_layouts(tmp_path, make):
    assert is_t2i_adapter(make())
    assert isinstance(_load(tmp_path, make()), T2IAdapterHandle)


@pytest.mark.parametrize("make", [full_adapter_sd, light_adapter_sd], ids=["full", "light"])
def test_adapter_gives_one_feature_per_level_at_the_level_resolution(tmp_path, make):
    adapter = _load(tmp_path, make())
    feats = adapter.model(torch.rand(1, 3, 64, 64))
    assert [tuple(f.shape[1:]) for f in feats] == [(32, 8, 8), (64, 4, 4), (64, 2, 2), (64, 1, 1)]


@pytest.mark.parametrize("make", [full_adapter_sd, light_adapter_sd], ids=["full", "light"])
def test_adapter_changes_the_unet_output(tmp_path, unet, make):
    adapter = _load(tmp_path, make())
    x, sigma, context, hint = _inputs()
    control = adapter.apply(hint, 1.0).get_control(x, sigma, {"c_crossattn": context, "y": None}, 1)
    assert not torch.allclose(_unet_out(unet, x, sigma, context, control), _unet_out(unet, x, sigma, context, None))


def test_adapter_strength_zero_equals_no_adapter(tmp_path, unet):
    adapter = _load(tmp_path, full_adapter_sd())
    x, sigma, context, hint = _inputs()
    control = adapter.apply(hint, 0.0).get_control(x, sigma, {"c_crossattn": context, "y": None}, 1)
    assert torch.equal(_unet_out(unet, x, sigma, context, control), _unet_out(unet, x, sigma, context, None))


def test_adapter_features_scale_with_strength_and_land_after_each_level(tmp_path, unet):
    adapter = _load(tmp_path, full_adapter_sd())
    x, sigma, context, hint = _inputs()
    half = adapter.apply(hint, 0.5).get_control(x, sigma, {"c_crossattn": context, "y": None}, 1)["adapter"]
    full = adapter.apply(hint, 1.0).get_control(x, sigma, {"c_crossattn": context, "y": None}, 1)["adapter"]
    assert all(torch.allclose(2 * a, b) for a, b in zip(half, full))
    assert unet.level_ends == [1, 3]  # tiny U-Net: conv_in, res, downsample, res


def test_one_channel_adapter_reads_the_luma_of_the_hint(tmp_path, unet):
    adapter = _load(tmp_path, full_adapter_sd(hint_channels=1))
    assert adapter.model.hint_channels == 1
    x, sigma, context, hint = _inputs()
    control = adapter.apply(hint, 1.0).get_control(x, sigma, {"c_crossattn": context, "y": None}, 1)
    assert control["adapter"][0].shape == (2, 32, 8, 8)


def test_adapter_chains_with_a_controlnet(tmp_path, unet):
    from .conftest import tiny_controlnet_state_dict
    from safetensors.torch import save_file

    save_file(tiny_controlnet_state_dict(), str(tmp_path / "cn.safetensors"))
    cn = load_controlnet(tmp_path / "cn.safetensors")
    adapter = _load(tmp_path, full_adapter_sd())
    x, sigma, context, hint = _inputs()
    chained = adapter.apply(hint, 1.0, previous=cn.apply(hint, 1.0))
    control = chained.get_control(x, sigma, {"c_crossattn": context, "y": None}, 1)
    assert set(control) == {"input", "middle", "adapter"}


def test_sdxl_adapter_is_refused_by_name(tmp_path):
    sd = full_adapter_sd()
    sd["adapter.conv_in.weight"] = torch.zeros(32, 768, 3, 3)
    with pytest.raises(ValueError, match="SDXL T2I-Adapter"):
        _load(tmp_path, sd)
