"""FLUX.2 [dev]'s Mistral text encoder: loading the single files and the conditioning diffusers computes."""
import pytest
import torch

from core.models.mistral_text import (LAYERS, MAX_LENGTH, SYSTEM_MESSAGE, TOKEN_KEY, MistralClip,
                                      clip_flux2_mistral, is_mistral_text_encoder, language_model_state_dict,
                                      mistral_clip_from_state_dict)
from core.models.tiny import (TEXT_WIDTH, tiny_mistral_flux2_config, tiny_mistral_flux2_state_dict,
                              write_tiny_mistral_flux2)
from mistral_reference import ChatProcessor, diffusers_text_encoder, reference_chat_ids

PROMPT = "a photo of a corgi astronaut on the moon, «soft light» 🌕"


@pytest.fixture(scope="module")
def tiny_sd():
    return tiny_mistral_flux2_state_dict(layers=32, seed=1)


def test_conditioning_equals_diffusers_flux2_prompt_embeds(cpu_fp32, tmp_path, tiny_sd):
    from diffusers.pipelines.flux2.pipeline_flux2 import Flux2Pipeline

    reference = diffusers_text_encoder(language_model_state_dict(tiny_sd), tiny_mistral_flux2_config(32))
    expected = Flux2Pipeline._get_mistral_3_small_prompt_embeds(reference, ChatProcessor(tmp_path), PROMPT,
                                                                system_message=SYSTEM_MESSAGE)
    got = mistral_clip_from_state_dict(tiny_sd).encode(PROMPT)[0][0]
    assert got.shape == expected.shape == (1, MAX_LENGTH, 3 * TEXT_WIDTH)
    assert torch.allclose(got, expected.float(), atol=1e-4, rtol=0), (got - expected).abs().max()


def test_tokens_are_the_prompt_in_mistral_instruct_format(cpu_fp32, tmp_path, tiny_sd):
    clip = mistral_clip_from_state_dict(tiny_sd)
    tokens = clip.tokenize(PROMPT)
    assert list(tokens) == [TOKEN_KEY]
    assert [i for i, _w in tokens[TOKEN_KEY][0]] == reference_chat_ids(tmp_path, SYSTEM_MESSAGE, PROMPT)


def test_prompts_longer_than_512_tokens_are_cut_as_diffusers_does(cpu_fp32, tmp_path, tiny_sd):
    from diffusers.pipelines.flux2.pipeline_flux2 import Flux2Pipeline

    long_prompt = "a very long and detailed description of a garden, " * 60
    reference = diffusers_text_encoder(language_model_state_dict(tiny_sd), tiny_mistral_flux2_config(32))
    expected = Flux2Pipeline._get_mistral_3_small_prompt_embeds(reference, ChatProcessor(tmp_path), long_prompt)
    clip = mistral_clip_from_state_dict(tiny_sd)
    assert len(clip.tokenize(long_prompt)[TOKEN_KEY][0]) > MAX_LENGTH
    got = clip.encode(long_prompt)[0][0]
    assert got.shape == (1, MAX_LENGTH, 3 * TEXT_WIDTH)
    assert torch.allclose(got, expected.float(), atol=1e-4, rtol=0)


def test_the_three_layer_states_sit_side_by_side(cpu_fp32, tiny_sd):
    clip = mistral_clip_from_state_dict(tiny_sd)
    ids = [i for i, _w in clip.tokenize("a cat")[TOKEN_KEY][0]]
    cond = clip.encode_from_tokens({TOKEN_KEY: [[(i, 1.0) for i in ids]]})
    with torch.no_grad():
        out = clip.model(input_ids=torch.tensor([ids]), output_hidden_states=True, use_cache=False)
    # the last token of an unpadded run equals the last position of the left-padded 512 (causal model)
    for n, layer in enumerate(LAYERS):
        part = cond[0, -1, n * TEXT_WIDTH:(n + 1) * TEXT_WIDTH]
        assert torch.allclose(part, out.hidden_states[layer][0, -1], atol=1e-4)


def test_a_file_cut_after_layer_30_gives_the_same_conditioning(cpu_fp32, tiny_sd):
    cut = {k: v for k, v in tiny_sd.items()
           if not (k.startswith("model.layers.") and int(k.split(".")[2]) >= 30) and k != "model.norm.weight"}
    full = mistral_clip_from_state_dict(tiny_sd).encode("a cat")[0][0]
    pruned = mistral_clip_from_state_dict(cut)
    assert pruned.model.config.num_hidden_layers == 30
    assert torch.allclose(pruned.encode("a cat")[0][0], full, atol=1e-5)


def test_a_file_with_too_few_layers_is_refused_by_name():
    sd = tiny_mistral_flux2_state_dict(layers=12)
    with pytest.raises(ValueError, match=r"flux2, Mistral.*hidden state 30.*12 layers"):
        mistral_clip_from_state_dict(sd, dtype=torch.float32, device="cpu")


def test_scaled_fp8_files_are_dequantized_on_load(cpu_fp32, tiny_sd):
    fp8 = {}
    for k, v in tiny_sd.items():
        if v.ndim == 2 and "embed_tokens" not in k:
            scale = v.abs().max() / 448.0
            fp8[k] = (v / scale).to(torch.float8_e4m3fn)
            fp8[k[: -len("weight")] + "scale_weight"] = scale.reshape(())
        else:
            fp8[k] = v
    fp8["scaled_fp8"] = torch.empty(0, dtype=torch.float8_e4m3fn)
    clip = mistral_clip_from_state_dict(fp8)
    assert all(p.dtype == torch.float32 for p in clip.model.parameters())
    w = clip.model.layers[3].self_attn.q_proj.weight
    assert torch.allclose(w, tiny_sd["model.layers.3.self_attn.q_proj.weight"], rtol=0.07, atol=1e-3)


def test_transformers_mistral3_layouts_load_and_lm_head_is_ignored(cpu_fp32, tiny_sd):
    nested = {"model.language_model." + k[len("model."):]: v for k, v in tiny_sd.items()}
    nested["model.vision_tower.transformer.layers.0.attention.q_proj.weight"] = torch.zeros(8, 8)
    nested["lm_head.weight"] = torch.zeros(131072, TEXT_WIDTH)
    a = mistral_clip_from_state_dict(nested).encode("a cat")[0][0]
    b = mistral_clip_from_state_dict(tiny_sd).encode("a cat")[0][0]
    assert torch.equal(a, b)


def test_mistral_is_told_from_qwen3_by_its_keys(tiny_sd):
    assert is_mistral_text_encoder(tiny_sd)
    qwen_like = dict(tiny_sd, **{"model.layers.0.self_attn.q_norm.weight": torch.ones(8)})
    assert not is_mistral_text_encoder(qwen_like)
    assert not is_mistral_text_encoder({"text_model.encoder.layers.0.mlp.fc1.weight": torch.ones(1)})


def test_the_tiny_file_loads_through_clip_flux2_mistral(cpu_fp32, tmp_path):
    from core.models.weights import load_file

    path = write_tiny_mistral_flux2(tmp_path / "mistral_3_small_flux2_bf16.safetensors")
    sd, _metadata = load_file(path)
    assert sd["model.embed_tokens.weight"].dtype == torch.bfloat16
    clip = clip_flux2_mistral([sd], dtype=torch.float32, device="cpu")
    assert isinstance(clip, MistralClip)
    cond, extra = clip.encode("a cat")[0]
    assert cond.shape == (1, 512, 96) and torch.isfinite(cond).all() and extra["pooled_output"] is None


def test_two_files_are_refused():
    with pytest.raises(ValueError, match="one Mistral file, got 2"):
        clip_flux2_mistral([{}, {}])


def test_a_tokenizer_carried_by_the_file_is_used(cpu_fp32, tiny_sd):
    import json

    from core.models.mistral_tokenizer import TEKKEN_FILE

    data = json.loads(TEKKEN_FILE.read_text(encoding="utf-8"))
    data["special_tokens"] = [{"rank": i, "token_str": n, "is_control": True}
                              for i, n in enumerate(["<unk>", "<s>", "</s>", "[INST]", "[/INST]"])]
    # a file whose control tokens sit elsewhere: the ids must follow the file, not the shipped vocabulary
    data["special_tokens"] += [{"rank": 5 + i, "token_str": n, "is_control": True}
                               for i, n in enumerate(["<pad>", "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]"])]
    raw = json.dumps(data).encode()
    sd = dict(tiny_sd, tekken_model=torch.frombuffer(bytearray(raw), dtype=torch.uint8))
    ids = [i for i, _w in mistral_clip_from_state_dict(sd).tokenize("a cat")[TOKEN_KEY][0]]
    assert ids[:2] == [1, 6] and ids[-1] == 4 and 7 in ids


def test_rotary_frequencies_use_theta_1e9(cpu_fp32, tiny_sd):
    inv_freq = mistral_clip_from_state_dict(tiny_sd).model.rotary_emb.inv_freq
    head_dim = TEXT_WIDTH // 4
    expected = 1.0 / (1e9 ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    assert torch.allclose(inv_freq.float(), expected)


def test_a_broken_embedded_tokenizer_is_refused_with_a_reason(cpu_fp32, tiny_sd):
    sd = dict(tiny_sd, tekken_model=torch.frombuffer(bytearray(b'{"config": {}}'), dtype=torch.uint8))
    with pytest.raises(ValueError, match="flux2, Mistral.*'tekken_model'.*not a tekken.json: KeyError"):
        mistral_clip_from_state_dict(sd)
