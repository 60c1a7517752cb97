"""Mistral's Tekken tokenizer (Mistral-Small-3.x, FLUX.2 [dev]'s text encoder), built offline from its data.

A Tekken file (``vocab/mistral/tekken_240911.json``, or the ``tekken_model`` bytes some single-file text
encoders carry) is tiktoken-style: a list of base64 byte strings whose position is their BPE rank, a
pre-tokenization regex, and a count of special tokens that take the first ids. So id = 1000 + rank for
regular tokens (131,072 ids, 1,000 special), and ids 0..999 are control tokens (``<s>`` 1, ``[INST]`` 3, ...).

We turn the ranks into a ``tokenizers`` byte-level BPE: the merge that builds a token has that token's
rank as priority, which is tiktoken's rule (merge the adjacent pair whose join has the lowest rank), and a
piece that is itself in the vocabulary is taken whole (``ignore_merges``), as tiktoken does. Special tokens
are never parsed out of text: a prompt reading "[INST]" is text, as in mistral-common's instruct encoding;
callers place control tokens by id (``SPECIAL``).
"""
from __future__ import annotations

import base64
import functools
import hashlib
import json
from pathlib import Path

TEKKEN_FILE = Path(__file__).with_name("vocab") / "mistral" / "tekken_240911.json"

# Control-token ids of Tekken v3..v13 files without their own list (mistral-common's defaults, which
# Mistral-Small-3.x's instruct format uses unchanged for these names); the rest of 0..999 are fillers.
SPECIAL_NAMES = ("<unk>", "<s>", "</s>", "[INST]", "[/INST]", "[AVAILABLE_TOOLS]", "[/AVAILABLE_TOOLS]",
                 "[TOOL_RESULTS]", "[/TOOL_RESULTS]", "[TOOL_CALLS]", "[IMG]", "<pad>", "[IMG_BREAK]",
                 "[IMG_END]", "[PREFIX]", "[MIDDLE]", "[SUFFIX]", "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]",
                 "[TOOL_CONTENT]")


def _byte_alphabet() -> dict[int, str]:
    """Byte-level BPE's printable stand-in for each byte (GPT-2's table: printable latin-1 bytes map to
    themselves, the other 68 to code points 256 and up, in byte order)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


class TekkenTokenizer:
    """Encode/decode text with a Tekken vocabulary; ``SPECIAL[name]`` gives control-token ids."""

    def __init__(self, tekken: dict):
        from tokenizers import Regex, Tokenizer, decoders, pre_tokenizers
        from tokenizers.models import BPE

        config = tekken["config"]
        n_special = int(config.get("default_num_special_tokens", 1000))
        vocab_size = int(config.get("default_vocab_size", n_special + len(tekken["vocab"])))
        specials = tekken.get("special_tokens")
        names = [s["token_str"] for s in sorted(specials, key=lambda s: s["rank"])] if specials else list(SPECIAL_NAMES)
        self.special_tokens = names + [f"<SPECIAL_{i}>" for i in range(len(names), n_special)]
        self.SPECIAL = {name: i for i, name in enumerate(self.special_tokens)}
        self.num_special = n_special
        self.vocab_size = vocab_size
        self.version = config.get("version")

        ranks = [base64.b64decode(entry["token_bytes"]) for entry in tekken["vocab"][: vocab_size - n_special]]
        rank_of = {token: rank for rank, token in enumerate(ranks)}
        # bytes -> byte-level text: each byte read as latin-1, then mapped to its printable stand-in
        table = str.maketrans({chr(b): c for b, c in _byte_alphabet().items()})
        texts = [token.decode("latin-1").translate(table) for token in ranks]
        vocab = {text: rank + n_special for rank, text in enumerate(texts)}
        merges = []  # (rank of the joined token, left rank, right rank): tiktoken's merge priority
        for rank, token in enumerate(ranks):
            for cut in range(1, len(token)):
                left = rank_of.get(token[:cut])
                right = rank_of.get(token[cut:]) if left is not None else None
                if right is not None:
                    merges.append((rank, left, right))
        merges.sort()
        bpe = BPE(vocab, [(texts[a], texts[b]) for _, a, b in merges], fuse_unk=False, ignore_merges=True)
        self._tok = Tokenizer(bpe)
        self._tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(config["pattern"]), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])
        self._tok.decoder = decoders.ByteLevel()

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` as plain text (no BOS, no control tokens)."""
        return self._tok.encode(text, add_special_tokens=False).ids if text else []

    def decode(self, ids) -> str:
        """Text of regular-token ids; control tokens are written by name."""
        out, run = [], []
        for i in ids:
            i = int(i)
            if i < self.num_special:
                if run:
                    out.append(self._tok.decode(run))
                    run = []
                out.append(self.special_tokens[i])
            else:
                run.append(i)
        if run:
            out.append(self._tok.decode(run))
        return "".join(out)


_BY_DIGEST: dict[str, TekkenTokenizer] = {}  # tokenizers of files' embedded tekken data, by content hash


def tekken_tokenizer(data: bytes | None = None) -> TekkenTokenizer:
    """The Tekken tokenizer of ``data`` (a tekken.json's bytes), or of the vocabulary we ship; built once."""
    if data is None:
        return _shipped()
    digest = hashlib.sha256(data).hexdigest()
    if digest not in _BY_DIGEST:
        try:
            _BY_DIGEST[digest] = TekkenTokenizer(json.loads(bytes(data)))
        except (ValueError, KeyError, TypeError) as e:  # JSONDecodeError is a ValueError
            raise ValueError(f"Tekken tokenizer data ({len(data)} bytes) is not a tekken.json: "
                             f"{type(e).__name__}: {e}") from None
    return _BY_DIGEST[digest]


@functools.lru_cache(maxsize=None)
def _shipped() -> TekkenTokenizer:
    return TekkenTokenizer(json.loads(TEKKEN_FILE.read_text(encoding="utf-8")))
