"""LoRA files in the FLUX.1 dialects merged into a tiny FLUX: each equals W + (alpha / rank) * up @ down put
into the rows this test names by hand (q/k/v of diffusers' names are row ranges of BFL's fused weights)."""
from __future__ import annotations

import logging

import pytest
import torch

from tests.flux.flux_testing import flux_handle, tiny_flux, tiny_flux_config

HIDDEN, MLP = 64, 256  # the tiny config: hidden 64, mlp_ratio 4
ALPHA, RANK = 4.0, 2


def lowrank(rows: int, cols: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(RANK, cols, generator=g) * 0.3, torch.randn(rows, RANK, generator=g) * 0.3  # down, up


def write_lora(modules: dict, style: str) -> dict:
    """``{module name: (rows, cols)}`` -> a LoRA state dict with the suffixes of ``style``."""
    down_sfx, up_sfx = {"kohya": (".lora_down.weight", ".lora_up.weight"),
                        "peft": (".lora_A.weight", ".lora_B.weight")}[style]
    sd = {}
    for i, (name, (rows, cols)) in enumerate(modules.items()):
        down, up = lowrank(rows, cols, seed=i)
        sd[name + down_sfx], sd[name + up_sfx] = down, up
        sd[name + ".alpha"] = torch.tensor(ALPHA)
    return sd


def delta(sd: dict, name: str) -> torch.Tensor:
    for down_sfx, up_sfx in ((".lora_down.weight", ".lora_up.weight"), (".lora_A.weight", ".lora_B.weight")):
        if name + down_sfx in sd:
            return ALPHA / RANK * sd[name + up_sfx] @ sd[name + down_sfx]
    raise KeyError(name)


@pytest.fixture()
def flux_model():
    config = tiny_flux_config()
    return flux_handle(tiny_flux(config, seed=8), config)


def merged(model, lora: dict, strength: float = 1.0):
    from core import devices
    from core.models.lora import load_lora_for_models

    patched, _, unmatched = load_lora_for_models(model, None, lora, strength, 1.0)
    with devices.manager.activate(patched):
        weights = {k: v.detach().clone() for k, v in patched.unet.state_dict().items()}
    return weights, unmatched


def base(model) -> dict:
    return {k: v.detach().clone() for k, v in model.unet.state_dict().items()}


def test_kohya_names_of_bfl_modules_patch_whole_weights(cpu_fp32, flux_model):
    lora = write_lora({"lora_unet_double_blocks_0_img_attn_qkv": (3 * HIDDEN, HIDDEN),
                       "lora_unet_single_blocks_1_linear1": (3 * HIDDEN + MLP, HIDDEN),
                       "lora_unet_final_layer_adaLN_modulation_1": (2 * HIDDEN, HIDDEN),
                       "lora_unet_txt_in": (HIDDEN, 20)}, "kohya")
    before = base(flux_model)
    got, unmatched = merged(flux_model, lora, 0.7)
    assert unmatched == []
    for name, key in (("lora_unet_double_blocks_0_img_attn_qkv", "double_blocks.0.img_attn.qkv.weight"),
                      ("lora_unet_single_blocks_1_linear1", "single_blocks.1.linear1.weight"),
                      ("lora_unet_final_layer_adaLN_modulation_1", "final_layer.adaLN_modulation.1.weight"),
                      ("lora_unet_txt_in", "txt_in.weight")):
        assert torch.allclose(got[key], before[key] + 0.7 * delta(lora, name), atol=1e-6), key
    untouched = "double_blocks.1.img_attn.qkv.weight"
    assert torch.equal(got[untouched], before[untouched])


def test_bfl_comfyui_names_with_peft_suffixes(cpu_fp32, flux_model):
    lora = write_lora({"diffusion_model.double_blocks.1.txt_mlp.0": (MLP, HIDDEN),
                       "diffusion_model.single_blocks.0.linear2": (HIDDEN, HIDDEN + MLP)}, "peft")
    before = base(flux_model)
    got, unmatched = merged(flux_model, lora)
    assert unmatched == []
    for name, key in (("diffusion_model.double_blocks.1.txt_mlp.0", "double_blocks.1.txt_mlp.0.weight"),
                      ("diffusion_model.single_blocks.0.linear2", "single_blocks.0.linear2.weight")):
        assert torch.allclose(got[key], before[key] + delta(lora, name), atol=1e-6), key


# diffusers name -> (BFL weight, first row, rows): q/k/v and the MLP input are slices of fused weights
DIFFUSERS_SLICES = {
    "transformer_blocks.0.attn.to_q": ("double_blocks.0.img_attn.qkv.weight", 0, HIDDEN),
    "transformer_blocks.0.attn.to_k": ("double_blocks.0.img_attn.qkv.weight", HIDDEN, HIDDEN),
    "transformer_blocks.1.attn.to_v": ("double_blocks.1.img_attn.qkv.weight", 2 * HIDDEN, HIDDEN),
    "transformer_blocks.1.attn.add_k_proj": ("double_blocks.1.txt_attn.qkv.weight", HIDDEN, HIDDEN),
    "transformer_blocks.0.attn.to_out.0": ("double_blocks.0.img_attn.proj.weight", 0, HIDDEN),
    "transformer_blocks.0.attn.to_add_out": ("double_blocks.0.txt_attn.proj.weight", 0, HIDDEN),
    "transformer_blocks.1.ff_context.net.2": ("double_blocks.1.txt_mlp.2.weight", 0, HIDDEN),
    "transformer_blocks.0.norm1_context.linear": ("double_blocks.0.txt_mod.lin.weight", 0, 6 * HIDDEN),
    "single_transformer_blocks.0.attn.to_q": ("single_blocks.0.linear1.weight", 0, HIDDEN),
    "single_transformer_blocks.0.attn.to_v": ("single_blocks.0.linear1.weight", 2 * HIDDEN, HIDDEN),
    "single_transformer_blocks.1.proj_mlp": ("single_blocks.1.linear1.weight", 3 * HIDDEN, MLP),
    "single_transformer_blocks.1.proj_out": ("single_blocks.1.linear2.weight", 0, HIDDEN),
    "single_transformer_blocks.1.norm.linear": ("single_blocks.1.modulation.lin.weight", 0, 3 * HIDDEN),
    "x_embedder": ("img_in.weight", 0, HIDDEN),
    "time_text_embed.guidance_embedder.linear_1": ("guidance_in.in_layer.weight", 0, HIDDEN),
    "time_text_embed.text_embedder.linear_2": ("vector_in.out_layer.weight", 0, HIDDEN),
    "proj_out": ("final_layer.linear.weight", 0, 64),
}


def _cols(key: str, weights: dict) -> int:
    return weights[key].shape[1]


@pytest.mark.parametrize("prefix, flat", [("transformer.", False), ("lycoris_", True), ("lora_transformer_", True),
                                          ("", False)])
def test_diffusers_names_patch_their_rows_of_the_fused_bfl_weights(cpu_fp32, flux_model, prefix, flat):
    before = base(flux_model)
    names = {prefix + (d.replace(".", "_") if flat else d): (rows, _cols(key, before))
             for d, (key, _, rows) in DIFFUSERS_SLICES.items()}
    lora = write_lora(names, "peft" if not flat else "kohya")
    got, unmatched = merged(flux_model, lora)
    assert unmatched == []
    expected = dict(before)
    for d, (key, start, rows) in DIFFUSERS_SLICES.items():
        w = expected[key].clone()
        w[start:start + rows] += delta(lora, prefix + (d.replace(".", "_") if flat else d))
        expected[key] = w
    for key in {k for k, _, _ in DIFFUSERS_SLICES.values()}:
        assert torch.allclose(got[key], expected[key], atol=1e-6), key


def test_diffusers_final_norm_patch_lands_on_bfls_swapped_shift_and_scale(cpu_fp32, flux_model):
    before = base(flux_model)
    lora = write_lora({"transformer.norm_out.linear": (2 * HIDDEN, HIDDEN)}, "peft")
    got, unmatched = merged(flux_model, lora)
    key = "final_layer.adaLN_modulation.1.weight"
    d = delta(lora, "transformer.norm_out.linear")  # rows: diffusers' (scale, shift)
    assert unmatched == []
    assert torch.allclose(got[key][:HIDDEN], before[key][:HIDDEN] + d[HIDDEN:], atol=1e-6)  # BFL shift
    assert torch.allclose(got[key][HIDDEN:], before[key][HIDDEN:] + d[:HIDDEN], atol=1e-6)  # BFL scale


def test_linear1_qkv_name_patches_only_the_qkv_rows(cpu_fp32, flux_model):
    before = base(flux_model)
    lora = write_lora({"single_blocks.0.linear1_qkv": (3 * HIDDEN, HIDDEN)}, "kohya")
    got, unmatched = merged(flux_model, lora)
    key = "single_blocks.0.linear1.weight"
    assert unmatched == []
    assert torch.allclose(got[key][:3 * HIDDEN], before[key][:3 * HIDDEN] + delta(lora, "single_blocks.0.linear1_qkv"),
                          atol=1e-6)
    assert torch.equal(got[key][3 * HIDDEN:], before[key][3 * HIDDEN:])


def test_diffusers_lora_changes_the_output_as_the_merged_weights_do(cpu_fp32, flux_model):
    """The patched model runs: a to_q LoRA at strength 0 leaves the output, at 1 changes it."""
    from core import devices
    from core.models.lora import load_lora_for_models

    lora = write_lora({"transformer.transformer_blocks.0.attn.to_q": (HIDDEN, HIDDEN)}, "peft")
    x, t, ctx, y = torch.randn(1, 16, 4, 4), torch.tensor([0.5]), torch.randn(1, 3, 20), torch.randn(1, 13)
    outs = []
    for strength in (0.0, 1.0):
        patched, _, _ = load_lora_for_models(flux_model, None, lora, strength, 1.0)
        with devices.manager.activate(patched), torch.no_grad():
            outs.append(patched.unet(x, t, ctx, y=y))
    with torch.no_grad():
        plain = flux_model.unet(x, t, ctx, y=y)
    assert torch.equal(outs[0], plain) and not torch.allclose(outs[1], plain, atol=1e-4)


def test_a_lora_for_another_width_warns_naming_the_keys_and_skips_them(cpu_fp32, flux_model, caplog):
    before = base(flux_model)
    lora = write_lora({"transformer.transformer_blocks.0.attn.to_q": (2 * HIDDEN, 2 * HIDDEN),  # a wider FLUX
                       "transformer.transformer_blocks.0.attn.to_k": (HIDDEN, HIDDEN)}, "peft")
    with caplog.at_level(logging.WARNING):
        got, _ = merged(flux_model, lora)
    assert "model.diffusion_model.double_blocks.0.img_attn.qkv.weight" in caplog.text
    assert "do not fit" in caplog.text
    key = "double_blocks.0.img_attn.qkv.weight"
    assert torch.equal(got[key][:HIDDEN], before[key][:HIDDEN])


def test_names_of_no_flux_module_are_reported(cpu_fp32, flux_model, caplog):
    lora = write_lora({"transformer.transformer_blocks.7.attn.to_q": (HIDDEN, HIDDEN),
                       "lora_unet_double_blocks_0_img_attn_qkv": (3 * HIDDEN, HIDDEN)}, "kohya")
    with caplog.at_level(logging.WARNING):
        _, unmatched = merged(flux_model, lora)
    assert unmatched == ["transformer.transformer_blocks.7.attn.to_q"]
    assert "transformer.transformer_blocks.7.attn.to_q" in caplog.text
