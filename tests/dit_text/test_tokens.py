"""Token dicts of the FLUX and SD3 CLIPs: T5 chunking/padding, CLIP pads, weights and word ids (ComfyUI's rules)."""
import pytest
import torch

from core.models.dit_text import t5_chunks, t5_tokenizer
from core.models.text_encoder import clip_from_files


@pytest.fixture(scope="module")
def flux(tiny_te_dir):
    return clip_from_files([tiny_te_dir / "clip_l.safetensors", tiny_te_dir / "t5xxl_fp16.safetensors"], "flux",
                           dtype=torch.float32, device="cpu", embedding_dirs=[])


@pytest.fixture(scope="module")
def sd3_t5_only(tiny_te_dir):
    return clip_from_files([tiny_te_dir / "t5xxl_fp16.safetensors"], "sd3", device="cpu", embedding_dirs=[])


def ids(chunk):
    return [t for t, *_ in chunk]


def test_flux_tokens_have_clip_l_and_t5xxl_entries(flux):
    assert sorted(flux.tokenize("a cat")) == ["l", "t5xxl"]


def test_flux_t5_chunk_is_the_prompt_then_end_then_padding_to_256(flux):
    (chunk,) = flux.tokenize("a photo of a cat")["t5xxl"]
    expected = t5_tokenizer()("a photo of a cat")["input_ids"]  # ends with </s> (1)
    assert ids(chunk)[:len(expected)] == expected and expected[-1] == 1
    assert len(chunk) == 256 and set(ids(chunk)[len(expected):]) == {0}


def test_sd3_t5_chunk_is_padded_to_77(sd3_t5_only):
    (chunk,) = sd3_t5_only.tokenize("a cat")["t5xxl"]
    assert len(chunk) == 77


def test_sd3_tokenizes_every_tower_even_those_it_lacks(sd3_t5_only):
    tokens = sd3_t5_only.tokenize("a cat")
    assert sorted(tokens) == ["g", "l", "t5xxl"]
    assert ids(tokens["l"][0])[-1] == 49407 and ids(tokens["g"][0])[-1] == 0  # L pads with end, G with 0


def test_a_long_prompt_stays_one_t5_chunk_without_cut(flux):
    text = " ".join(["cat"] * 300)
    (chunk,) = flux.tokenize(text)["t5xxl"]
    assert len(chunk) == 301 and ids(chunk)[-1] == 1
    assert len(flux.tokenize(text)["l"]) == 4  # CLIP-L still chunks by 75


def test_empty_prompt_is_end_then_padding():
    (chunk,) = t5_chunks("", 256)
    assert ids(chunk) == [1] + [0] * 255


def test_weights_apply_to_the_t5_tokens_of_the_weighted_words(flux):
    (chunk,) = flux.tokenize("a (red:1.3) cat")["t5xxl"]
    red = t5_tokenizer()("red")["input_ids"][:-1]
    weighted = [(t, w) for t, w in chunk if w != 1.0]
    assert weighted == [(t, 1.3) for t in red]


def test_word_ids_number_the_words_and_zero_the_end_and_padding(flux):
    (chunk,) = flux.tokenize("a red cat", return_word_ids=True)["t5xxl"]
    assert {len(item) for item in chunk} == {3}
    words = [w for _t, _w, w in chunk]
    n = len(t5_tokenizer()("a red cat")["input_ids"]) - 1
    assert words[:n] == sorted(words[:n]) and words[0] == 1 and words[n - 1] == 3
    assert set(words[n:]) == {0}


@pytest.mark.parametrize("text", ["a photo of a cat", "hello, world!", "a  b", "line one\nline two", "don't stop",
                                  "A (red:1.3) cat, 4k", "café crème", "日本語のテキスト",
                                  " leading and trailing ", "(masterpiece), best quality"])
def test_t5_ids_equal_tokenizing_each_weighted_segment_whole(text):
    from core.models.prompt import parse_weights

    # ComfyUI tokenizes each weighted segment in one call; we go word by word: the ids must agree
    expected = [t for segment, _w in parse_weights(text) for t in t5_tokenizer()(segment)["input_ids"][:-1]] + [1]
    assert ids(t5_chunks(text, 0)[0]) == expected
