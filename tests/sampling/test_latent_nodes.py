"""Latent and conditioning nodes: shapes, batch bookkeeping and the options they attach."""
import pytest
import torch

from nodes import conditioning as C
from nodes import latent as L
from nodes.inpaint import SetLatentNoiseMask


def lat(b=1, h=8, w=8, seed=0):
    return {"samples": torch.randn(b, 4, h, w, generator=torch.Generator().manual_seed(seed))}


def test_empty_latent_is_zeros_at_one_eighth_size():
    out = L.EmptyLatentImage().execute(512, 256, 3)[0]["samples"]
    assert out.shape == (3, 4, 32, 64) and out.dtype == torch.float32 and not out.any()


def test_latent_upscale_with_zero_width_keeps_the_aspect_ratio():
    out = L.LatentUpscale().execute(lat(1, 8, 16), "bilinear", 0, 128, "disabled")[0]["samples"]
    assert out.shape[-2:] == (16, 32)


def test_latent_upscale_by_scales_both_sides():
    out = L.LatentUpscaleBy().execute(lat(1, 8, 12), "nearest-exact", 1.5)[0]["samples"]
    assert out.shape[-2:] == (12, 18)


@pytest.mark.parametrize("method", L.UPSCALE_METHODS)
def test_upscaling_a_constant_latent_keeps_it_constant(method):
    const = {"samples": torch.tensor([0.5, -1.0, 2.0, 0.25]).reshape(1, 4, 1, 1).expand(1, 4, 8, 8).clone()}
    out = L.LatentUpscaleBy().execute(const, method, 2.0)[0]["samples"]
    torch.testing.assert_close(out, const["samples"][:, :, :1, :1].expand(1, 4, 16, 16), rtol=1e-5, atol=1e-5)


def test_bislerp_keeps_vector_norms_between_orthogonal_neighbours():
    x = torch.zeros(1, 4, 1, 2)
    x[0, 0, 0, 0] = 1.0
    x[0, 1, 0, 1] = 1.0
    out = L.LatentUpscale().execute({"samples": x}, "bislerp", 64, 64, "disabled")[0]["samples"]
    torch.testing.assert_close(out.norm(dim=1), torch.ones(1, 8, 8), rtol=1e-4, atol=1e-4)


def test_latent_composite_pastes_at_the_pixel_offset_divided_by_8():
    to, src = {"samples": torch.zeros(1, 4, 8, 8)}, {"samples": torch.ones(1, 4, 2, 2)}
    out = L.LatentComposite().execute(to, src, 16, 8, feather=0)[0]["samples"]
    assert out[0, 0, 1:3, 2:4].eq(1).all() and out.sum() == 16


def test_latent_composite_feather_fades_inner_edges():
    to, src = {"samples": torch.zeros(1, 4, 8, 8)}, {"samples": torch.ones(1, 4, 4, 4)}
    out = L.LatentComposite().execute(to, src, 16, 16, feather=16)[0]["samples"][0, 0]
    assert out[2, 2] == pytest.approx(0.25) and out[3, 3] == pytest.approx(1.0)


def test_latent_blend_mixes_by_factor():
    a, b = lat(seed=1), lat(seed=2)
    out = L.LatentBlend().execute(a, b, 0.25)[0]["samples"]
    torch.testing.assert_close(out, a["samples"] * 0.25 + b["samples"] * 0.75)


def test_latent_from_batch_records_which_noise_each_item_gets():
    out = L.LatentFromBatch().execute(lat(4), 1, 2)[0]
    assert out["samples"].shape[0] == 2 and out["batch_index"] == [1, 2]
    again = L.LatentFromBatch().execute(out, 1, 1)[0]
    assert again["batch_index"] == [2]


def test_repeat_latent_batch_offsets_batch_indices():
    picked = L.LatentFromBatch().execute(lat(4), 1, 2)[0]
    out = L.RepeatLatentBatch().execute(picked, 3)[0]
    assert out["samples"].shape[0] == 6 and out["batch_index"] == [1, 2, 3, 4, 5, 6]


def test_latent_batch_concatenates_and_resizes_the_second():
    out = L.LatentBatch().execute(lat(2, 8, 8), lat(1, 4, 4))[0]
    assert out["samples"].shape == (3, 4, 8, 8) and out["batch_index"] == [0, 1, 0]


def test_latent_crop_cuts_in_latent_units():
    x = lat(1, 16, 16)
    out = L.LatentCrop().execute(x, 64, 64, 32, 16)[0]["samples"]
    assert torch.equal(out, x["samples"][:, :, 2:10, 4:12])


def test_latent_rotate_90_is_clockwise_and_flip_axes_follow_comfyui():
    x = {"samples": torch.arange(4.0).reshape(1, 1, 2, 2)}  # [[0, 1], [2, 3]]
    assert L.LatentRotate().execute(x, "90 degrees")[0]["samples"][0, 0].tolist() == [[2, 0], [3, 1]]
    assert L.LatentFlip().execute(x, "x-axis: vertically")[0]["samples"][0, 0].tolist() == [[2, 3], [0, 1]]
    assert L.LatentFlip().execute(x, "y-axis: horizontally")[0]["samples"][0, 0].tolist() == [[1, 0], [3, 2]]


def test_set_latent_noise_mask_stores_b1hw():
    out = SetLatentNoiseMask().execute(lat(), torch.ones(64, 64))[0]
    assert out["noise_mask"].shape == (1, 1, 64, 64)


def cond(v, tokens=77, **opts):
    return [[torch.full((1, tokens, 4), float(v)), {"pooled_output": torch.full((1, 2), float(v)), **opts}]]


def test_combine_concatenates_lists():
    assert len(C.ConditioningCombine().execute(cond(1), cond(2))[0]) == 2


def test_average_interpolates_context_and_pooled():
    out = C.ConditioningAverage().execute(cond(1), cond(3), 0.25)[0][0]
    assert out[0].unique().tolist() == [2.5] and out[1]["pooled_output"].unique().tolist() == [2.5]


def test_concat_appends_tokens():
    out = C.ConditioningConcat().execute(cond(1), cond(2))[0][0][0]
    assert out.shape == (1, 154, 4)


def test_set_area_stores_latent_units_and_leaves_the_input_untouched():
    src = cond(1)
    out = C.ConditioningSetArea().execute(src, 256, 128, 64, 32, 0.5)[0][0][1]
    assert out["area"] == (16, 32, 4, 8) and out["strength"] == 0.5
    assert "area" not in src[0][1]


def test_set_area_percentage_and_strength():
    out = C.ConditioningSetAreaPercentage().execute(cond(1), 0.5, 0.25, 0.1, 0.2, 1.0)[0][0][1]
    assert out["area"] == ("percentage", 0.25, 0.5, 0.2, 0.1)
    assert C.ConditioningSetAreaStrength().execute(cond(1), 2.0)[0][0][1]["strength"] == 2.0


def test_set_mask_options():
    out = C.ConditioningSetMask().execute(cond(1), torch.ones(8, 8), "mask bounds", 0.7)[0][0][1]
    assert out["mask"].shape == (1, 8, 8) and out["mask_strength"] == 0.7 and out["set_area_to_bounds"]


def test_zero_out_zeros_context_and_pooled():
    out = C.ConditioningZeroOut().execute(cond(3))[0][0]
    assert not out[0].any() and not out[1]["pooled_output"].any()


def test_timestep_range_records_percentages():
    out = C.ConditioningSetTimestepRange().execute(cond(1), 0.2, 0.8)[0][0][1]
    assert (out["start_percent"], out["end_percent"]) == (0.2, 0.8)
