"""T2I-Adapters (TencentARC full and light SD1.x layouts) loaded through the ControlNet loader."""
import pytest
import torch

from core.models.controlnet import load_controlnet
from core.models.t2i_adapter import T2IAdapterHandle, is_t2i_adapter
from core.models.unet import UNetModel
from tests.controlnet.control_testnets import (control_inputs, full_adapter_sd, light_adapter_sd,
                                               tiny_controlnet_state_dict, unet_out)


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
    x, sigma, context, hint = control_inputs()
    control = adapter.apply(hint, 1.0).get_control(x, sigma, {"c_crossattn": context, "y": None}, 1)
    assert not torch.allclose(unet_out(unet, x, sigma, context, control), unet_out(unet, x, sigma, context, None))


def test_adapter_strength_zero_equals_no_adapter(tmp_path, unet):
    adapter = _load(tmp_path, full_adapter_sd())
    x, sigma, context, hint = control_inputs()
    control = adapter.apply(hint, 0.0).get_control(x, sigma, {"c_crossattn": context, "y": None}, 1)
    assert torch.equal(unet_out(unet, x, sigma, context, control), unet_out(unet, x, sigma, context, None))


def test_adapter_features_scale_with_strength_and_land_after_each_level(tmp_path, unet):
    adapter = _load(tmp_path, full_adapter_sd())
    x, sigma, context, hint = control_inputs()
    half = adapter.apply(hint, 0.5).get_control(x, sigma, {"c_crossattn": context, "y": None}, 1)["adapter"]
    full = adapter.apply(hint, 1.0).get_control(x, sigma, {"c_crossattn": context, "y": None}, 1)["adapter"]
    assert all(torch.allclose(2 * a, b) for a, b in zip(half, full))
    assert unet.level_ends == [1, 3]  # tiny U-Net: conv_in, res, downsample, res


def test_one_channel_adapter_reads_the_luma_of_the_hint(tmp_path, unet):
    adapter = _load(tmp_path, full_adapter_sd(hint_channels=1))
    assert adapter.model.hint_channels == 1
    x, sigma, context, hint = control_inputs()
    control = adapter.apply(hint, 1.0).get_control(x, sigma, {"c_crossattn": context, "y": None}, 1)
    assert control["adapter"][0].shape == (2, 32, 8, 8)


def test_adapter_chains_with_a_controlnet(tmp_path, unet):
    from safetensors.torch import save_file

    save_file(tiny_controlnet_state_dict(), str(tmp_path / "cn.safetensors"))
    cn = load_controlnet(tmp_path / "cn.safetensors")
    adapter = _load(tmp_path, full_adapter_sd())
    x, sigma, context, hint = control_inputs()
    chained = adapter.apply(hint, 1.0, previous=cn.apply(hint, 1.0))
    control = chained.get_control(x, sigma, {"c_crossattn": context, "y": None}, 1)
    assert set(control) == {"input", "middle", "adapter"}


def test_sdxl_adapter_is_refused_by_name(tmp_path):
    sd = full_adapter_sd()
    sd["adapter.conv_in.weight"] = torch.zeros(32, 768, 3, 3)
    with pytest.raises(ValueError, match="SDXL T2I-Adapter"):
        _load(tmp_path, sd)
