"""Workflows naming the FLUX / SD3.5 text-encoder files get tiny stand-ins that load as those towers."""
import torch

from core.models.dit_text_loaders import tower_kind
from core.models.standins import provision
from core.models.weights import load_file


def test_template_text_encoder_names_get_tiny_towers_of_the_right_kind(tmp_path):
    prompt = {
        "1": {"class_type": "DualCLIPLoader",
              "inputs": {"clip_name1": "clip_l.safetensors", "clip_name2": "t5xxl_fp8_e4m3fn_scaled.safetensors",
                         "type": "flux"}},
        "2": {"class_type": "TripleCLIPLoader",
              "inputs": {"clip_name1": "clip_g.safetensors", "clip_name2": "clip_l.safetensors",
                         "clip_name3": "t5xxl_fp16.safetensors"}},
    }
    assert provision(prompt, tmp_path) == []
    folder = tmp_path / "models" / "text_encoders"
    kinds = {f.name: tower_kind(load_file(f)[0]) for f in folder.iterdir()}
    assert kinds == {"clip_l.safetensors": "l", "clip_g.safetensors": "g", "t5xxl_fp16.safetensors": "t5xxl",
                     "t5xxl_fp8_e4m3fn_scaled.safetensors": "t5xxl"}
    fp8 = load_file(folder / "t5xxl_fp8_e4m3fn_scaled.safetensors")[0]
    assert fp8["encoder.block.0.layer.0.SelfAttention.q.weight"].dtype == torch.float8_e4m3fn
