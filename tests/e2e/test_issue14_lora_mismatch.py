"""A LoRA whose shapes do not fit the model: the weights that do not fit are skipped with a warning that
names them, the rest apply, and sampling runs (instead of a matmul error deep inside the patcher)."""
import logging

import pytest
import torch

from core.models.lora import key_map, load_lora_for_models, patch_fits
from core.models.lora_formats import LoraPatch
from tests.lora.lora_testfiles import kohya_lora_for

UNET = "model.diffusion_model."
TO_K = "input_blocks.3.1.transformer_blocks.0.attn2.to_k.weight"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from core.models.checkpoint import load_checkpoint
    from core.models.tiny import write_tiny_checkpoint

    out = {}
    for family in ("sd15", "sdxl"):
        path = write_tiny_checkpoint(tmp_path_factory.mktemp(family) / f"{family}.safetensors", family)
        out[family] = load_checkpoint(path, output_vae=False, unet_dtype=torch.float32, clip_dtype=torch.float32)[:2]
    return out


def lora_for(model, clip, seed=0):
    shapes = {UNET + k: tuple(v.shape) for k, v in model.unet.state_dict().items()}
    shapes.update({k: tuple(v.shape) for k, v in clip.state_dict().items()})
    return kohya_lora_for(shapes, key_map(shapes), "lora_unet_", seed=seed)


def test_patch_fits_checks_the_factors_against_the_weight_shape():
    patch = LoraPatch(up=torch.zeros(64, 4), down=torch.zeros(4, 32))
    assert patch_fits(patch, (64, 32))
    assert not patch_fits(patch, (64, 64))
    assert not patch_fits(patch, (32, 64))


def test_an_sdxl_lora_on_an_sd15_model_skips_the_weights_that_do_not_fit(tiny, caplog):
    sd15_model, sd15_clip = tiny["sd15"]
    lora = lora_for(*tiny["sdxl"])  # cross-attention keys take SDXL's wider context
    with caplog.at_level(logging.WARNING):
        patched, _, _ = load_lora_for_models(sd15_model, None, lora, 1.0, 1.0, name="LoraLoader 'xl.safetensors'")
    assert UNET + TO_K not in patched.patches
    assert any(k.endswith("attn1.to_q.weight") for k in patched.patches)  # what fits still applies
    assert "LoraLoader 'xl.safetensors'" in caplog.text and TO_K in caplog.text
    assert "model weight (64, 32)" in caplog.text


def test_sampling_with_a_mismatched_lora_runs(tiny):
    from nodes.latent import EmptyLatentImage
    from nodes.sampling import KSampler

    sd15_model, sd15_clip = tiny["sd15"]
    patched, _, _ = load_lora_for_models(sd15_model, None, lora_for(*tiny["sdxl"]), 1.0, 1.0)
    latent = EmptyLatentImage().execute(64, 64, 1)[0]
    pos, neg = sd15_clip.encode("a red house"), sd15_clip.encode("blurry")
    out = KSampler().execute(patched, 1, 2, 7.0, "euler", "normal", pos, neg, latent, 1.0)[0]["samples"]
    assert out.shape == (1, 4, 8, 8) and torch.isfinite(out).all()
