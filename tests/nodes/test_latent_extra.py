"""LatentCut and EmptySD3LatentImage."""
import pytest
import torch

from nodes.latent_extra import EmptySD3LatentImage, LatentCut


@pytest.mark.parametrize("dim, index, amount, shape, first", [("x", 1, 2, (1, 4, 3, 2), 1), ("y", -1, 5, (1, 4, 1, 5), 10),
                                                               ("x", 9, 1, (1, 4, 3, 1), 4)])
def test_latent_cut(dim, index, amount, shape, first):
    x = torch.arange(15.0).reshape(1, 1, 3, 5).expand(1, 4, 3, 5)
    out = LatentCut().execute({"samples": x, "noise_mask": None}, dim, index, amount)[0]
    assert tuple(out["samples"].shape) == shape and out["samples"][0, 0, 0, 0] == first
    assert "noise_mask" in out


def test_latent_cut_names_a_missing_axis():
    with pytest.raises(ValueError, match="LatentCut, input 'dim'"):
        LatentCut().execute({"samples": torch.zeros(4, 4)}, "t", 0, 1)


def test_empty_sd3_latent_has_16_channels_at_an_eighth():
    assert EmptySD3LatentImage().execute(64, 32, 2)[0]["samples"].shape == (2, 16, 4, 8)
