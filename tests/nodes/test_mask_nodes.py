"""Mask nodes: conversions, invert, threshold, grow and compositing through a mask."""
import pytest
import torch

from nodes import mask as m


def test_image_to_mask_takes_one_channel_and_mask_to_image_makes_grey_rgb():
    image = torch.rand(2, 4, 5, 4)
    mask = m.ImageToMask().execute(image, "alpha")[0]
    assert torch.equal(mask, image[..., 3])
    back = m.MaskToImage().execute(mask)[0]
    assert back.shape == (2, 4, 5, 3) and torch.equal(back[..., 1], mask)


def test_image_to_mask_names_a_missing_channel():
    with pytest.raises(ValueError, match="ImageToMask, input 'channel'"):
        m.ImageToMask().execute(torch.rand(1, 2, 2, 3), "alpha")


def test_invert_threshold_and_solid():
    mask = torch.tensor([[[0.2, 0.7]]])
    assert torch.allclose(m.InvertMask().execute(mask)[0], torch.tensor([[[0.8, 0.3]]]))
    assert torch.equal(m.ThresholdMask().execute(mask, 0.5)[0], torch.tensor([[[0.0, 1.0]]]))
    assert m.SolidMask().execute(0.25, 6, 3)[0].shape == (1, 3, 6)


def test_grow_mask_dilates_a_point_into_a_cross_or_a_square():
    mask = torch.zeros(1, 5, 5)
    mask[0, 2, 2] = 1.0
    cross = m.GrowMask().execute(mask, 1, True)[0]
    square = m.GrowMask().execute(mask, 1, False)[0]
    assert cross.sum() == 5 and cross[0, 1, 1] == 0
    assert square.sum() == 9
    assert torch.equal(m.GrowMask().execute(square, -1, False)[0], mask)


def test_image_composite_masked_pastes_through_the_mask_and_clips_at_the_border():
    dest = torch.zeros(1, 4, 4, 3)
    src = torch.ones(1, 2, 2, 3)
    mask = torch.tensor([[[1.0, 0.0], [1.0, 0.0]]])
    out = m.ImageCompositeMasked().execute(dest, src, 3, 1, False, mask)[0]
    assert out[0, 1, 3].tolist() == [1.0, 1.0, 1.0] and out[0, 2, 3].tolist() == [1.0, 1.0, 1.0]
    assert out.sum() == 6  # two pixels of three channels; the rest fell outside or under mask 0


def test_image_composite_masked_with_resize_covers_the_destination():
    out = m.ImageCompositeMasked().execute(torch.zeros(1, 8, 8, 3), torch.ones(1, 2, 2, 3), 0, 0, True)[0]
    assert torch.equal(out, torch.ones(1, 8, 8, 3))


@pytest.mark.parametrize("op, expected", [("multiply", 0.36), ("add", 1.0), ("subtract", 0.0), ("and", 1.0),
                                          ("xor", 0.0)])
def test_mask_composite_operations(op, expected):
    # logical operations round both masks to 0/1 first (0.6 -> 1)
    out = m.MaskComposite().execute(torch.full((1, 2, 2), 0.6), torch.full((1, 2, 2), 0.6), 0, 0, op)[0]
    assert torch.allclose(out, torch.full((1, 2, 2), expected))


def test_feather_mask_ramps_the_left_and_top_edges():
    out = m.FeatherMask().execute(torch.ones(1, 4, 4), 2, 1, 0, 0)[0]
    assert out[0, 1, 0] == 0.5 and out[0, 1, 1] == 1.0 and out[0, 1, 3] == 1.0
    assert torch.allclose(out[0, 0], torch.tensor([0.5, 1.0, 1.0, 1.0]))


def test_feather_mask_right_ramp_matches_comfyui_indexing():
    # ComfyUI's right ramp multiplies column 0 by 1/right, then the last columns by 2/right, 3/right, ...
    out = m.FeatherMask().execute(torch.ones(1, 1, 6), 0, 0, 3, 0)[0]
    assert torch.allclose(out[0, 0], torch.tensor([1 / 3, 1.0, 1.0, 1.0, 1.0, 2 / 3]))
