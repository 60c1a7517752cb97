"""Loader types for FLUX.1 / SD3.5 text encoders: which files make which CLIP, in any order; checkpoints
that bundle text_encoders.*; clear errors for what is not supported."""
import pytest
import torch

from core.models.clip import (CLIP_L, HF, OPENCLIP, OPENCLIP_BIGG, OPENCLIP_H, build_encoder, to_checkpoint,
                              to_module_keys)
from core.models.dit_text_loaders import tower_kind
from core.models.text_encoder import clip_from_checkpoint, clip_from_files
from core.models.tiny import tiny_bundled_text_encoders, tiny_text_encoder_state_dict
from tests.testdata import manifest

L, G, T5 = "clip_l.safetensors", "clip_g.safetensors", "t5xxl_fp16.safetensors"
T5_FP8 = "t5xxl_fp8_e4m3fn_scaled.safetensors"


def load(tiny_te_dir, names, clip_type):
    return clip_from_files([tiny_te_dir / n for n in names], clip_type, dtype=torch.float32, device="cpu",
                           embedding_dirs=[])


def towers(clip):
    return [enc.role.name for enc in clip.encoders]


def encode(clip, text="a photo of a cat"):
    return clip.encode_from_tokens(clip.tokenize(text), return_pooled=True)


def meta_hf(config):
    return to_checkpoint(build_encoder(config, "meta").state_dict(), HF)


@pytest.mark.parametrize("config,kind", [(CLIP_L, "l"), (OPENCLIP_H, "h"), (OPENCLIP_BIGG, "g")])
def test_full_size_clip_towers_are_told_apart_by_depth_in_the_hf_layout(config, kind):
    assert tower_kind(meta_hf(config)) == kind


def test_full_size_bigg_in_the_openclip_layout_is_g():
    sd = manifest("sdxl_base_1.0")["keys"]
    prefix = "conditioner.embedders.1.model."
    bigg = {k[len(prefix):]: torch.empty(v, device="meta") for k, v in sd.items() if k.startswith(prefix)}
    assert tower_kind(bigg) == "g"


def test_the_t5_manifest_is_t5():
    assert tower_kind({k: torch.empty(v, device="meta") for k, v in manifest("t5xxl_fp16")["keys"].items()}) == "t5xxl"


def test_clip_g_files_use_the_transformers_layout_with_text_projection():
    sd = tiny_text_encoder_state_dict("clip_g")
    assert "text_model.encoder.layers.31.mlp.fc1.weight" in sd and "text_projection.weight" in sd
    assert tower_kind(sd) == "g" and tower_kind(tiny_text_encoder_state_dict("clip_l")) == "l"


@pytest.mark.parametrize("name,expected", [(L, ["l"]), (G, ["g"]), (T5, ["t5xxl"]), (T5_FP8, ["t5xxl"])])
def test_sd3_takes_any_single_tower(tiny_te_dir, name, expected):
    clip = load(tiny_te_dir, [name], "sd3")
    assert clip.family == "sd3" and towers(clip) == expected


@pytest.mark.parametrize("pair", [(L, G), (G, L), (L, T5), (T5, G)])
def test_sd3_takes_any_two_towers_in_any_order(tiny_te_dir, pair):
    clip = load(tiny_te_dir, list(pair), "sd3")
    assert sorted(towers(clip)) == sorted({L: "l", G: "g", T5: "t5xxl"}[n] for n in pair)


def test_sd3_three_files_in_any_order_give_the_same_conditioning(tiny_te_dir):
    a = encode(load(tiny_te_dir, [L, G, T5], "sd3"))
    b = encode(load(tiny_te_dir, [T5, L, G], "sd3"))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_flux_takes_clip_l_and_t5_in_either_order(tiny_te_dir):
    a, b = load(tiny_te_dir, [L, T5], "flux"), load(tiny_te_dir, [T5, L], "flux")
    assert towers(a) == towers(b) == ["l", "t5xxl"]
    assert torch.equal(encode(a)[0], encode(b)[0])


def test_flux_takes_the_scaled_fp8_t5(tiny_te_dir):
    cond, pooled = encode(load(tiny_te_dir, [L, T5_FP8], "flux"))
    assert cond.shape == (1, 256, 96) and torch.isfinite(cond).all()


def test_flux_refuses_clip_g_by_name(tiny_te_dir):
    with pytest.raises(ValueError, match="flux needs CLIP-L and T5-XXL, got CLIP-L \\+ OpenCLIP bigG"):
        load(tiny_te_dir, [L, G], "flux")


def test_the_same_tower_twice_is_refused(tiny_te_dir):
    with pytest.raises(ValueError, match="two T5-XXL files"):
        load(tiny_te_dir, [T5, T5_FP8], "sd3")


def test_an_unknown_type_names_the_supported_ones(tiny_te_dir):
    with pytest.raises(ValueError, match="'mochi' is not supported.*sd3.*flux"):
        load(tiny_te_dir, [T5], "mochi")


def test_stable_diffusion_type_on_a_t5_file_points_to_the_right_loader(tiny_te_dir):
    with pytest.raises(ValueError, match="DualCLIPLoader type 'flux'"):
        load(tiny_te_dir, [T5], "stable_diffusion")


def test_a_clip_g_file_in_the_openclip_layout_loads_the_same(tiny_te_dir):
    hf = tiny_text_encoder_state_dict("clip_g")
    from core.models.clip import config_from_state_dict

    openclip = to_checkpoint(to_module_keys(hf, HF), OPENCLIP)
    assert "transformer.resblocks.31.attn.in_proj_weight" in openclip and config_from_state_dict(hf).layout == HF
    a = clip_from_files([hf], "sd3", dtype=torch.float32, device="cpu", embedding_dirs=[])
    b = clip_from_files([openclip], "sd3", dtype=torch.float32, device="cpu", embedding_dirs=[])
    torch.testing.assert_close(encode(a)[0], encode(b)[0])


# --- checkpoints bundling text encoders ----------------------------------------------------------------
def test_sd35_checkpoint_text_encoders_equal_the_three_files(tiny_te_dir):
    bundle = tiny_bundled_text_encoders()  # float32; the t5xxl_fp16 file holds the same weights in float16
    bundle = {k: v.half() if k.startswith("text_encoders.t5xxl.") else v for k, v in bundle.items()}
    clip = clip_from_checkpoint({"model.diffusion_model.x": torch.zeros(1), **bundle}, "sd3", dtype=torch.float32,
                                device="cpu", embedding_dirs=[])
    files = load(tiny_te_dir, [L, G, T5], "sd3")
    assert towers(clip) == ["l", "g", "t5xxl"]
    a, b = encode(clip), encode(files)
    torch.testing.assert_close(a[0], b[0])
    torch.testing.assert_close(a[1], b[1])


def test_flux_checkpoint_with_clip_l_and_t5_gives_the_flux_clip():
    clip = clip_from_checkpoint(tiny_bundled_text_encoders(("clip_l", "t5xxl")), "flux", dtype=torch.float32,
                                device="cpu", embedding_dirs=[])
    assert clip.family == "flux" and towers(clip) == ["l", "t5xxl"]


def test_flux_checkpoint_without_t5_is_refused_with_the_loader_to_use():
    with pytest.raises(ValueError, match="DualCLIPLoader type flux"):
        clip_from_checkpoint(tiny_bundled_text_encoders(("clip_l",)), "flux", dtype=torch.float32, device="cpu")


def test_checkpoint_keys_are_the_bundled_names():
    bundle = tiny_bundled_text_encoders()
    clip = clip_from_checkpoint(bundle, "sd3", dtype=torch.float32, device="cpu", embedding_dirs=[])
    assert set(clip.checkpoint_keys()) == set(bundle)
    saved = clip.state_dict()
    assert set(saved) == set(bundle)
    assert all(torch.equal(saved[k], bundle[k]) for k in bundle)


def test_a_patch_on_a_t5_weight_changes_the_encoding_and_is_undone():
    bundle = tiny_bundled_text_encoders(("clip_l", "t5xxl"))
    clip = clip_from_checkpoint(bundle, "flux", dtype=torch.float32, device="cpu", embedding_dirs=[])
    key = "text_encoders.t5xxl.transformer.encoder.block.1.layer.1.DenseReluDense.wo.weight"
    before = encode(clip)[0]
    patched = clip.clone()
    assert key in patched.add_patches({key: ("diff", (torch.ones_like(bundle[key]),))}, 0.5)
    after = encode(patched)[0]
    assert not torch.allclose(before, after)
    torch.testing.assert_close(encode(clip)[0], before, atol=0, rtol=0)


def test_a_clipsave_file_with_a_bare_text_projection_matrix_is_transposed():
    hf = tiny_text_encoder_state_dict("clip_g")
    clipsave = {**{k: v for k, v in hf.items() if k != "text_projection.weight"},
                "text_projection": hf["text_projection.weight"].t().contiguous()}
    a = clip_from_files([hf], "sd3", dtype=torch.float32, device="cpu", embedding_dirs=[])
    b = clip_from_files([clipsave], "sd3", dtype=torch.float32, device="cpu", embedding_dirs=[])
    torch.testing.assert_close(encode(a)[1], encode(b)[1])


def test_stable_diffusion_type_on_a_clip_g_file_gives_the_refiner_clip(tiny_te_dir):
    clip = load(tiny_te_dir, [G], "stable_diffusion")
    assert clip.family == "sdxl_refiner" and clip.encoders[0].role.name == "g"
    cond, pooled = encode(clip)
    assert cond.shape == (1, 77, 48) and pooled.shape == (1, 48)


def test_a_scaled_fp8_clip_tower_in_a_checkpoint_is_dequantized():
    from core.models.tiny import scaled_fp8

    stored = scaled_fp8(tiny_text_encoder_state_dict("clip_l"))
    l_fp8 = {f"text_encoders.clip_l.transformer.{k}": v for k, v in stored.items()}
    clip = clip_from_checkpoint(l_fp8, "sd3", dtype=torch.float32, device="cpu", embedding_dirs=[])
    full = clip_from_files([tiny_text_encoder_state_dict("clip_l")], "sd3", dtype=torch.float32, device="cpu",
                           embedding_dirs=[])
    key = "text_model.encoder.layers.0.mlp.fc1.weight"
    got, ref = clip.encoders[0].get_weight(key), full.encoders[0].get_weight(key)
    assert ((got - ref).abs() <= ref.abs() / 16 + 1e-3).all() and not torch.equal(got, ref)


@pytest.mark.parametrize("asked,stored", [(torch.float32, torch.float16), (None, torch.float16),
                                          (torch.bfloat16, torch.bfloat16)])
def test_t5_keeps_the_files_half_precision_unless_a_half_dtype_is_asked(tiny_te_dir, asked, stored):
    clip = clip_from_files([tiny_te_dir / T5], "sd3", dtype=asked, device="cpu", embedding_dirs=[])
    assert clip.encoders[0].model.shared.weight.dtype == stored


def test_sdxl_type_with_a_t5_file_points_to_the_right_loader(tiny_te_dir):
    with pytest.raises(ValueError, match="DualCLIPLoader type 'flux'"):
        load(tiny_te_dir, [L, T5], "sdxl")
