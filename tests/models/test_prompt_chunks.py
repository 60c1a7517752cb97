"""Prompts are tokenized word by word and packed into 77-token chunks (docs/comfy-api.md §7)."""
import re

import pytest
import torch

from core.models.prompt import MAX_WORD_LENGTH, pack_chunks, split_embedding_name, tokenize_prompt
from core.models.tokenizer import END_OF_TEXT, START_OF_TEXT, get_tokenizer
from tests.testdata import clip_tokens

REFERENCE = clip_tokens()
LONG = sorted((p for p in REFERENCE if len(REFERENCE[p]) > 75), key=lambda p: len(REFERENCE[p]))


def words_of(text, find=None):
    return tokenize_prompt(text, get_tokenizer().encode, find)


def chunks_of(text, pad=END_OF_TEXT):
    return pack_chunks(words_of(text), start=START_OF_TEXT, end=END_OF_TEXT, pad=pad)


def content(chunk):
    """Token values between the start token and the end token."""
    ids = [t for t, _ in chunk]
    return ids[1:ids.index(END_OF_TEXT, 1)]


def test_reference_has_the_81_and_182_token_prompts():
    assert [len(REFERENCE[p]) for p in LONG] == [81, 182]


@pytest.mark.parametrize("prompt", LONG, ids=lambda p: f"{len(REFERENCE[p])}tokens")
def test_long_prompt_chunk_count(prompt):
    # Words of < 8 tokens move whole, so a chunk holds at most 75 and the count is at least ceil(n/75).
    n = len(REFERENCE[prompt])
    chunks = chunks_of(prompt)
    assert len(chunks) >= -(-n // 75)
    assert len(chunks) == {81: 2, 182: 3}[n]


@pytest.mark.parametrize("prompt", LONG, ids=lambda p: f"{len(REFERENCE[p])}tokens")
def test_long_prompt_chunks_are_77_tokens_framed_by_start_and_end(prompt):
    for chunk in chunks_of(prompt):
        ids = [t for t, _ in chunk]
        assert len(ids) == 77
        assert ids[0] == START_OF_TEXT
        assert len(content(chunk)) <= 75
        end = 1 + len(content(chunk))
        assert ids[end:] == [END_OF_TEXT] * (77 - end)  # SD1: end token, then end-token padding


@pytest.mark.parametrize("prompt", LONG, ids=lambda p: f"{len(REFERENCE[p])}tokens")
def test_long_prompt_chunks_hold_the_prompt_ids_in_order(prompt):
    joined = [t for chunk in chunks_of(prompt) for t in content(chunk)]
    # The 182-token prompt contains "(extra:1.3)": the weight syntax itself is not tokenized.
    plain = re.sub(r"\(([^():]*):[0-9.]+\)", r"\1", prompt)
    expected = REFERENCE[prompt] if plain == prompt else get_tokenizer().encode(plain)
    assert joined == expected


@pytest.mark.parametrize("prompt", LONG, ids=lambda p: f"{len(REFERENCE[p])}tokens")
def test_long_prompt_chunks_break_between_words_and_only_when_full(prompt):
    word_lengths = [len(w) for w in words_of(prompt)]
    boundaries = {sum(word_lengths[:i]) for i in range(len(word_lengths) + 1)}
    used = 0
    for chunk in chunks_of(prompt)[:-1]:
        used += len(content(chunk))
        assert used in boundaries  # no word was cut
        next_word = word_lengths[sorted(boundaries).index(used)]
        assert len(content(chunk)) + next_word > 75  # the next word really did not fit


def test_sd2_and_clip_g_pad_with_zero_after_the_end_token():
    ids = [t for t, _ in chunks_of("a photo of a cat", pad=0)[0]]
    n = len(get_tokenizer().encode("a photo of a cat"))
    assert ids[n + 1] == END_OF_TEXT and ids[n + 2:] == [0] * (77 - n - 2)


def test_empty_prompt_is_one_chunk_of_start_end_padding():
    (chunk,) = chunks_of("")
    assert [t for t, _ in chunk] == [START_OF_TEXT] + [END_OF_TEXT] * 76


def test_a_word_that_does_not_fit_moves_whole_to_the_next_chunk():
    word = [(1000 + i, 1.0) for i in range(5)]
    filler = [[(7, 1.0)] * 73]
    chunks = pack_chunks(filler + [word], start=START_OF_TEXT, end=END_OF_TEXT, pad=0)
    assert len(content(chunks[0])) == 73
    assert content(chunks[1]) == [t for t, _ in word]


def test_a_word_of_8_or_more_tokens_is_split_to_fill_the_chunk():
    word = [(1000 + i, 1.0) for i in range(MAX_WORD_LENGTH)]
    filler = [[(7, 1.0)] * 73]
    chunks = pack_chunks(filler + [word], start=START_OF_TEXT, end=END_OF_TEXT, pad=0)
    assert content(chunks[0]) == [7] * 73 + [1000, 1001]
    assert content(chunks[1]) == [1002 + i for i in range(MAX_WORD_LENGTH - 2)]


def test_weights_travel_with_their_tokens():
    (chunk,) = chunks_of("a (cat:1.3)")
    cat = get_tokenizer().encode("cat")
    assert [w for t, w in chunk if t in cat] == [1.3]
    assert chunk[0][1] == chunk[-1][1] == 1.0


def test_newlines_separate_words():
    assert [len(w) for w in words_of("red\nfox")] == [1, 1]


def test_embedding_word_is_replaced_by_its_vectors_with_the_group_weight():
    vectors = torch.arange(6.0).reshape(3, 2)
    words = words_of("(embedding:foo:1.2) cat", find=lambda name: vectors if name == "foo" else None)
    assert len(words) == 2 and len(words[0]) == 3
    assert all(torch.equal(t, vectors[i]) and w == 1.2 for i, (t, w) in enumerate(words[0]))


def test_missing_embedding_is_dropped_and_the_rest_kept(caplog):
    words = words_of("embedding:nothere cat", find=lambda name: None)
    assert [[t for t, _ in w] for w in words] == [get_tokenizer().encode("cat")]
    assert "nothere" in caplog.text


def test_trailing_comma_after_an_embedding_name_is_text():
    assert split_embedding_name("EasyNegative,") == ("EasyNegative", ",")


def test_text_from_an_angle_bracket_on_is_not_part_of_the_name():
    assert split_embedding_name("foo<lora:x:1>") == ("foo", "<lora:x:1>")


def test_embedding_prefix_is_plain_text_without_an_embedding_lookup():
    words = words_of("embedding:foo")
    assert [t for w in words for t, _ in w] == get_tokenizer().encode("embedding:foo")
