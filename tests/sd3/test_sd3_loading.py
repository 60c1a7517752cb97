"""Tiny SD3.5 files loaded as users load them: UNETLoader (diffusion_models) and CheckpointLoaderSimple."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture()
def sd3_file(folders):
    from core.models.tiny import write_tiny_sd3

    def write(name: str, variant: str = "sd35_large", folder: str = "diffusion_models", **kw):
        write_tiny_sd3(folders.base / "models" / folder / name, variant, **kw)
        return name

    return write


@pytest.mark.parametrize("variant", ["sd35_large", "sd35_medium", "sd3_medium"])
def test_unetloader_loads_sd3_as_a_flow_model_with_shift_3(cpu_fp32, sd3_file, variant):
    from core.models.latent_formats import SD3
    from core.models.mmdit import MMDiT
    from core.sampling.model_sampling import FlowSchedule
    from nodes.loaders import UNETLoader

    (model,) = UNETLoader().execute(sd3_file(f"{variant}.safetensors", variant, unet_only=True), "default")
    assert isinstance(model.unet, MMDiT)
    assert (model.config.family, model.config.prediction, model.config.extra["variant"]) == ("sd3", "flow", variant)
    assert isinstance(model.model_sampling, FlowSchedule)
    assert (model.model_sampling.shift, model.model_sampling.multiplier) == (3.0, 1000.0)
    assert model.latent_format is SD3 and model.latent_format.latent_channels == 16


def test_medium_file_builds_mmdit_x_blocks(cpu_fp32, sd3_file):
    from nodes.loaders import UNETLoader

    (model,) = UNETLoader().execute(sd3_file("sd3.5_medium.safetensors", "sd35_medium", unet_only=True), "default")
    blocks = model.unet.joint_blocks
    assert [hasattr(b.x_block, "attn2") for b in blocks] == [True, True, False]


def test_checkpoint_loads_the_model_from_model_diffusion_model(cpu_fp32, sd3_file, folders):
    from core.models.checkpoint import load_checkpoint
    from core.models.mmdit import MMDiT

    name = sd3_file("sd3.5_large_fp8_scaled.safetensors", folder="checkpoints")
    path = folders.get_full_path_or_raise("checkpoints", name)
    model, clip, vae = load_checkpoint(path, output_clip=False, output_vae=False)
    assert isinstance(model.unet, MMDiT) and model.config.family == "sd3"
    assert model.config.extra["unet_prefix"] == "model.diffusion_model."


def test_bundled_text_encoders_without_sd3_support_give_a_clip_that_says_why(cpu_fp32, tmp_path):
    from core.models import text_encoder
    from core.models.checkpoint import MissingClip, load_checkpoint
    from core.models.tiny import _clip_l, _init, tiny_sd3_state_dict
    from core.models.weights import save_safetensors

    sd, meta = tiny_sd3_state_dict("sd35_large")
    sd.update(_init(_clip_l("text_encoders.clip_l.transformer."), torch.Generator().manual_seed(3)))
    path = save_safetensors(sd, tmp_path / "sd3.5_large.safetensors", meta)
    model, clip, _ = load_checkpoint(path, output_vae=False)
    assert model.config.text_encoders == ("clip_l",)
    landed = {*getattr(text_encoder, "FAMILIES", {}), *getattr(text_encoder, "BUNDLED_FAMILIES", {})}
    if "sd3" in landed:  # the SD3 text encoders have landed (core/models/dit_text.py)
        assert not isinstance(clip, MissingClip)
        assert [enc.role.name for enc in clip.encoders] == ["l"]
    else:
        assert isinstance(clip, MissingClip)
        with pytest.raises(RuntimeError, match="TripleCLIPLoader"):
            clip.tokenize("a cat")


def test_conditioning_of_the_wrong_width_is_refused_with_the_widths(cpu_fp32, sd3_file):
    from nodes.loaders import UNETLoader

    (model,) = UNETLoader().execute(sd3_file("sd3.safetensors", unet_only=True), "default")
    x = torch.zeros(1, 16, 4, 4)
    with pytest.raises(ValueError, match="text conditioning is 768 wide, the model takes 4096"):
        model.unet(x, torch.tensor([500.0]), torch.zeros(1, 3, 768), torch.zeros(1, 2048))


def test_template_files_are_written_under_the_names_the_templates_use(cpu_fp32, folders):
    from core.models.controlnet import load_controlnet
    from core.models.detection import detect
    from core.models.tiny import write_sd3_template_files
    from core.models.weights import load_file

    write_sd3_template_files(folders.base / "models")
    assert "sd3.5_large_fp8_scaled.safetensors" in folders.get_filename_list("checkpoints")
    sd, _ = load_file(folders.get_full_path_or_raise("checkpoints", "sd3.5_large_fp8_scaled.safetensors"))
    assert detect(sd).extra["variant"] == "sd35_large"
    for kind in ("blur", "canny", "depth"):
        handle = load_controlnet(folders.get_full_path_or_raise("controlnet", f"sd3.5_large_controlnet_{kind}.safetensors"))
        assert handle.kind == kind


def test_standins_provide_sd3_files_for_the_names_workflows_use(cpu_fp32, tmp_path):
    from core.models.controlnet import load_controlnet
    from core.models.detection import detect
    from core.models.standins import provision
    from core.models.weights import load_file

    prompt = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd3.5_large_fp8_scaled.safetensors"}},
              "2": {"class_type": "UNETLoader", "inputs": {"unet_name": "sd3.5_medium.safetensors"}},
              "3": {"class_type": "ControlNetLoader", "inputs": {"control_net_name": "sd3.5_large_controlnet_depth.safetensors"}}}
    assert provision(prompt, tmp_path) == []
    models = tmp_path / "models"
    ckpt, _ = load_file(models / "checkpoints" / "sd3.5_large_fp8_scaled.safetensors")
    unet, _ = load_file(models / "diffusion_models" / "sd3.5_medium.safetensors")
    assert detect(ckpt).extra["variant"] == "sd35_large" and "first_stage_model.decoder.conv_in.weight" in ckpt
    assert detect(unet).extra["variant"] == "sd35_medium" and detect(unet).extra["unet_prefix"] == ""
    assert load_controlnet(models / "controlnet" / "sd3.5_large_controlnet_depth.safetensors").kind == "depth"
