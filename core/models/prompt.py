"""ComfyUI prompt syntax: emphasis weights, ``embedding:NAME`` and 77-token chunks (docs/comfy-api.md §7).

Pipeline: :func:`parse_weights` splits the text into ``(text, weight)`` segments, :func:`tokenize_prompt`
turns each space-separated word into CLIP ids (or textual-inversion vectors) and :func:`pack_chunks`
packs the words into 77-token windows ``[start, <=75 tokens, end, pad...]``.

A token in a chunk is ``(value, weight)``: ``value`` is an int id, or a 1-D tensor (one embedding
vector) that replaces the token embedding at that position. This is the shape ComfyUI plugins see
from ``clip.tokenize``.
"""
from __future__ import annotations

import logging
from typing import Callable

log = logging.getLogger(__name__)

EMPHASIS = 1.1  # each plain "(...)" level multiplies the weight by 1.1
CHUNK_LENGTH = 77  # start + 75 tokens + end
MAX_WORD_LENGTH = 8  # words shorter than this move whole to the next chunk
EMBEDDING_PREFIX = "embedding:"

# Escaped parentheses are swapped for private-use characters while parsing, then restored.
_ESC_OPEN, _ESC_CLOSE = "\ue000", "\ue001"


def parse_weights(text: str, weight: float = 1.0) -> list[tuple[str, float]]:
    """Split ``text`` into ``(segment, weight)`` pairs following ComfyUI's emphasis rules.

    ``(x)`` multiplies by 1.1 per level; ``(x:1.3)`` sets the weight to 1.3 when the part after the
    last colon is a number; ``\\(``/``\\)`` are literal; unmatched parentheses stay literal text;
    square brackets mean nothing.
    """
    escaped = text.replace("\\(", _ESC_OPEN).replace("\\)", _ESC_CLOSE)
    pairs = _parse(escaped, weight)
    return [(s.replace(_ESC_OPEN, "(").replace(_ESC_CLOSE, ")"), w) for s, w in pairs if s]


def _parse(text: str, weight: float) -> list[tuple[str, float]]:
    groups = _matched_groups(text)
    out: list[tuple[str, float]] = []
    pos = 0
    for start, end in groups:
        if start > pos:
            out.append((text[pos:start], weight))
        inner = text[start + 1:end]
        inner_weight = weight * EMPHASIS
        head, sep, tail = inner.rpartition(":")
        if sep:
            number = _as_float(tail)
            if number is not None:
                inner, inner_weight = head, number  # absolute, replaces the nested factor
        out.extend(_parse(inner, inner_weight))
        pos = end + 1
    if pos < len(text):
        out.append((text[pos:], weight))
    return out


def _matched_groups(text: str) -> list[tuple[int, int]]:
    """(open, close) index pairs of the top-level balanced parentheses; unmatched ones are literal."""
    stack: list[int] = []
    for i, ch in enumerate(text):
        if ch == "(":
            stack.append(i)
        elif ch == ")" and stack:
            stack.pop()
    literal_opens = set(stack)  # never closed; an unmatched ")" is skipped below as well
    depth_opens: list[int] = []
    pairs: list[tuple[int, int]] = []
    for i, ch in enumerate(text):
        if ch == "(" and i not in literal_opens:
            depth_opens.append(i)
        elif ch == ")" and depth_opens:
            start = depth_opens.pop()
            if not depth_opens:
                pairs.append((start, i))
    return pairs


def _as_float(s: str) -> float | None:
    try:
        value = float(s.strip())
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


# A word is a list of (value, weight); value is an int id or a 1-D embedding tensor.
Word = list


def tokenize_prompt(text: str, encode_word: Callable[[str], list[int]],
                    find_embedding: Callable[[str], object] | None = None) -> list[Word]:
    """Words of ``text`` as weighted tokens, ``embedding:NAME`` words replaced by their vectors.

    ``find_embedding(name)`` returns a ``[n, width]`` tensor or None (then the word is dropped with a
    warning, as ComfyUI does).
    """
    words: list[Word] = []
    for segment, weight in parse_weights(text):
        for word in segment.replace("\n", " ").split(" "):
            if not word:
                continue
            if word.startswith(EMBEDDING_PREFIX) and find_embedding is not None:
                name, leftover = split_embedding_name(word[len(EMBEDDING_PREFIX):])
                vectors = find_embedding(name)
                if vectors is None:
                    log.warning("prompt: embedding %r not found or not usable by this text encoder; ignored", name)
                else:
                    if vectors.ndim == 1:
                        vectors = vectors[None]
                    words.append([(vectors[i], weight) for i in range(vectors.shape[0])])
                if not leftover:
                    continue
                word = leftover
            ids = encode_word(word)
            if ids:
                words.append([(t, weight) for t in ids])
    return words


def split_embedding_name(rest: str) -> tuple[str, str]:
    """``"foo,"`` -> ``("foo", ",")``; text from a ``<`` or ``[`` on is left over as normal text."""
    cut = min((i for i in (rest.find("<"), rest.find("[")) if i >= 0), default=len(rest))
    name, leftover = rest[:cut], rest[cut:]
    stripped = name.rstrip(",")
    return stripped, name[len(stripped):] + leftover


def pack_chunks(words: list[Word], *, start: int, end: int, pad: int,
                length: int = CHUNK_LENGTH) -> list[list[tuple]]:
    """Pack words into ``length``-token chunks; a word under 8 tokens is never split across two."""
    room = length - 2
    chunks: list[list[tuple]] = []
    current: list[tuple] = []

    def close():
        chunk = [(start, 1.0)] + current + [(end, 1.0)]
        chunk += [(pad, 1.0)] * (length - len(chunk))
        chunks.append(chunk)

    for word in words:
        word = list(word)
        while word:
            free = room - len(current)
            if len(word) <= free:
                current += word
                break
            if len(word) >= MAX_WORD_LENGTH:
                current += word[:free]  # long words are split to fill the chunk
                word = word[free:]
            close()
            current = []
    close()
    return chunks


def empty_chunk(*, start: int, end: int, pad: int, length: int = CHUNK_LENGTH) -> list[tuple]:
    return pack_chunks([], start=start, end=end, pad=pad, length=length)[0]
