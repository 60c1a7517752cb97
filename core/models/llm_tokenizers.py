"""Offline tokenizers for the DiT families' text encoders, built from the vocabulary data we ship.

- T5 v1.1 (FLUX.1, SD3.5): SentencePiece unigram vocabulary in ``vocab/t5/tokenizer.json``.
- Qwen byte-level BPE (Qwen2.5-VL for Qwen-Image, Qwen3 for Z-Image and FLUX.2 [klein]): one
  ``vocab.json`` + ``merges.txt`` pair (the two releases share all 151,643 regular tokens and every
  merge); each release's added/special tokens come from its own ``tokenizer_config.<name>.json``.

Sources and licenses: ``vocab/README.md``. Tokenizers are built once per process (the BPE tables take
about a second to parse) and shared; they are read-only after construction.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

VOCAB_DIR = Path(__file__).with_name("vocab")
QWEN_VARIANTS = ("qwen2.5-vl", "qwen3")


@functools.lru_cache(maxsize=None)
def t5_tokenizer():
    """T5 v1.1's tokenizer: appends ``</s>`` (id 1), pads with ``<pad>`` (id 0)."""
    from transformers import T5TokenizerFast

    return T5TokenizerFast(tokenizer_file=str(VOCAB_DIR / "t5" / "tokenizer.json"), legacy=False)


@functools.lru_cache(maxsize=None)
def qwen_tokenizer(variant: str = "qwen3"):
    """The Qwen BPE tokenizer with ``variant``'s special tokens (ids 151643 and up)."""
    if variant not in QWEN_VARIANTS:
        raise ValueError(f"unknown Qwen tokenizer {variant!r} (known: {', '.join(QWEN_VARIANTS)})")
    from tokenizers import AddedToken
    from transformers import Qwen2TokenizerFast

    folder = VOCAB_DIR / "qwen"
    config = json.loads((folder / f"tokenizer_config.{variant}.json").read_text(encoding="utf-8"))
    vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    lines = (folder / "merges.txt").read_text(encoding="utf-8").split("\n")[1:]  # line 1 is a version header
    merges = [tuple(line.split(" ")) for line in lines if line]
    tok = Qwen2TokenizerFast(vocab=vocab, merges=merges, clean_up_tokenization_spaces=False)
    added = sorted(config["added_tokens_decoder"].items(), key=lambda kv: int(kv[0]))
    for token_id, spec in added:
        token = AddedToken(spec["content"], lstrip=spec["lstrip"], rstrip=spec["rstrip"],
                           normalized=spec["normalized"], single_word=spec["single_word"], special=spec["special"])
        tok.add_tokens([token], special_tokens=spec["special"])
        got = tok.convert_tokens_to_ids(spec["content"])
        if got != int(token_id):  # ids are positional: a gap in the data would shift every later token
            raise ValueError(f"Qwen tokenizer data ({variant}): {spec['content']!r} got id {got}, expected {token_id}")
    tok.eos_token, tok.pad_token = config.get("eos_token"), config.get("pad_token")
    return tok
