"""The offline CLIP tokenizer gives the original OpenAI tokenizer's ids (tests/data/reference/clip_tokens.json)."""
import pytest

from core.models.tokenizer import END_OF_TEXT, START_OF_TEXT, clean_text, get_tokenizer
from tests.testdata import clip_tokens

REFERENCE = clip_tokens()

# The prompts on which skipping ftfy/html cleaning gives different ids (tests/data/reference/checkpoints/README.md).
CLEANING_PROMPTS = ["&amp; &lt;html&gt; tags", "hello\u2026world \u2014 \u201cquotes\u201d \u2018single\u2019",
                    "\uff26\uff35\uff2c\uff2c\uff37\uff29\uff24\uff34\uff28 \uff54\uff45\uff58\uff54", "mojibake: caf\u00c3\u00a9"]


def test_reference_file_holds_29_prompts():
    assert len(REFERENCE) == 29


@pytest.mark.parametrize("prompt", sorted(REFERENCE))
def test_ids_equal_the_original_tokenizer(prompt):
    assert get_tokenizer().encode(prompt) == REFERENCE[prompt]


@pytest.mark.parametrize("prompt", CLEANING_PROMPTS)
def test_cleaning_changes_the_ids_of_prompts_ftfy_repairs(prompt):
    from instant_clip_tokenizer import Tokenizer

    assert prompt in REFERENCE
    raw = Tokenizer().encode(prompt.lower())
    assert raw != REFERENCE[prompt]
    assert get_tokenizer().encode(prompt) == REFERENCE[prompt]


def test_clean_text_unescapes_html_twice():
    assert clean_text("&amp;amp;") == "&"


def test_clean_text_collapses_whitespace_and_lowercases():
    assert clean_text("  A\t\tB \n C  ") == "a b c"


def test_clean_text_repairs_mojibake():
    assert clean_text("caf\u00c3\u00a9") == "caf\u00e9"


def test_empty_text_has_no_tokens():
    assert get_tokenizer().encode("   ") == []


def test_special_tokens_are_clip_start_and_end():
    tok = get_tokenizer()
    assert (tok.start_token, tok.end_token) == (START_OF_TEXT, END_OF_TEXT) == (49406, 49407)


def test_decode_inverts_encode_for_plain_words():
    tok = get_tokenizer()
    assert tok.decode(tok.encode("a photo of a cat")).strip() == "a photo of a cat"
