"""core.images: resizing, padding, batching and Canny edges on IMAGE tensors [B,H,W,C]."""
import pytest
import torch

from core import images


def _ramp(b=1, h=8, w=12):
    torch.manual_seed(0)
    return torch.rand(b, h, w, 3)


@pytest.mark.parametrize("method", images.UPSCALE_METHODS)
def test_scale_gives_requested_size_for_every_method(method):
    out = images.scale(_ramp(2), 20, 10, method)
    assert out.shape == (2, 10, 20, 3)
    assert out.min() >= 0 and out.max() <= 1


def test_zero_width_keeps_aspect_ratio():
    assert images.scale(_ramp(h=8, w=12), 0, 16).shape == (1, 16, 24, 3)


def test_center_crop_cuts_the_sides_of_a_wide_image():
    img = torch.zeros(1, 4, 8, 3)
    img[:, :, 2:6] = 1.0  # the centre 4 columns are white
    out = images.scale(img, 4, 4, "nearest-exact", "center")
    assert torch.all(out == 1.0)


def test_lanczos_matches_pil():
    import numpy as np
    from PIL import Image

    img = _ramp(h=16, w=16)
    pil = Image.fromarray((img[0] * 255).round().to(torch.uint8).numpy()).resize((7, 5), Image.Resampling.LANCZOS)
    expected = torch.from_numpy(np.array(pil).astype(np.float32) / 255)
    assert torch.allclose(images.scale(img, 7, 5, "lanczos")[0], expected)


def test_scale_to_total_pixels_hits_the_megapixel_count():
    out = images.scale_to_total_pixels(torch.zeros(1, 64, 128, 3), 0.0625)  # 0.0625 MP = 65536 px
    assert out.shape[1] * out.shape[2] == pytest.approx(65536, rel=0.01)
    assert out.shape[2] / out.shape[1] == pytest.approx(2.0, rel=0.02)


def test_invert_is_one_minus_x():
    img = _ramp()
    assert torch.equal(images.invert(img), 1.0 - img)


def test_batch_resizes_the_second_image_to_the_first():
    out = images.batch(torch.zeros(1, 8, 8, 3), torch.ones(2, 16, 32, 3))
    assert out.shape == (3, 8, 8, 3)
    assert torch.all(out[1:] == 1.0)


def test_solid_color_channels():
    img = images.solid(4, 2, 3, 0xFF8000)
    assert img.shape == (3, 2, 4, 3)
    assert torch.allclose(img[0, 0, 0], torch.tensor([1.0, 128 / 255, 0.0]))


def test_pad_for_outpaint_places_image_and_masks_the_new_area():
    img = torch.rand(1, 100, 100, 3)
    out, mask = images.pad_for_outpaint(img, 16, 0, 8, 0, feathering=10)
    assert out.shape == (1, 100, 124, 3) and mask.shape == (1, 100, 124)
    assert torch.equal(out[:, :, 16:116], img)
    assert torch.all(out[:, :, :16] == 0.5)
    assert torch.all(mask[:, :, :16] == 1) and torch.all(mask[:, :, 116:] == 1)
    # feathered: distance 0 from the padded left edge → 1, distance ≥ 10 → 0; unpadded top stays 0
    assert mask[0, 50, 16] == pytest.approx(1.0)
    assert mask[0, 50, 16 + 5] == pytest.approx(0.25)
    assert mask[0, 50, 60] == 0
    assert mask[0, 0, 60] == 0


def test_pad_without_feathering_gives_hard_mask():
    _, mask = images.pad_for_outpaint(torch.rand(1, 10, 10, 3), 8, 8, 8, 8, feathering=0)
    assert torch.all(mask[0, 8:18, 8:18] == 0) and mask.sum() == 26 * 26 - 100


def test_canny_finds_the_border_of_a_square():
    img = torch.zeros(1, 32, 32, 3)
    img[:, 8:24, 8:24] = 1.0
    edges = images.canny(img, 0.4, 0.8)
    assert edges.shape == (1, 32, 32, 3)
    assert set(edges.unique().tolist()) <= {0.0, 1.0}
    on = edges[0, :, :, 0] > 0
    assert on[16, 7:9].any() and on[16, 23:25].any()  # left and right borders
    assert on[7:9, 16].any() and on[23:25, 16].any()  # top and bottom borders
    assert not on[12:20, 12:20].any() and not on[:4].any()  # flat areas have no edges
    assert on[16].sum() <= 4  # non-maximum suppression: the edge is thin


def test_canny_flat_image_has_no_edges():
    assert images.canny(torch.full((2, 16, 16, 3), 0.3)).sum() == 0


def test_canny_hysteresis_keeps_weak_edges_connected_to_strong_ones():
    # one vertical step whose contrast fades along it: strong at top, weak below
    img = torch.zeros(1, 40, 40, 3)
    contrast = torch.linspace(1.0, 0.15, 40).view(40, 1, 1)
    img[0, :, 20:] = contrast
    edges = images.canny(img, 0.3, 2.0)[0, :, :, 0]
    alone = images.canny(img, 1.99, 2.0)[0, :, :, 0]  # no weak band: only strong pixels survive
    assert edges.sum() > alone.sum() > 0


def test_canny_rejects_low_above_high():
    with pytest.raises(ValueError, match="low_threshold"):
        images.canny(torch.zeros(1, 8, 8, 3), 0.9, 0.1)


def test_canny_drops_weak_edges_not_connected_to_strong_ones():
    img = torch.zeros(1, 32, 32, 3)
    img[0, :, 16:] = 0.25  # peak gradient magnitude ≈ 0.65: above low 0.3, below high 0.8
    assert images.canny(img, 0.3, 0.8).sum() == 0
    assert images.canny(img, 0.3, 0.5).sum() > 0
