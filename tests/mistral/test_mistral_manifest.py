"""The full-size FLUX.2 [dev] text encoder (Mistral-Small-3.2) matches its checkpoint manifest, on meta."""
import json
from pathlib import Path

import pytest
import torch

from core.models.mistral_text import LAYERS, config_from_state_dict, is_mistral_text_encoder, language_model_state_dict

MANIFEST = Path(__file__).parents[1] / "data" / "reference" / "checkpoints" / "mistral_3_small_flux2.json"


@pytest.fixture(scope="module")
def manifest():
    return json.loads(MANIFEST.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def meta_file(manifest):
    """The released file's tensors as meta tensors (shapes only)."""
    return {k: torch.empty(shape, device="meta", dtype=torch.bfloat16) for k, shape in manifest["keys"].items()}


def test_config_read_from_the_file_shapes_is_mistral_small_3_2(meta_file, manifest):
    config = config_from_state_dict(language_model_state_dict(meta_file))
    want = dict(manifest["config"])
    theta = want.pop("rope_theta")
    assert {name: getattr(config, name) for name in want} == want
    rope = getattr(config, "rope_parameters", None) or {"rope_theta": config.rope_theta}  # transformers 5 / 4
    assert rope["rope_theta"] == theta == 1e9
    assert config.num_hidden_layers >= max(LAYERS)


def test_the_model_we_build_has_exactly_the_files_keys_and_shapes(meta_file, manifest):
    from transformers import MistralModel

    from core.models.building import on_meta

    config = config_from_state_dict(language_model_state_dict(meta_file))
    model = on_meta(lambda: MistralModel(config))
    ours = {"model." + k: list(v.shape) for k, v in model.state_dict().items()}
    assert ours == manifest["keys"]


def test_the_stacked_conditioning_is_three_widths(manifest):
    assert len(LAYERS) * manifest["config"]["hidden_size"] == 15360  # FLUX.2 [dev]'s context_in_dim


def test_the_file_is_told_mistral_not_qwen3(meta_file, manifest):
    assert is_mistral_text_encoder(meta_file)
    with_head = dict(meta_file, **{k: torch.empty(s, device="meta") for k, s in manifest["optional_keys"].items()})
    assert set(language_model_state_dict(with_head)) == set(language_model_state_dict(meta_file))
