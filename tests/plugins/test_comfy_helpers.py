"""Helper functions packs call from comfy.utils, node_helpers, comfy.cli_args, comfy.ops and patch formats."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def compat_path():
    from core.compat import ensure_on_path

    ensure_on_path()


def test_tiled_scale_multidim_equals_the_whole_image_result():
    import comfy.utils
    import torch

    x = torch.rand(2, 3, 40, 56, generator=torch.Generator().manual_seed(0))
    up = lambda t: torch.nn.functional.interpolate(t, scale_factor=2, mode="nearest")  # noqa: E731
    tiled = comfy.utils.tiled_scale_multidim(x, up, tile=(16, 16), overlap=4, upscale_amount=2, out_channels=3)
    assert tiled.shape == (2, 3, 80, 112)
    assert torch.allclose(tiled, up(x), atol=1e-6)


def test_state_dict_prefix_replace_filters_and_renames():
    import comfy.utils

    sd = {"first_stage_model.a": 1, "first_stage_model.b": 2, "model.c": 3}
    out = comfy.utils.state_dict_prefix_replace(sd, {"first_stage_model.": "vae."}, filter_keys=True)
    assert out == {"vae.a": 1, "vae.b": 2}


def test_save_and_load_torch_file_round_trip(tmp_path):
    import comfy.utils
    import torch

    comfy.utils.save_torch_file({"w": torch.arange(4.0)}, tmp_path / "x.safetensors", metadata={"k": "v"})
    sd, meta = comfy.utils.load_torch_file(str(tmp_path / "x.safetensors"), return_metadata=True)
    assert torch.equal(sd["w"], torch.arange(4.0)) and meta["k"] == "v"


def test_conditioning_set_values_appends_lists_when_asked():
    import node_helpers
    import torch

    cond = [[torch.zeros(1), {"hooks": [1]}]]
    out = node_helpers.conditioning_set_values(cond, {"hooks": [2]}, append=True)
    assert out[0][1]["hooks"] == [1, 2] and cond[0][1]["hooks"] == [1]


def test_cli_args_reads_parsed_flags_and_comfyui_defaults():
    import comfy.cli_args
    from core.cli import flags

    flags.parse_args(["serve", "--preview-method", "latent2rgb", "--port", "8200"])
    try:
        assert comfy.cli_args.args.preview_method == comfy.cli_args.LatentPreviewMethod.Latent2RGB
        assert comfy.cli_args.args.port == 8200
        assert comfy.cli_args.args.default_hashing_function == "sha256"  # a ComfyUI flag we lack: its default
    finally:
        flags.current = None


def test_manual_cast_layers_cast_weights_to_the_input():
    import comfy.ops
    import torch

    layer = comfy.ops.manual_cast.Linear(4, 2)
    assert layer(torch.ones(3, 4, dtype=torch.float64)).dtype == torch.float64


@pytest.mark.parametrize("patch", ["tensor", "tuple", "diff"])
def test_comfyui_patch_formats_become_weight_differences(patch):
    import torch

    from core.models.patcher import as_patch

    diff = torch.full((2, 2), 0.5)
    value = {"tensor": diff, "tuple": (diff,), "diff": ("diff", (diff,))}[patch]
    assert torch.equal(as_patch(value).delta(torch.zeros(2, 2)), diff)


def test_comfyui_lora_tuple_is_a_low_rank_patch():
    import torch

    from core.models.patcher import as_patch

    up, down = torch.ones(3, 1), torch.ones(1, 2)
    delta = as_patch(("lora", (up, down, 2.0, None, None))).delta(torch.zeros(3, 2))
    assert torch.allclose(delta, torch.full((3, 2), 2.0))  # alpha / rank = 2


def test_unsupported_patch_kinds_name_the_kind():
    import torch

    from core.models.patcher import as_patch

    with pytest.raises(TypeError, match="'glora'"):
        as_patch(("glora", (torch.zeros(1),)))
