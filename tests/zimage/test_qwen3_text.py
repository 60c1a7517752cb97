"""Qwen3 text encoders (CLIPLoader types lumina2 and flux2): our reading of the qwen_3_4b.safetensors layout
equals transformers' own, the conditioning equals diffusers' pipelines' encode_prompt, the full-size layout
on meta equals the manifest."""
from __future__ import annotations

import pytest
import torch

from qwen3_reference import causal_lm, klein_prompt_embeds, zimage_prompt_embeds
from tests import testdata

PROMPT = "a red fox sitting in the snow, (watercolor:1.2)"


def clip_for(clip_type: str, layers: int, seed: int = 0):
    from core.models.text_encoder import clip_from_files
    from core.models.tiny import tiny_qwen3_state_dict

    sd = tiny_qwen3_state_dict(layers, seed)
    return clip_from_files([sd], clip_type, dtype=torch.float32, device="cpu"), sd


def test_the_file_layout_loads_into_a_qwen3_equal_to_transformers_causal_lm(cpu_fp32):
    from core.models.qwen3_text import load_qwen3
    from core.models.tiny import tiny_qwen3_state_dict

    sd = tiny_qwen3_state_dict(3, seed=4)
    ours = load_qwen3(sd, dtype=torch.float32, device="cpu")
    ref = causal_lm(sd, 3).model
    ids = torch.tensor([[151644, 872, 198, 64, 8251, 151645]])
    with torch.no_grad():
        got = ours(input_ids=ids, output_hidden_states=True).hidden_states
        want = ref(input_ids=ids, output_hidden_states=True).hidden_states
    assert len(got) == len(want) == 4
    assert float(want[-2].abs().max()) > 0.1
    for a, b in zip(got, want):
        assert torch.allclose(a, b, atol=1e-5, rtol=0)


def test_lumina2_conditioning_equals_diffusers_z_image_encode_prompt(cpu_fp32):
    clip, sd = clip_for("lumina2", 3, seed=1)
    (cond, opts), = clip.encode(PROMPT)
    want = zimage_prompt_embeds(sd, 3, PROMPT)
    assert cond.shape == (1, want.shape[0], 32) and opts["pooled_output"] is None
    assert torch.allclose(cond[0], want.float(), atol=1e-4, rtol=0), float((cond[0] - want).abs().max())


def test_flux2_conditioning_equals_diffusers_klein_encode_prompt(cpu_fp32):
    clip, sd = clip_for("flux2", 28, seed=2)
    (cond, _opts), = clip.encode(PROMPT)
    want = klein_prompt_embeds(sd, 28, PROMPT)
    assert want.shape == (1, 512, 3 * 32)
    assert cond.shape == want.shape
    assert torch.allclose(cond, want.float(), atol=1e-4, rtol=0), float((cond - want).abs().max())


def test_the_prompt_is_wrapped_in_the_chat_turn_of_each_type(cpu_fp32):
    from core.models.llm_tokenizers import qwen_tokenizer

    tok = qwen_tokenizer("qwen3")
    for clip_type, tail in (("lumina2", "<|im_start|>assistant\n"),
                            ("flux2", "<|im_start|>assistant\n<think>\n\n</think>\n\n")):
        clip, _ = clip_for(clip_type, 28 if clip_type == "flux2" else 2)
        (tokens,) = clip.tokenize("a cat").values()
        text = tok.decode([t for t, _w in tokens[0]])
        assert text == "<|im_start|>user\na cat<|im_end|>\n" + tail


def test_lumina2_reads_the_layer_clip_set_last_layer_names(cpu_fp32):
    clip, _ = clip_for("lumina2", 3)
    default = clip.encode("a cat")[0][0]
    other = clip.clone()
    other.clip_layer(-1)
    assert not torch.allclose(other.encode("a cat")[0][0], default)
    assert torch.equal(clip.encode("a cat")[0][0], default)  # the clone's choice stays its own


def test_flux2_needs_a_qwen3_deep_enough_for_layer_27(cpu_fp32):
    with pytest.raises(ValueError, match="hidden state 27.*2 layers"):
        clip_for("flux2", 2)


def test_scaled_fp8_weights_are_dequantized_on_load(cpu_fp32):
    from core.models.qwen3_text import load_qwen3
    from core.models.tiny import tiny_qwen3_state_dict

    sd = tiny_qwen3_state_dict(2, seed=5)
    fp8 = dict(sd)
    key = "model.layers.0.mlp.down_proj.weight"
    scale = sd[key].abs().max() / 448.0
    fp8[key] = (sd[key] / scale).to(torch.float8_e4m3fn)
    fp8["model.layers.0.mlp.down_proj.scale_weight"] = scale.reshape(())
    fp8["scaled_fp8"] = torch.empty(0, dtype=torch.float8_e4m3fn)
    model = load_qwen3(fp8, dtype=torch.float32, device="cpu")
    got = model.layers[0].mlp.down_proj.weight
    assert got.dtype == torch.float32
    assert torch.allclose(got, fp8[key].float() * scale)
    assert float((got - sd[key]).abs().max()) < 0.1 * float(sd[key].abs().max())  # the weight, not the raw fp8


def test_a_clip_l_file_given_as_lumina2_is_refused_by_name(cpu_fp32):
    from core.models.text_encoder import clip_from_files
    from core.models.tiny import random_text_encoder_state_dict
    from core.models.clip import TextEncoderConfig

    sd = random_text_encoder_state_dict(TextEncoderConfig(hidden_size=32, intermediate_size=64, num_layers=1))
    with pytest.raises(ValueError, match="not a Qwen3 text encoder.*embed_tokens"):
        clip_from_files([sd], "lumina2", dtype=torch.float32, device="cpu")


def full_size_qwen3_4b():
    from transformers import Qwen3Model

    from core.models.building import on_meta
    from core.models.qwen3_text import config_from_state_dict

    shapes = {k[len("model."):]: torch.empty(v, device="meta")
              for k, v in testdata.manifest("qwen_3_4b")["keys"].items()}
    return on_meta(lambda: Qwen3Model(config_from_state_dict(shapes)))


def test_the_config_read_from_the_manifest_is_the_published_qwen3_4b():
    manifest = testdata.manifest("qwen_3_4b")
    c = full_size_qwen3_4b().config
    published = manifest["config"]
    assert (c.vocab_size, c.hidden_size, c.intermediate_size, c.num_hidden_layers, c.num_attention_heads,
            c.num_key_value_heads, c.head_dim) == (
        published["vocab_size"], published["hidden_size"], published["intermediate_size"],
        published["num_hidden_layers"], published["num_attention_heads"], published["num_key_value_heads"],
        published["head_dim"])
    assert (c.rope_parameters["rope_theta"], c.rms_norm_eps) == (published["rope_theta"], published["rms_norm_eps"])


def test_full_size_qwen3_4b_holds_exactly_the_manifest_keys():
    manifest = testdata.manifest("qwen_3_4b")
    ours = {"model." + k: list(v.shape) for k, v in full_size_qwen3_4b().state_dict().items()}
    assert ours == manifest["keys"]
    assert sum(v.numel() for v in full_size_qwen3_4b().parameters()) == manifest["components"]["text_encoder"]["params"]
