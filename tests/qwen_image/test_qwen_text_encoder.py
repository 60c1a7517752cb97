"""CLIPLoader type qwen_image: Qwen2.5-VL in the released file layout, prompts in Qwen-Image's chat template,
equal to the diffusers pipelines' encode_prompt on a tiny encoder."""
from __future__ import annotations

import pytest
import torch

from qwen_toys import diffusers_pipeline, tiny_clip

PROMPTS = ["a red fox in the snow", "霓虹灯下的香港街道, \"HAPPY HAIR\" sign"]


@pytest.mark.parametrize("prompt", PROMPTS)
def test_prompt_embeddings_equal_qwen_image_pipeline_encode_prompt(prompt):
    from diffusers import QwenImagePipeline

    clip = tiny_clip(seed=1)
    pipe = diffusers_pipeline(QwenImagePipeline, clip)
    with torch.no_grad():
        want, mask = pipe.encode_prompt(prompt, device="cpu")
    got = clip.encode_from_tokens(clip.tokenize(prompt))
    assert got.shape == want.shape
    assert float(want.abs().max()) > 0.1
    assert torch.allclose(got, want.float(), atol=1e-4, rtol=0), float((got - want).abs().max())


def test_the_dropped_prefix_is_the_pipelines_34_tokens():
    from core.models.qwen_vl_text import template_end

    clip = tiny_clip()
    ids = [t for t, _w in clip.tokenize("x")["qwen25_7b"][0]]
    assert template_end(ids) == 34


def test_a_prompt_with_its_own_chat_template_is_taken_as_written():
    clip = tiny_clip()
    text = "<|im_start|>user\nhello<|im_end|>"
    ids = [t for t, _w in clip.tokenize(text)["qwen25_7b"][0]]
    assert ids == clip.tokenizer(text, add_special_tokens=False)["input_ids"]


def test_conditioning_has_no_pooled_vector():
    clip = tiny_clip()
    [[cond, opts]] = clip.encode("a cat")
    assert cond.ndim == 3 and cond.shape[-1] == 64
    assert opts["pooled_output"] is None


def test_fp8_scaled_file_loads_dequantized(tmp_path):
    from core.models.text_encoder import clip_from_files
    from core.models.tiny import tiny_qwen25_vl_state_dict, write_tiny_qwen25_vl
    from core.models.weights import load_file

    path = write_tiny_qwen25_vl(tmp_path / "qwen_2.5_vl_7b_fp8_scaled.safetensors", seed=2, fp8_scaled=True)
    clip = clip_from_files([path], "qwen_image", dtype=torch.float32, device="cpu")
    sd, _ = load_file(path)
    key = "model.layers.0.self_attn.q_proj.weight"
    assert sd[key].dtype == torch.float8_e4m3fn
    got = clip.model.language_model.layers[0].self_attn.q_proj.weight
    assert torch.equal(got, sd[key].float() * sd["model.layers.0.self_attn.q_proj.scale_weight"].float())
    original = tiny_qwen25_vl_state_dict(seed=2)[key]
    assert float((got - original).abs().max()) < 0.07 * float(original.abs().max())  # fp8's 3 mantissa bits


def test_a_file_that_is_not_qwen_is_refused_with_the_reason():
    from core.models.qwen_vl_text import clip_from_state_dicts

    with pytest.raises(ValueError, match="not a Qwen2.5-VL file"):
        clip_from_state_dicts([{"text_model.embeddings.token_embedding.weight": torch.zeros(4, 4)}])
