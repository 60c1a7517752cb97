"""The CLIP byte-pair tokenizer, offline, with the original text cleaning.

The BPE merges and the 49,408-entry vocabulary come embedded in ``instant-clip-tokenizer`` (no file to
download). That package tokenizes raw text, but OpenAI's ``clip/simple_tokenizer.py`` (what SD1, SD2 and
SDXL were trained with) first repairs the text: ``ftfy.fix_text``, ``html.unescape`` twice, whitespace
collapsed to single spaces, lower-cased. :func:`clean_text` does exactly those steps, so ids equal the
original ones for mojibake, HTML entities, curly quotes and fullwidth letters as well.
"""
from __future__ import annotations

import html
import re
from functools import lru_cache

START_OF_TEXT = 49406
END_OF_TEXT = 49407
VOCAB_SIZE = 49408

_WHITESPACE = re.compile(r"\s+")


def clean_text(text: str) -> str:
    """The original CLIP pre-processing: basic_clean, whitespace_clean, lower()."""
    import ftfy

    text = ftfy.fix_text(text)
    # Unescaped twice because scraped captions were often escaped twice ("&amp;amp;").
    text = html.unescape(html.unescape(text)).strip()
    return _WHITESPACE.sub(" ", text).strip().lower()


class ClipTokenizer:
    """Text -> CLIP BPE ids (without start/end tokens)."""

    start_token = START_OF_TEXT
    end_token = END_OF_TEXT
    vocab_size = VOCAB_SIZE

    def __init__(self):
        from instant_clip_tokenizer import Tokenizer

        self._bpe = Tokenizer()

    def encode(self, text: str) -> list[int]:
        cleaned = clean_text(text)
        if not cleaned:
            return []
        return self._encode_clean(cleaned)

    def _encode_clean(self, cleaned: str) -> list[int]:
        # Prompts repeat the same words across nodes and runs; words are short, so cache per text.
        return list(_cached_encode(self._bpe, cleaned))

    def decode(self, ids) -> str:
        return self._bpe.decode([int(i) for i in ids])


@lru_cache(maxsize=16384)
def _cached_encode(bpe, cleaned: str) -> tuple:
    return tuple(bpe.encode(cleaned))


@lru_cache(maxsize=1)
def get_tokenizer() -> ClipTokenizer:
    """The process-wide tokenizer (the vocabulary is loaded once)."""
    return ClipTokenizer()
