"""What the FLUX and SD3 CLIPs encode, checked against transformers' modules on the same tiny weights:
FLUX cond = T5 last hidden state, pooled = CLIP-L pooled unprojected; SD3 cond = (L ‖ G penultimate, no
final norm, zero-padded to the T5 width) then T5 along the sequence, pooled = L unprojected ‖ G projected."""
import pytest
import torch

from core.models.text_encoder import clip_from_files
from tests.dit_text.dit_text_refs import clip_outputs

F = torch.float32


def load(tiny_te_dir, names, clip_type):
    return clip_from_files([tiny_te_dir / n for n in names], clip_type, dtype=F, device="cpu", embedding_dirs=[])


@pytest.fixture(scope="module")
def flux(tiny_te_dir):
    return load(tiny_te_dir, ["clip_l.safetensors", "t5xxl_fp16.safetensors"], "flux")


@pytest.fixture(scope="module")
def sd3(tiny_te_dir):
    return load(tiny_te_dir, ["clip_l.safetensors", "clip_g.safetensors", "t5xxl_fp16.safetensors"], "sd3")


def ids(chunk):
    return [int(t) for t, *_ in chunk]


def close(a, b):
    torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def half_t5_hidden(row, layer=-1):
    # the T5 file is float16: the reference uses the same rounded weights
    from core.models.tiny import tiny_text_encoder_state_dict
    from tests.dit_text import dit_text_refs

    weights = {k: v.half().float() for k, v in tiny_text_encoder_state_dict("t5xxl").items()}
    model = dit_text_refs.hf_t5(weights)
    with torch.no_grad():
        out = model(input_ids=torch.tensor([row]), output_hidden_states=True)
        return out.last_hidden_state if layer == -1 else model.encoder.final_layer_norm(out.hidden_states[layer])


def test_flux_cond_is_the_t5_last_hidden_state(flux):
    tokens = flux.tokenize("a photo of a cat")
    cond, pooled = flux.encode_from_tokens(tokens, return_pooled=True)
    assert cond.shape == (1, 256, 96)
    close(cond, half_t5_hidden(ids(tokens["t5xxl"][0])))


def test_flux_pooled_is_clip_l_pooled_without_projection(flux):
    tokens = flux.tokenize("a photo of a cat")
    _cond, pooled = flux.encode_from_tokens(tokens, return_pooled=True)
    _hidden, unprojected, projected = clip_outputs("clip_l", ids(tokens["l"][0]))
    assert pooled.shape == (1, 32)
    close(pooled, unprojected)
    assert not torch.allclose(pooled, projected, atol=1e-3)


def test_flux_conditioning_entry_carries_the_pooled_vector(flux):
    [[cond, extra]] = flux.encode("a cat")
    assert cond.shape == (1, 256, 96) and extra["pooled_output"].shape == (1, 32)


def test_t5_prompt_weight_interpolates_from_the_empty_prompt(flux):
    tokens = flux.tokenize("a (cat:1.5) sits")
    (chunk,) = tokens["t5xxl"]
    row = ids(chunk)
    plain = half_t5_hidden(row)
    empty = half_t5_hidden([1] + [0] * (len(row) - 1))
    expected = plain.clone()
    for j, (_t, w) in enumerate(chunk):
        if w != 1.0:
            expected[0, j] = empty[0, j] + (plain[0, j] - empty[0, j]) * w
    assert any(w == 1.5 for _t, w in chunk)
    close(flux.encode_from_tokens(tokens), expected)


def test_clip_skip_selects_the_t5_layer_too(flux):
    skipped = flux.clone()
    skipped.clip_layer(-2)
    tokens = flux.tokenize("a cat")
    close(skipped.encode_from_tokens(tokens), half_t5_hidden(ids(tokens["t5xxl"][0]), layer=-2))


def test_sd3_cond_is_l_g_penultimate_padded_then_t5(sd3):
    tokens = sd3.tokenize("a photo of a cat")
    cond, pooled = sd3.encode_from_tokens(tokens, return_pooled=True)
    l_hidden, l_pooled, _ = clip_outputs("clip_l", ids(tokens["l"][0]))
    g_hidden, _, g_projected = clip_outputs("clip_g", ids(tokens["g"][0]))
    lg = torch.nn.functional.pad(torch.cat([l_hidden[-2], g_hidden[-2]], dim=-1), (0, 96 - 32 - 48))
    expected = torch.cat([lg, half_t5_hidden(ids(tokens["t5xxl"][0]))], dim=1)
    assert cond.shape == (1, 77 + 77, 96)
    close(cond, expected)
    close(pooled, torch.cat([l_pooled, g_projected], dim=-1))


def test_sd3_long_clip_prompt_adds_77_token_chunks_before_t5(sd3):
    text = " ".join(["cat"] * 100)
    cond = sd3.encode_from_tokens(sd3.tokenize(text))
    assert cond.shape == (1, 2 * 77 + 101, 96)


def test_sd3_g_alone_sits_after_768_zero_channels(tiny_te_dir):
    clip = load(tiny_te_dir, ["clip_g.safetensors"], "sd3")
    tokens = clip.tokenize("a cat")
    cond, pooled = clip.encode_from_tokens(tokens, return_pooled=True)
    g_hidden, _, g_projected = clip_outputs("clip_g", ids(tokens["g"][0]))
    assert cond.shape == (1, 77, 4096)
    assert cond[..., :768].abs().max() == 0 and cond[..., 768 + 48:].abs().max() == 0
    close(cond[..., 768:768 + 48], g_hidden[-2])
    assert pooled[:, :768].abs().max() == 0
    close(pooled[:, 768:], g_projected)


def test_sd3_t5_alone_gives_t5_states_and_a_zero_pooled_vector(tiny_te_dir):
    clip = load(tiny_te_dir, ["t5xxl_fp16.safetensors"], "sd3")
    tokens = clip.tokenize("a cat")
    cond, pooled = clip.encode_from_tokens(tokens, return_pooled=True)
    close(cond, half_t5_hidden(ids(tokens["t5xxl"][0])))
    assert pooled.shape == (1, 768 + 1280) and pooled.abs().max() == 0


def test_sd3_l_alone_is_padded_on_the_right(tiny_te_dir):
    clip = load(tiny_te_dir, ["clip_l.safetensors"], "sd3")
    tokens = clip.tokenize("a cat")
    cond, pooled = clip.encode_from_tokens(tokens, return_pooled=True)
    l_hidden, l_pooled, _ = clip_outputs("clip_l", ids(tokens["l"][0]))
    assert cond.shape == (1, 77, 4096) and cond[..., 32:].abs().max() == 0
    close(cond[..., :32], l_hidden[-2])
    close(pooled[:, :32], l_pooled)
    assert pooled.shape == (1, 32 + 1280) and pooled[:, 32:].abs().max() == 0


def test_tokens_from_another_clip_are_refused_by_name(flux):
    with pytest.raises(ValueError, match="t5xxl"):
        flux.encode_from_tokens({"l": flux.tokenize("a")["l"]})


def test_a_t5xxl_embedding_replaces_its_token_embedding(tiny_te_dir, tmp_path):
    from safetensors.torch import save_file

    from core.models.dit_text import t5_tokenizer
    from core.models.tiny import tiny_text_encoder_state_dict

    (cat_id,) = t5_tokenizer()("cat")["input_ids"][:-1]
    row = tiny_text_encoder_state_dict("t5xxl")["shared.weight"][cat_id].half().float()
    # an embedding file for several encoders: T5 reads the vector under its key "t5xxl"
    save_file({"t5xxl": row[None].clone(), "clip_l": torch.zeros(1, 32)}, str(tmp_path / "kitty.safetensors"))
    clip = clip_from_files([tiny_te_dir / "clip_l.safetensors", tiny_te_dir / "t5xxl_fp16.safetensors"], "flux",
                           dtype=F, device="cpu", embedding_dirs=[tmp_path])
    with_embedding = clip.encode_from_tokens(clip.tokenize("a embedding:kitty"))
    with_word = clip.encode_from_tokens(clip.tokenize("a cat"))
    close(with_embedding, with_word)


def test_an_empty_l_chunk_list_encodes_start_and_end_alone_and_cuts_g_to_it(sd3):
    # ComfyUI: a tower given no chunk encodes [start, end]; L ‖ G keep the shorter sequence
    tokens = sd3.tokenize("a cat")
    tokens["l"] = []
    cond = sd3.encode_from_tokens(tokens)
    l_hidden, _, _ = clip_outputs("clip_l", [49406, 49407])
    assert cond.shape == (1, 2 + 77, 96)
    close(cond[:, :2, :32], l_hidden[-2])


def test_flux_cond_equals_diffusers_flux_pipeline_t5_embeds(flux):
    """diffusers' FluxPipeline pads T5 ids to max_sequence_length with no attention mask, as ComfyUI does;
    at 256 (ComfyUI's FLUX minimum) both give the same states for a prompt shorter than that."""
    from types import SimpleNamespace

    from diffusers import FluxPipeline

    from core.models.dit_text import t5_tokenizer
    from core.models.tiny import tiny_text_encoder_state_dict
    from tests.dit_text.dit_text_refs import hf_t5

    encoder = hf_t5({k: v.half().float() for k, v in tiny_text_encoder_state_dict("t5xxl").items()})
    pipe = SimpleNamespace(tokenizer_2=t5_tokenizer(), text_encoder_2=encoder, tokenizer_max_length=77)
    text = "a photo of a cat, highly detailed, 4k"
    with torch.no_grad():
        ref = FluxPipeline._get_t5_prompt_embeds(pipe, text, max_sequence_length=256, device="cpu", dtype=F)
    close(flux.encode_from_tokens(flux.tokenize(text)), ref)
