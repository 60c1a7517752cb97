"""Our text encoders against independent implementations with the same seeded weights.

CLIP-L is compared with transformers' own ``CLIPTextModel.forward``; OpenCLIP towers with a plain-torch
forward written here from open_clip's documented architecture (``nn.MultiheadAttention`` blocks with a
causal mask, ``ln_final``, ``text_projection`` applied at the end-of-text / argmax token).
"""
import pytest
import torch
import torch.nn.functional as F

from core.models.clip import OPENCLIP, TextEncoderConfig
from core.models.patcher import DiffPatch
from core.models.text_encoder import clip_from_checkpoint, clip_from_files
from core.models.tiny import random_text_encoder_state_dict
from core.models.tokenizer import END_OF_TEXT

TOL = dict(atol=1e-4, rtol=1e-4)
TINY_L = TextEncoderConfig(hidden_size=128, num_layers=3, intermediate_size=256)
TINY_H = TextEncoderConfig(hidden_size=128, num_layers=3, intermediate_size=256, activation="gelu",
                           projection_dim=96, layout=OPENCLIP, has_logit_scale=True)
PROMPT = "a photo of a cat, highly detailed"


def prefixed(prefix, sd):
    return {prefix + k: v for k, v in sd.items()}


@pytest.fixture(scope="module")
def l_weights():
    return random_text_encoder_state_dict(TINY_L, seed=1)


@pytest.fixture(scope="module")
def h_weights():
    return random_text_encoder_state_dict(TINY_H, seed=2)


@pytest.fixture(scope="module")
def sd1(l_weights):
    return clip_from_checkpoint(prefixed("cond_stage_model.transformer.", l_weights), "sd1",
                                dtype=torch.float32, device="cpu", embedding_dirs=[])


@pytest.fixture(scope="module")
def sd2(h_weights):
    return clip_from_checkpoint(prefixed("cond_stage_model.model.", h_weights), "sd2",
                                dtype=torch.float32, device="cpu", embedding_dirs=[])


@pytest.fixture(scope="module")
def sdxl(l_weights, h_weights):
    sd = {**prefixed("conditioner.embedders.0.transformer.", l_weights), **prefixed("conditioner.embedders.1.model.", h_weights)}
    return clip_from_checkpoint(sd, "sdxl", dtype=torch.float32, device="cpu", embedding_dirs=[])


@pytest.fixture(scope="module")
def hf_model(l_weights):
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(hidden_size=128, intermediate_size=256, num_hidden_layers=3, num_attention_heads=2,
                            hidden_act="quick_gelu")
    model = CLIPTextModel(config).eval()
    model.load_state_dict({k[len("text_model."):]: v for k, v in l_weights.items()})
    return model


def chunk_ids(clip, text, name):
    return torch.tensor([[t for t, _ in chunk] for chunk in clip.tokenize(text)[name]])


def openclip_reference(sd, ids, heads):
    """open_clip TextTransformer: returns (per-block outputs, pooled = ln_final(last)[argmax] @ text_projection)."""
    n_layers = len({k.split(".")[2] for k in sd if k.startswith("transformer.resblocks.")})
    width = sd["token_embedding.weight"].shape[1]
    x = sd["token_embedding.weight"][ids] + sd["positional_embedding"][: ids.shape[1]]
    mask = torch.full((ids.shape[1], ids.shape[1]), float("-inf")).triu(1)
    outputs = []
    for i in range(n_layers):
        p = f"transformer.resblocks.{i}."
        attn = torch.nn.MultiheadAttention(width, heads, batch_first=True)
        attn.load_state_dict({"in_proj_weight": sd[p + "attn.in_proj_weight"], "in_proj_bias": sd[p + "attn.in_proj_bias"],
                              "out_proj.weight": sd[p + "attn.out_proj.weight"], "out_proj.bias": sd[p + "attn.out_proj.bias"]})
        h = F.layer_norm(x, (width,), sd[p + "ln_1.weight"], sd[p + "ln_1.bias"])
        x = x + attn(h, h, h, need_weights=False, attn_mask=mask)[0]
        h = F.layer_norm(x, (width,), sd[p + "ln_2.weight"], sd[p + "ln_2.bias"])
        h = F.linear(F.gelu(F.linear(h, sd[p + "mlp.c_fc.weight"], sd[p + "mlp.c_fc.bias"])),
                     sd[p + "mlp.c_proj.weight"], sd[p + "mlp.c_proj.bias"])
        x = x + h
        outputs.append(x)
    final = F.layer_norm(x, (width,), sd["ln_final.weight"], sd["ln_final.bias"])
    pooled = final[torch.arange(ids.shape[0]), ids.argmax(dim=-1)] @ sd["text_projection"]
    return outputs, pooled


def ln_final(sd, x):
    return F.layer_norm(x, (x.shape[-1],), sd["ln_final.weight"], sd["ln_final.bias"])


# --- SD1: CLIP-L against transformers ------------------------------------------------------------------
def test_sd1_cond_equals_transformers_last_hidden_state(sd1, hf_model):
    cond, pooled = sd1.encode_from_tokens(sd1.tokenize(PROMPT), return_pooled=True)
    with torch.no_grad():
        ref = hf_model(input_ids=chunk_ids(sd1, PROMPT, "l"))
    torch.testing.assert_close(cond, ref.last_hidden_state, **TOL)


def test_sd1_pooled_equals_transformers_pooler_output(sd1, hf_model):
    _, pooled = sd1.encode_from_tokens(sd1.tokenize(PROMPT), return_pooled=True)
    with torch.no_grad():
        ref = hf_model(input_ids=chunk_ids(sd1, PROMPT, "l"))
    torch.testing.assert_close(pooled, ref.pooler_output, **TOL)


def test_sd1_clip_skip_2_is_the_penultimate_layer_through_the_final_norm(sd1, hf_model):
    skipped = sd1.clone()
    skipped.clip_layer(-2)
    cond = skipped.encode_from_tokens(skipped.tokenize(PROMPT))
    with torch.no_grad():
        ref = hf_model(input_ids=chunk_ids(sd1, PROMPT, "l"), output_hidden_states=True)
        expected = hf_model.final_layer_norm(ref.hidden_states[-2])
    torch.testing.assert_close(cond, expected, **TOL)


def test_clip_layer_on_a_clone_leaves_the_original_alone(sd1):
    before = sd1.encode_from_tokens(sd1.tokenize(PROMPT))
    skipped = sd1.clone()
    skipped.clip_layer(-2)
    assert not torch.allclose(skipped.encode_from_tokens(skipped.tokenize(PROMPT)), before)
    torch.testing.assert_close(sd1.encode_from_tokens(sd1.tokenize(PROMPT)), before, atol=0, rtol=0)


def test_encode_returns_conditioning_with_the_pooled_output(sd1):
    ((cond, extra),) = sd1.encode(PROMPT)
    assert cond.shape == (1, 77, 128) and cond.dtype == torch.float32
    assert extra["pooled_output"].shape == (1, 128)


# --- SD2: OpenCLIP-H conversion ---------------------------------------------------------------------------
def test_sd2_cond_equals_openclip_penultimate_layer_with_ln_final(sd2, h_weights):
    ids = chunk_ids(sd2, PROMPT, "h")
    assert ids[0, -1] == 0  # OpenCLIP pads with 0
    outputs, _ = openclip_reference(h_weights, ids, heads=2)
    torch.testing.assert_close(sd2.encode_from_tokens(sd2.tokenize(PROMPT)), ln_final(h_weights, outputs[-2]), **TOL)


def test_sd2_pooled_equals_openclip_projected_eot_feature(sd2, h_weights):
    _, ref_pooled = openclip_reference(h_weights, chunk_ids(sd2, PROMPT, "h"), heads=2)
    _, pooled = sd2.encode_from_tokens(sd2.tokenize(PROMPT), return_pooled=True)
    torch.testing.assert_close(pooled, ref_pooled, **TOL)


def test_sd2_clip_layer_minus_1_is_the_last_layer(sd2, h_weights):
    outputs, _ = openclip_reference(h_weights, chunk_ids(sd2, PROMPT, "h"), heads=2)
    last = sd2.clone()
    last.clip_layer(-1)
    torch.testing.assert_close(last.encode_from_tokens(last.tokenize(PROMPT)), ln_final(h_weights, outputs[-1]), **TOL)


# --- SDXL: CLIP-L + OpenCLIP-bigG -------------------------------------------------------------------
def test_sdxl_cond_concatenates_penultimate_l_and_g_without_final_norm(sdxl, hf_model, h_weights):
    cond = sdxl.encode_from_tokens(sdxl.tokenize(PROMPT))
    with torch.no_grad():
        l_ref = hf_model(input_ids=chunk_ids(sdxl, PROMPT, "l"), output_hidden_states=True).hidden_states[-2]
    g_outputs, _ = openclip_reference(h_weights, chunk_ids(sdxl, PROMPT, "g"), heads=2)
    torch.testing.assert_close(cond, torch.cat([l_ref, g_outputs[-2]], dim=-1), **TOL)


def test_sdxl_pooled_is_the_projected_g_pooled_output(sdxl, h_weights):
    _, ref_pooled = openclip_reference(h_weights, chunk_ids(sdxl, PROMPT, "g"), heads=2)
    _, pooled = sdxl.encode_from_tokens(sdxl.tokenize(PROMPT), return_pooled=True)
    assert pooled.shape == (1, 96)
    torch.testing.assert_close(pooled, ref_pooled, **TOL)


def test_sdxl_pads_l_with_end_tokens_and_g_with_zeros(sdxl):
    tokens = sdxl.tokenize("cat")
    assert tokens["l"][0][-1][0] == END_OF_TEXT and tokens["g"][0][-1][0] == 0


def test_sdxl_shorter_chunk_list_is_padded_with_empty_chunks(sdxl):
    tokens = sdxl.tokenize("cat")
    tokens["l"] = sdxl.tokenize("dog " * 80)["l"]
    cond = sdxl.encode_from_tokens(tokens)
    assert cond.shape == (1, 154, 128 + 128)
    empty_g = sdxl.encode_from_tokens(sdxl.tokenize(""))[..., 128:]
    torch.testing.assert_close(cond[:, 77:, 128:], empty_g, atol=0, rtol=0)


# --- weighting and chunks ----------------------------------------------------------------------------
def test_weighted_token_is_interpolated_from_the_empty_prompt(sd1):
    plain = sd1.encode_from_tokens(sd1.tokenize("a cat"))
    empty = sd1.encode_from_tokens(sd1.tokenize(""))
    weighted = sd1.encode_from_tokens(sd1.tokenize("a (cat:1.5)"))
    cat = 2  # start, "a", "cat"
    torch.testing.assert_close(weighted[:, cat], empty[:, cat] + (plain[:, cat] - empty[:, cat]) * 1.5, **TOL)


def test_unweighted_tokens_are_unchanged_by_weights_elsewhere(sd1):
    plain = sd1.encode_from_tokens(sd1.tokenize("a cat"))
    weighted = sd1.encode_from_tokens(sd1.tokenize("a (cat:1.5)"))
    keep = [i for i in range(77) if i != 2]
    torch.testing.assert_close(weighted[:, keep], plain[:, keep], atol=0, rtol=0)


def test_each_chunk_is_encoded_on_its_own_and_concatenated(sd1):
    tokens = sd1.tokenize("cat " * 100)
    assert len(tokens["l"]) == 2
    cond, pooled = sd1.encode_from_tokens(tokens, return_pooled=True)
    first, first_pooled = sd1.encode_from_tokens({"l": tokens["l"][:1]}, return_pooled=True)
    second = sd1.encode_from_tokens({"l": tokens["l"][1:]})
    assert cond.shape == (1, 154, 128)
    torch.testing.assert_close(cond, torch.cat([first, second], dim=1), **TOL)
    torch.testing.assert_close(pooled, first_pooled, **TOL)


def test_embedding_vector_replaces_the_token_embedding(l_weights, tmp_path):
    from safetensors.torch import save_file

    cat_id = 2368
    cat_row = l_weights["text_model.embeddings.token_embedding.weight"][cat_id]
    save_file({"emb": cat_row[None].clone()}, str(tmp_path / "kitty.safetensors"))
    clip = clip_from_checkpoint(prefixed("cond_stage_model.transformer.", l_weights), "sd1",
                                dtype=torch.float32, device="cpu", embedding_dirs=[tmp_path])
    assert clip.tokenize("cat")["l"][0][1][0] == cat_id
    torch.testing.assert_close(clip.encode_from_tokens(clip.tokenize("a embedding:kitty")),
                               clip.encode_from_tokens(clip.tokenize("a cat")), **TOL)


# --- weight patches -------------------------------------------------------------------------------------
def test_patch_changes_the_output_and_the_weights_are_restored_after(sd1):
    key = "cond_stage_model.transformer.text_model.final_layer_norm.bias"
    before = {k: v.clone() for k, v in sd1.state_dict().items()}
    plain = sd1.encode_from_tokens(sd1.tokenize(PROMPT))
    patched = sd1.clone()
    assert patched.add_patches({key: DiffPatch(1.0, torch.full((128,), 0.25))}, strength_patch=2.0) == [key]
    out = patched.encode_from_tokens(patched.tokenize(PROMPT))
    torch.testing.assert_close(out, plain + 0.5, **TOL)  # final-norm bias is added to every vector
    assert all(torch.equal(v, before[k]) for k, v in sd1.state_dict().items())
    assert not sd1.patches


def test_patch_on_a_fused_openclip_in_proj_equals_changed_weights(h_weights):
    key = "transformer.resblocks.1.attn.in_proj_weight"
    diff = torch.randn(h_weights[key].shape, generator=torch.Generator().manual_seed(3)) * 0.05
    base = clip_from_checkpoint(prefixed("cond_stage_model.model.", h_weights), "sd2", dtype=torch.float32, device="cpu")
    base.add_patches({"cond_stage_model.model." + key: DiffPatch(1.0, diff)})
    changed = dict(h_weights, **{key: h_weights[key] + diff})
    expected = clip_from_checkpoint(prefixed("cond_stage_model.model.", changed), "sd2", dtype=torch.float32, device="cpu")
    torch.testing.assert_close(base.encode_from_tokens(base.tokenize(PROMPT)),
                               expected.encode_from_tokens(expected.tokenize(PROMPT)), **TOL)


def test_patch_keys_of_other_models_are_not_taken(sd1):
    assert sd1.clone().add_patches({"model.diffusion_model.out.0.weight": DiffPatch(1.0, torch.zeros(1))}) == []


# --- loading ------------------------------------------------------------------------------------------
def test_weights_are_cast_to_the_requested_dtype(l_weights):
    half = {k: v.half() for k, v in l_weights.items()}
    clip = clip_from_checkpoint(prefixed("cond_stage_model.transformer.", half), "sd1", dtype=torch.float32, device="cpu")
    assert {v.dtype for v in clip.state_dict().values()} == {torch.float32}


def test_missing_text_encoder_weights_are_named(l_weights):
    partial = {k: v for k, v in l_weights.items() if "final_layer_norm" not in k}
    with pytest.raises(ValueError, match="final_layer_norm"):
        clip_from_checkpoint(prefixed("cond_stage_model.transformer.", partial), "sd1", dtype=torch.float32, device="cpu")


def test_old_files_without_text_model_level_load_the_same(sd1, l_weights):
    old = {k[len("text_model."):]: v for k, v in l_weights.items()}
    clip = clip_from_checkpoint(prefixed("cond_stage_model.transformer.", old), "sd1", dtype=torch.float32, device="cpu")
    torch.testing.assert_close(clip.encode_from_tokens(clip.tokenize(PROMPT)), sd1.encode_from_tokens(sd1.tokenize(PROMPT)),
                               atol=0, rtol=0)


def test_standalone_hf_file_with_or_without_text_model_prefix(sd1, l_weights, tmp_path):
    from safetensors.torch import save_file

    save_file(l_weights, str(tmp_path / "clip_l.safetensors"))
    stripped = {k[len("text_model."):]: v for k, v in l_weights.items()}
    for item in (tmp_path / "clip_l.safetensors", stripped):
        clip = clip_from_files([item], "stable_diffusion", dtype=torch.float32, device="cpu")
        assert clip.family == "sd1"
        torch.testing.assert_close(clip.encode_from_tokens(clip.tokenize(PROMPT)),
                                   sd1.encode_from_tokens(sd1.tokenize(PROMPT)), atol=0, rtol=0)


def test_standalone_openclip_file_loads_as_sd2(sd2, h_weights):
    clip = clip_from_files([h_weights], "stable_diffusion", dtype=torch.float32, device="cpu")
    assert clip.family == "sd2"
    torch.testing.assert_close(clip.encode_from_tokens(clip.tokenize(PROMPT)), sd2.encode_from_tokens(sd2.tokenize(PROMPT)),
                               atol=0, rtol=0)


def test_dual_files_load_as_sdxl_in_either_order(sdxl, l_weights):
    big_g = random_text_encoder_state_dict(TextEncoderConfig(hidden_size=192, num_layers=2, intermediate_size=256, activation="gelu",
                                                projection_dim=192, layout=OPENCLIP), seed=4)
    for pair in ([l_weights, big_g], [big_g, l_weights]):
        clip = clip_from_files(pair, "sdxl", dtype=torch.float32, device="cpu")
        cond, pooled = clip.encode_from_tokens(clip.tokenize(PROMPT), return_pooled=True)
        assert cond.shape == (1, 77, 128 + 192) and pooled.shape == (1, 192)


def test_every_checkpoint_key_reads_back_its_released_tensor(sd2, h_weights):
    (enc,) = sd2.encoders
    assert sorted(sd2.checkpoint_keys()) == sorted("cond_stage_model.model." + k for k in h_weights)
    for key, value in h_weights.items():
        assert torch.equal(enc.get_weight(key), value), key
