"""The full-size T5-XXL built on meta has exactly t5xxl_fp16.safetensors' keys and shapes (manifest)."""
import torch

from core.models import t5
from tests.testdata import manifest


def test_meta_build_has_the_manifest_keys_and_shapes():
    ours = {k: list(v.shape) for k, v in t5.build_t5(t5.T5_XXL, "meta").state_dict().items()}
    assert ours == manifest("t5xxl_fp16")["keys"]


def test_config_read_from_the_manifest_shapes_is_t5_v1_1_xxl():
    shapes = {k: torch.empty(v, device="meta") for k, v in manifest("t5xxl_fp16")["keys"].items()}
    assert t5.config_from_state_dict(shapes) == t5.T5_XXL


def test_manifest_parameter_count_is_the_published_encoder_size():
    data = manifest("t5xxl_fp16")
    count = sum(torch.Size(v).numel() for v in data["keys"].values())
    assert count == data["components"]["t5xxl"]["params"] == 4_762_310_656
    assert sum(p.numel() for p in t5.build_t5(t5.T5_XXL, "meta").parameters()) == count


def test_the_manifest_file_loads_into_the_module_with_its_optional_tied_copy():
    keys = manifest("t5xxl_fp16")
    shapes = {k: torch.empty(v, device="meta") for k, v in {**keys["keys"], **keys["optional_keys"]}.items()}
    sd = t5.to_module_state_dict(shapes, torch.float16)
    assert set(sd) == set(keys["keys"])
