"""LoRA on fp8-stored layers: patches are applied to the upcast weight at cast time (exactly: float32, one
rounding), never merged into the 8-bit storage, and detached when the model is released."""
from __future__ import annotations

import pytest
import torch

from core import devices
from core.models.handles import ModelHandle
from fp8_toys import inputs, tiny_flux, write

CPU = torch.device("cpu")
QKV = "model.diffusion_model.double_blocks.0.img_attn.qkv"
LINEAR1 = "model.diffusion_model.single_blocks.1.linear1"


@pytest.fixture()
def fp8_model(tmp_path, cpu_fp32):
    from core.models.checkpoint import load_unet

    return load_unet(write(tiny_flux().state_dict(), tmp_path / "flux.safetensors"), weight_dtype="fp8_e4m3fn")


def lora(rows: int, cols: int, seed: int, rank: int = 4):
    g = torch.Generator().manual_seed(seed)
    return 1.0, torch.randn(rows, rank, generator=g) * 0.05, torch.randn(rank, cols, generator=g) * 0.05


def patches_for(model) -> dict:
    qkv, lin1 = model.unet.double_blocks[0].img_attn.qkv, model.unet.single_blocks[1].linear1
    return {QKV + ".weight": lora(*qkv.weight.shape, seed=1), LINEAR1 + ".weight": lora(*lin1.weight.shape, seed=2),
            QKV + ".bias": torch.full(qkv.bias.shape, 0.01)}  # a bias: merged in place as usual


def run(handle):
    with devices.manager.activate(handle, CPU), torch.no_grad():
        return handle.unet(*inputs())


def test_cast_weight_is_the_stored_weight_plus_the_lora_delta(fp8_model):
    strength, up, down = patch = lora(*fp8_model.unet.double_blocks[0].img_attn.qkv.weight.shape, seed=1)
    fp8_model.add_patches({QKV + ".weight": patch})
    layer = fp8_model.unet.double_blocks[0].img_attn.qkv
    with devices.manager.activate(fp8_model, CPU):
        got = layer.cast_weight(torch.float32, CPU)
    expected = layer.weight.float() + strength * up @ down
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)


def test_lora_on_fp8_equals_lora_merged_into_the_dequantized_float32_model(fp8_model):
    dequantized = tiny_flux()
    dequantized.load_state_dict({k: v.float() for k, v in fp8_model.unet.state_dict().items()})
    reference = ModelHandle(dequantized, fp8_model.config, fp8_model.latent_format)
    patches = patches_for(fp8_model)
    fp8_model.add_patches(patches)
    reference.add_patches(patches)
    torch.testing.assert_close(run(fp8_model), run(reference), atol=1e-5, rtol=1e-5)


def test_lora_changes_the_output_of_an_fp8_model(fp8_model):
    plain = run(fp8_model)
    patched = fp8_model.clone()
    patched.add_patches(patches_for(fp8_model))
    assert (run(patched) - plain).abs().mean() > 1e-3 * plain.abs().mean()


def test_strength_model_scales_the_upcast_weight(fp8_model):
    layer = fp8_model.unet.double_blocks[0].img_attn.qkv
    fp8_model.add_patches({QKV + ".weight": lora(*layer.weight.shape, seed=3)}, strength_patch=0.0,
                          strength_model=0.5)
    with devices.manager.activate(fp8_model, CPU):
        got = layer.cast_weight(torch.float32, CPU)
    torch.testing.assert_close(got, 0.5 * layer.weight.float(), atol=1e-7, rtol=0)


def test_after_use_the_8_bit_weights_are_untouched_and_patches_detached(fp8_model):
    layer = fp8_model.unet.double_blocks[0].img_attn.qkv
    stored = layer.weight.detach().view(torch.uint8).clone()
    bias = layer.bias.detach().clone()
    fp8_model.add_patches(patches_for(fp8_model))
    run(fp8_model)
    assert layer.patches is None
    assert torch.equal(layer.weight.view(torch.uint8), stored)
    assert torch.equal(layer.bias, bias)  # the merged bias came back bit for bit
    assert layer.weight.dtype == torch.float8_e4m3fn
