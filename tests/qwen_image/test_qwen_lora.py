"""Lightning-style LoRAs on Qwen-Image through LoraLoaderModelOnly: PEFT, diffusers and kohya names merge exactly."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from core.models.tiny import QWEN_LORA_TARGETS, tiny_qwen_image_lora_state_dict, write_tiny_qwen_image


@pytest.fixture()
def qwen_model(tmp_path, cpu_fp32):
    from core.models.checkpoint import load_unet

    return load_unet(write_tiny_qwen_image(tmp_path / "qwen_image_fp8_e4m3fn.safetensors", seed=1))


@pytest.mark.parametrize("style", ["peft", "diffusers", "kohya"])
def test_every_module_of_the_lora_is_applied(qwen_model, style):
    from core.models.lora import load_lora_for_models

    lora = tiny_qwen_image_lora_state_dict(seed=2, style=style)
    patched, _, unmatched = load_lora_for_models(qwen_model, None, lora, 0.8, 0.0)
    assert unmatched == []
    assert len(patched.patches) == 2 * len(QWEN_LORA_TARGETS)


@pytest.mark.parametrize("style", ["peft", "kohya"])
def test_merged_weight_is_w_plus_scaled_up_down(qwen_model, style):
    from core import devices
    from core.models.lora import load_lora_for_models

    lora = tiny_qwen_image_lora_state_dict(seed=3, style=style)
    patched, _, _ = load_lora_for_models(qwen_model, None, lora, 0.5, 0.0)
    original = qwen_model.unet.transformer_blocks[1].attn.add_k_proj.weight.clone()
    name = "transformer_blocks.1.attn.add_k_proj"
    if style == "kohya":
        kname = "lora_unet_" + name.replace(".", "_")
        up, down, scale = lora[kname + ".lora_up.weight"], lora[kname + ".lora_down.weight"], 2 / 4
    else:
        up, down, scale = lora[name + ".lora_B.weight"], lora[name + ".lora_A.weight"], 1.0
    with devices.manager.activate(patched):
        merged = patched.unet.transformer_blocks[1].attn.add_k_proj.weight.clone()
    assert torch.allclose(merged, original + 0.5 * scale * up @ down, atol=1e-6)
    assert torch.equal(qwen_model.unet.transformer_blocks[1].attn.add_k_proj.weight, original)  # restored


def test_lora_loader_model_only_node_changes_the_velocity(qwen_model, tmp_path, folders):
    from core import devices
    from core.models.tiny import write_tiny_qwen_image_lora
    from nodes.lora import LoraLoaderModelOnly

    write_tiny_qwen_image_lora(Path(folders.folder_paths("loras")[0]) / "Qwen-Image-Lightning-8steps-V1.0.safetensors")
    (patched,) = LoraLoaderModelOnly().execute(qwen_model, "Qwen-Image-Lightning-8steps-V1.0.safetensors", 1.0)
    g = torch.Generator().manual_seed(0)
    x, ctx = torch.randn(1, 16, 4, 4, generator=g), torch.randn(1, 5, 64, generator=g)
    t = torch.tensor([0.5])
    with torch.no_grad():
        with devices.manager.activate(qwen_model):
            base = qwen_model.unet(x, t, ctx)
        with devices.manager.activate(patched):
            lora = patched.unet(x, t, ctx)
    assert float((lora - base).abs().max()) > 1e-3
