"""The shipped example pack loads through the custom node loader and its nodes work."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO_CUSTOM_NODES = Path(__file__).resolve().parents[2] / "custom_nodes"


@pytest.fixture()
def example(registry, folders):
    from core.custom_nodes import load_custom_nodes

    loaded = load_custom_nodes(registry, [REPO_CUSTOM_NODES], disable_all=True, whitelist=["example_pack"])
    assert loaded == ["example_pack"], registry.failures
    return registry


def test_example_pack_registers_its_nodes_with_display_names(example):
    assert example.display_name("ImageBatchGrid") == "Image Batch to Grid"
    assert example.object_info()["LatentBatchPick"]["python_module"] == "custom_nodes.example_pack"


def test_grid_places_each_image_row_by_row(example):
    import torch

    images = torch.stack([torch.full((2, 3, 3), float(i + 1) / 10) for i in range(3)])  # [3, H=2, W=3, C]
    (sheet,) = example.get("ImageBatchGrid")().grid(images, columns=2, spacing=1, background=0.0)
    assert sheet.shape == (1, 2 * 2 + 3, 2 * 3 + 3, 3)
    assert torch.allclose(sheet[0, 1:3, 1:4], images[0])
    assert torch.allclose(sheet[0, 1:3, 5:8], images[1])
    assert torch.allclose(sheet[0, 4:6, 1:4], images[2])
    assert sheet[0, 4:6, 5:8].abs().sum() == 0  # empty cell keeps the background


def test_pick_keeps_listed_latents_and_their_original_indices(example):
    import torch

    latents = {"samples": torch.arange(4.0).view(4, 1, 1, 1).expand(4, 4, 2, 2).clone()}
    (out,) = example.get("LatentBatchPick")().pick(latents, "2, -1")
    assert out["samples"][:, 0, 0, 0].tolist() == [2.0, 3.0]
    assert out["batch_index"] == [2, 3]


def test_pick_out_of_range_names_the_node_and_input(example):
    import torch

    with pytest.raises(ValueError, match=r"LatentBatchPick, input 'indices': 5 is outside the batch of 2"):
        example.get("LatentBatchPick")().pick({"samples": torch.zeros(2, 4, 1, 1)}, "5")
