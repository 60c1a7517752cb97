"""Image utility nodes: size, batches, stitching, resize-and-pad, longest side, alpha, resolution picker."""
import pytest
import torch

from nodes import image_extra as ie


def test_get_image_size_reports_width_height_and_batch():
    assert ie.GetImageSize().execute(torch.zeros(3, 20, 30, 3)) == (30, 20, 3)


@pytest.mark.parametrize("index, length, first, count", [(1, 2, 1, 2), (-1, 5, 3, 1), (9, 1, 3, 1)])
def test_image_from_batch(index, length, first, count):
    batch = torch.arange(4.0).reshape(4, 1, 1, 1).expand(4, 2, 2, 3)
    out = ie.ImageFromBatch().execute(batch, index, length)[0]
    assert out.shape[0] == count and out[0, 0, 0, 0] == first


def test_batch_images_resizes_later_images_to_the_first():
    out = ie.BatchImagesNode().execute(**{"images.image0": torch.zeros(1, 8, 8, 3),
                                          "images.image1": torch.ones(2, 4, 4, 3), "images.image2": None})[0]
    assert out.shape == (3, 8, 8, 3)


def test_batch_images_declares_two_required_autogrow_sockets():
    spec = ie.BatchImagesNode.INPUT_TYPES()
    assert list(spec["required"]) == ["images.image0", "images.image1"]
    assert "images.image2" in spec["optional"]


def test_image_stitch_right_matches_height_and_keeps_aspect():
    out = ie.ImageStitch().execute(torch.zeros(1, 10, 10, 3), "right", True, 0, "white", torch.ones(1, 5, 10, 3))[0]
    assert out.shape == (1, 10, 30, 3)
    assert out[0, :, :10].max() == 0 and out[0, :, 10:].min() > 0.9


def test_image_stitch_up_with_spacing_puts_image2_first():
    out = ie.ImageStitch().execute(torch.zeros(1, 4, 6, 3), "up", False, 2, "red", torch.ones(1, 4, 6, 3))[0]
    assert out.shape == (1, 10, 6, 3)
    assert out[0, 0].min() == 1 and out[0, 4].tolist()[0] == [1.0, 0.0, 0.0] and out[0, 9].max() == 0


def test_image_stitch_without_image2_returns_image1():
    image = torch.rand(1, 3, 3, 3)
    assert ie.ImageStitch().execute(image)[0] is image


def test_resize_and_pad_fits_inside_and_pads_with_the_colour():
    out = ie.ResizeAndPadImage().execute(torch.zeros(1, 10, 20, 3), 40, 40, "white", "area")[0]
    assert out.shape == (1, 40, 40, 3)
    assert out[0, 0, 0, 0] == 1.0 and out[0, 20, 20, 0] == 0.0  # padding above, the image in the middle
    assert (out[0, :, 0, 0] == 0).sum() == 20  # the resized image is 40 x 20


@pytest.mark.parametrize("h, w, expected", [(100, 50, (64, 32)), (50, 100, (32, 64)), (30, 30, (64, 64))])
def test_scale_to_max_dimension(h, w, expected):
    out = ie.ImageScaleToMaxDimension().execute(torch.rand(1, h, w, 3), "area", 64)[0]
    assert tuple(out.shape[1:3]) == expected


def test_join_image_with_alpha_uses_the_inverted_mask():
    out = ie.JoinImageWithAlpha().execute(torch.rand(1, 4, 4, 3), torch.ones(1, 4, 4) * 0.25)[0]
    assert out.shape == (1, 4, 4, 4) and torch.allclose(out[..., 3], torch.full((1, 4, 4), 0.75))


@pytest.mark.parametrize("ratio, mp, multiple, expected", [("1:1 (Square)", 1.0, 8, (1024, 1024)),
                                                            ("16:9 (Widescreen)", 1.0, 8, (1368, 768)),
                                                            ("1:1 (Square)", 0.4, 32, (640, 640))])
def test_resolution_selector(ratio, mp, multiple, expected):
    assert ie.ResolutionSelector().execute(ratio, mp, multiple) == expected
