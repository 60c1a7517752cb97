"""LoRAs on the FLUX / SD3.5 text encoders: ComfyUI's module names reach the right weights, and the merge
is the LoRA's low-rank update (checked against weights updated by hand)."""
import torch

from core.models.lora import load_lora_for_models
from core.models.lora_dit_text import dit_text_names
from core.models.text_encoder import clip_from_checkpoint
from core.models.tiny import tiny_bundled_text_encoders

T5_Q = "encoder.block.0.layer.0.SelfAttention.q.weight"


def bundle(kinds):
    return tiny_bundled_text_encoders(kinds)


def clip_of(sd, family):
    return clip_from_checkpoint(sd, family, dtype=torch.float32, device="cpu", embedding_dirs=[])


def lora_pair(name, out_dim, in_dim, rank=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {f"{name}.lora_down.weight": torch.randn(rank, in_dim, generator=g) * 0.1,
            f"{name}.lora_up.weight": torch.randn(out_dim, rank, generator=g) * 0.1,
            f"{name}.alpha": torch.tensor(float(rank))}


def test_comfyui_names_for_flux_towers():
    names = dit_text_names(bundle(("clip_l", "t5xxl")))
    t5_key = "text_encoders.t5xxl.transformer." + T5_Q
    assert names["lora_te2_encoder_block_0_layer_0_SelfAttention_q"] == (t5_key, None)  # OneTrainer FLUX
    assert names["lora_te3_encoder_block_0_layer_0_SelfAttention_q"] == (t5_key, None)
    assert names["lora_te1_text_model_encoder_layers_0_mlp_fc1"][0].startswith("text_encoders.clip_l.")
    assert names[t5_key[: -len(".weight")]] == (t5_key, None)


def test_comfyui_names_for_sd3_towers():
    names = dit_text_names(bundle(("clip_l", "clip_g", "t5xxl")))
    assert names["lora_te2_text_model_encoder_layers_0_mlp_fc1"][0].startswith("text_encoders.clip_g.")
    assert names["text_encoder_2.text_model.encoder.layers.0.mlp.fc1"][0].startswith("text_encoders.clip_g.")
    assert names["lora_te3_encoder_block_0_layer_0_SelfAttention_q"][0].startswith("text_encoders.t5xxl.")
    assert "lora_te2_encoder_block_0_layer_0_SelfAttention_q" not in names
    assert names["lora_te2_text_projection"] == ("text_encoders.clip_g.transformer.text_projection.weight", None)


def test_a_flux_lora_on_clip_l_and_t5_merges_its_low_rank_update():
    sd = bundle(("clip_l", "t5xxl"))
    clip = clip_of(sd, "flux")
    t5_key = "text_encoders.t5xxl.transformer." + T5_Q
    fc1_key = "text_encoders.clip_l.transformer.text_model.encoder.layers.0.mlp.fc1.weight"
    lora = {**lora_pair("lora_te2_encoder_block_0_layer_0_SelfAttention_q", *sd[t5_key].shape),
            **lora_pair("lora_te1_text_model_encoder_layers_0_mlp_fc1", *sd[fc1_key].shape, seed=1)}
    _model, patched, unmatched = load_lora_for_models(None, clip, lora, 1.0, 0.8)
    assert unmatched == []
    by_hand = dict(sd)
    for name, key in (("lora_te2_encoder_block_0_layer_0_SelfAttention_q", t5_key),
                      ("lora_te1_text_model_encoder_layers_0_mlp_fc1", fc1_key)):
        up, down = lora[f"{name}.lora_up.weight"], lora[f"{name}.lora_down.weight"]
        by_hand[key] = sd[key] + 0.8 * (up @ down)  # alpha / rank = 1
    expected = clip_of(by_hand, "flux")
    tokens = clip.tokenize("a photo of a cat")
    got, got_pooled = patched.encode_from_tokens(tokens, return_pooled=True)
    want, want_pooled = expected.encode_from_tokens(tokens, return_pooled=True)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got_pooled, want_pooled, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(clip.encode_from_tokens(tokens), got, atol=1e-4)


def test_a_unet_only_lora_leaves_a_flux_clip_alone():
    clip = clip_of(bundle(("clip_l", "t5xxl")), "flux")
    lora = lora_pair("lora_unet_double_blocks_0_img_attn_qkv", 12, 4)
    _model, patched, unmatched = load_lora_for_models(None, clip, lora, 1.0, 1.0)
    assert unmatched == ["lora_unet_double_blocks_0_img_attn_qkv"] and patched.patches == {}
