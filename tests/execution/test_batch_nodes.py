"""RebatchImages / RebatchLatents: a list of batches regrouped into batches of batch_size."""
import pytest
import torch

from nodes.batch import RebatchImages, RebatchLatents


def test_rebatch_images_regroups_list_items_into_batches():
    images = [torch.full((1, 4, 4, 3), 0.1), torch.full((2, 4, 4, 3), 0.2), torch.full((1, 4, 4, 3), 0.3)]
    (out,) = RebatchImages().execute(images, [3])
    assert [b.shape[0] for b in out] == [3, 1]
    assert torch.allclose(out[0][:, 0, 0, 0], torch.tensor([0.1, 0.2, 0.2]))
    assert torch.allclose(out[1][:, 0, 0, 0], torch.tensor([0.3]))


def test_rebatch_images_splits_a_big_batch():
    (out,) = RebatchImages().execute([torch.rand(5, 2, 2, 3)], [2])
    assert [b.shape[0] for b in out] == [2, 2, 1]


def test_rebatch_images_refuses_mixed_sizes_in_one_batch():
    with pytest.raises(ValueError, match="RebatchImages, input 'images'"):
        RebatchImages().execute([torch.zeros(1, 4, 4, 3), torch.zeros(1, 8, 8, 3)], [2])


def test_rebatch_latents_keeps_noise_indices_and_masks_and_splits_on_size_changes():
    a = {"samples": torch.zeros(2, 4, 8, 8), "batch_index": [5, 6], "noise_mask": torch.ones(2, 1, 8, 8)}
    b = {"samples": torch.zeros(1, 4, 16, 16)}
    (out,) = RebatchLatents().execute([a, b], [4])
    assert [o["samples"].shape for o in out] == [(2, 4, 8, 8), (1, 4, 16, 16)]
    assert out[0]["batch_index"] == [5, 6] and out[0]["noise_mask"].shape == (2, 1, 8, 8)
    assert out[1]["batch_index"] == [0] and "noise_mask" not in out[1]


def test_rebatch_nodes_take_whole_lists_and_return_lists():
    for cls in (RebatchImages, RebatchLatents):
        assert cls.INPUT_IS_LIST is True and cls.OUTPUT_IS_LIST == (True,)
