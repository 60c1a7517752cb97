"""Qwen-Image files: detection from shapes, UNETLoader's load into a flow ModelHandle with ComfyUI's defaults."""
from __future__ import annotations

import pytest
import torch

from core.models import detection
from core.models.tiny import tiny_qwen_image_config, tiny_qwen_image_state_dict, write_tiny_qwen_image


@pytest.mark.parametrize("prefix", ["", "model.diffusion_model."])
def test_detection_reads_the_config_from_shapes(prefix):
    config = tiny_qwen_image_config(num_layers=3)
    sd = {prefix + k: v for k, v in tiny_qwen_image_state_dict(config).items()}
    found = detection.detect(sd)
    assert found.family == "qwen_image" and found.prediction == "flow"
    assert found.unet == config
    assert found.extra["unet_prefix"] == prefix
    assert found.in_channels == 16


def test_detection_of_the_full_size_layout_gives_the_release_config():
    from core.models.qwen_image import QwenImageConfig, QwenImageTransformer

    with torch.device("meta"):
        sd = QwenImageTransformer(QwenImageConfig()).state_dict()
    assert detection.detect(sd).unet == QwenImageConfig()


def test_flux_and_unet_files_are_not_taken_for_qwen_image():
    from core.models.tiny import tiny_state_dict

    sd, _ = tiny_state_dict("sd15")
    assert detection.detect(sd).family == "sd1"


def test_load_unet_gives_a_flow_model_with_comfyui_defaults(tmp_path, cpu_fp32):
    from core.models.checkpoint import load_unet
    from core.models.latent_formats import WAN21
    from core.sampling.model_sampling import FlowSchedule

    path = write_tiny_qwen_image(tmp_path / "qwen_image_fp8_e4m3fn.safetensors", seed=4)
    model = load_unet(path)
    assert model.config.family == "qwen_image"
    assert model.latent_format is WAN21
    sampling = model.model_sampling
    assert isinstance(sampling, FlowSchedule) and sampling.shift == 1.15 and sampling.multiplier == 1.0
    want = tiny_qwen_image_state_dict(seed=4)
    got = model.unet.state_dict()
    assert set(got) == set(want)
    assert all(torch.equal(got[k], want[k]) for k in want)


def test_an_fp8_stored_file_loads_at_the_compute_precision(tmp_path, cpu_fp32):
    from core.models.checkpoint import load_unet
    from core.models.weights import save_safetensors

    sd = {k: v.to(torch.float8_e4m3fn) if v.ndim == 2 else v for k, v in tiny_qwen_image_state_dict().items()}
    model = load_unet(save_safetensors(sd, tmp_path / "q.safetensors"))
    w = model.unet.transformer_blocks[0].attn.to_q.weight
    assert w.dtype == torch.float32
    assert torch.equal(w, sd["transformer_blocks.0.attn.to_q.weight"].float())


def test_full_size_transformer_equals_the_qwen_image_manifest():
    from core.models.qwen_image import QwenImageConfig, QwenImageTransformer
    from tests import testdata

    manifest = testdata.manifest("qwen_image")
    with torch.device("meta"):
        net = QwenImageTransformer(QwenImageConfig())
    ours = {k: list(v.shape) for k, v in net.state_dict().items()}
    assert ours == manifest["keys"]
    assert sum(p.numel() for p in net.parameters()) == manifest["components"]["transformer"]["params"]


def test_detection_reads_the_published_config_from_the_manifests_shapes():
    from core.models.qwen_image import QwenImageConfig
    from tests import testdata

    shapes = {"model.diffusion_model." + k: tuple(v) for k, v in testdata.manifest("qwen_image")["keys"].items()}
    found = detection.detect(shapes, name="qwen_image_fp8_e4m3fn.safetensors")
    assert (found.family, found.prediction, found.in_channels) == ("qwen_image", "flow", 16)
    assert found.unet == QwenImageConfig()
