"""The CLIP value of FLUX.1 and SD3.5: CLIP-L, OpenCLIP-bigG and T5-XXL towers combined as ComfyUI does.

Token dicts (what ``tokenize`` returns and plugins pass back to ``encode_from_tokens``):
``"l"``/``"g"``: 77-token CLIP chunks (L pads with end-of-text, G with 0); ``"t5xxl"``: one chunk of
T5 ids with no start token, ``</s>`` (1) after the prompt and ``<pad>`` (0) up to the family's minimum
length (FLUX 256, SD3 77), never cut. Every tower of the family is tokenized even when its weights are
absent (SD3 may run on any subset of its three encoders).

Conditioning (ComfyUI's comfy/text_encoders/flux.py and sd3_clip.py, facts only):

| family | cond | pooled |
|---|---|---|
| flux | T5 last hidden state (final norm) ``[1, N, 4096]`` | CLIP-L pooled, unprojected ``[1, 768]`` |
| sd3 | ``(L ‖ G)`` penultimate hidden states, no final norm, zero-padded to 4096 channels, then T5 along the sequence ``[1, 77k + N, 4096]`` | ``L ‖ G`` pooled (L unprojected, G projected) ``[1, 2048]`` |

An absent SD3 tower gives zeros of its released width in the pooled vector; G alone sits after 768 zero
channels. No attention mask reaches T5 (ComfyUI enables none for these families). Prompt weights follow
the CLIP rule for T5 too: each weighted token's hidden state is interpolated from the hidden state of the
empty prompt (``</s>`` then padding, same length) at the same position.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from core.models import prompt as prompt_syntax
from core.models.clip import to_checkpoint
from core.models.text_encoder import (END_OF_TEXT, START_OF_TEXT, ClipHandle, Encoder, EncoderRole, clip_chunks,
                                      unpack_chunks)

T5_END, T5_PAD = 1, 0
T5_MIN_LENGTH = {"flux": 256, "sd3": 77}
# released widths, used for towers an SD3 CLIP does not have
CLIP_L_WIDTH, CLIP_G_WIDTH, T5_WIDTH = 768, 1280, 4096

# what ComfyUI encodes for a CLIP tower given no chunk at all: start and end of text alone
LONE_ENDS = [[(START_OF_TEXT, 1.0), (END_OF_TEXT, 1.0)]]
FLUX_L = EncoderRole("l", END_OF_TEXT, -1, True, "quick_gelu", "clip_l", projected_pooled=False)
SD3_L = EncoderRole("l", END_OF_TEXT, -2, False, "quick_gelu", "clip_l", projected_pooled=False)
SD3_G = EncoderRole("g", 0, -2, False, "gelu", "clip_g")
CLIP_ROLES = {"flux": {"l": FLUX_L}, "sd3": {"g": SD3_G, "l": SD3_L}}  # in ComfyUI's token-dict order
PREFIXES = {"l": "text_encoders.clip_l.transformer.", "g": "text_encoders.clip_g.transformer.",
            "t5xxl": "text_encoders.t5xxl.transformer."}  # the SD3.5 / FLUX single-file names


@dataclass(frozen=True)
class T5Role:
    name: str = "t5xxl"
    embedding_key: str = "t5xxl"
    min_length: int = 77
    layer: int = -1
    final_norm: bool = True


class T5Tower(Encoder):
    """A loaded T5 encoder under its checkpoint prefix (module keys are the file's keys)."""

    @property
    def width(self) -> int:
        return self.model.config.d_model

    def checkpoint_keys(self) -> list:
        return [self.prefix + k for k in self.model.state_dict()]

    def checkpoint_shapes(self) -> dict:
        return {self.prefix + k: tuple(v.shape) for k, v in self.model.state_dict().items()}

    def checkpoint_state(self) -> dict:
        return {self.prefix + k: v for k, v in self.model.state_dict().items()}

    def get_weight(self, key: str) -> torch.Tensor:
        return self.model.state_dict()[key]

    def weight_pieces(self, key: str) -> list:
        return [dict(self.model.named_parameters())[key]]


def t5_tokenizer():
    from core.models.llm_tokenizers import t5_tokenizer as build

    return build()


def t5_word_ids(word: str) -> list:
    """SentencePiece ids of one word without the ``</s>`` the tokenizer appends."""
    return t5_tokenizer()(word)["input_ids"][:-1]


def t5_chunks(text: str, min_length: int, find=None, return_word_ids: bool = False) -> list:
    """``[[(id, weight), ..., (1, 1.0), (0, 1.0)...]]``: one chunk, padded to ``min_length``, never split."""
    words = prompt_syntax.tokenize_prompt(text, t5_word_ids, find)
    chunk = [(*item, i + 1) if return_word_ids else item for i, word in enumerate(words) for item in word]
    tail = [(T5_END, 1.0)] + [(T5_PAD, 1.0)] * max(0, min_length - len(chunk) - 1)
    return [chunk + ([(t, w, 0) for t, w in tail] if return_word_ids else tail)]


class DitClipHandle(ClipHandle):
    """CLIP for ``family`` "flux" (L + T5) or "sd3" (any of L, G, T5); encoders ordered l, g, t5xxl."""

    def _tower(self, name: str):
        return next((enc for enc in self.encoders if enc.role.name == name), None)

    def tokenize(self, text: str, return_word_ids: bool = False) -> dict:
        dirs = self._embedding_dirs()
        tokens = {}
        for name, role in CLIP_ROLES[self.family].items():
            enc = self._tower(name)
            find = enc.embedding_lookup(dirs) if (dirs and enc is not None) else None
            tokens[name] = clip_chunks(text, role, self.tokenizer.encode, find, return_word_ids)
        t5 = self._tower("t5xxl")
        find = t5.embedding_lookup(dirs) if (dirs and t5 is not None) else None
        tokens["t5xxl"] = t5_chunks(text, T5_MIN_LENGTH[self.family], find, return_word_ids)
        return tokens

    def encode_from_tokens(self, tokens: dict, return_pooled=False, return_dict: bool = False):
        from core import devices

        missing = [k for k in (*CLIP_ROLES[self.family], "t5xxl") if k not in tokens]
        if missing:
            raise ValueError(f"CLIP ({self.family}): tokens have no {', '.join(map(repr, missing))} entry "
                             f"(got {sorted(tokens)}); tokenize with this CLIP")
        with devices.manager.activate(self, self.device):
            cond, pooled = self._encode_flux(tokens) if self.family == "flux" else self._encode_sd3(tokens)
        if return_dict:
            return {"cond": cond, "pooled_output": pooled}
        return (cond, pooled) if return_pooled else cond

    def state_dict(self) -> dict:
        out = {}
        for enc in self.encoders:
            if isinstance(enc, T5Tower):
                out.update(enc.checkpoint_state())
            else:
                layout = enc.model.config.layout
                out.update({enc.prefix + k: v for k, v in to_checkpoint(enc.model.state_dict(), layout).items()})
        return out

    # --- families -------------------------------------------------------------------------------
    def _encode_flux(self, tokens: dict):
        cond = self._encode_t5(self._tower("t5xxl"), tokens["t5xxl"])
        _hidden, pooled = self._encode_one(self._tower("l"), tokens["l"])
        return cond, pooled

    def _encode_sd3(self, tokens: dict):
        l_enc, g_enc, t5 = self._tower("l"), self._tower("g"), self._tower("t5xxl")
        width = t5.width if t5 is not None else T5_WIDTH
        lg = pooled = None
        if tokens["l"] or tokens["g"]:
            if l_enc is not None:
                lg, l_pooled = self._encode_one(l_enc, tokens["l"] or LONE_ENDS)
            else:
                l_pooled = torch.zeros(1, CLIP_L_WIDTH)
            if g_enc is not None:
                g_out, g_pooled = self._encode_one(g_enc, tokens["g"] or LONE_ENDS)
                if lg is not None:
                    n = min(lg.shape[1], g_out.shape[1])  # chunk counts may differ: keep the common part
                    lg = torch.cat([lg[:, :n], g_out[:, :n]], dim=-1)
                else:
                    lg = torch.nn.functional.pad(g_out, (CLIP_L_WIDTH, 0))  # G's channels stay where L+G puts them
            else:
                g_pooled = torch.zeros(1, CLIP_G_WIDTH)
            if lg is not None:
                lg = torch.nn.functional.pad(lg, (0, width - lg.shape[-1]))
            pooled = torch.cat([l_pooled, g_pooled], dim=-1)
        cond = lg
        if t5 is not None:
            t5_out = self._encode_t5(t5, tokens["t5xxl"])
            cond = t5_out if lg is None else torch.cat([lg, t5_out], dim=-2)
        if cond is None:
            cond = torch.zeros(1, 77, width)
        if pooled is None:
            pooled = torch.zeros(1, CLIP_L_WIDTH + CLIP_G_WIDTH)
        return cond, pooled

    @torch.no_grad()
    def _encode_t5(self, tower: T5Tower, chunks: list) -> torch.Tensor:
        """``[1, sum of chunk lengths, d_model]``, weighted tokens interpolated against the empty prompt."""
        model = tower.model
        chunks = list(chunks) or [[(T5_END, 1.0)]]  # no tokens at all: ComfyUI encodes a lone </s>
        sections = len(chunks)
        ids, weights, injected = unpack_chunks(chunks)
        length = len(ids[0])
        if any(len(row) != length for row in ids):
            raise ValueError(f"CLIP ({self.family}): t5xxl token chunks differ in length "
                             f"({sorted({len(r) for r in ids})}); T5 encodes them as one batch")
        has_weights = any(w != 1.0 for row in weights for w in row)
        if has_weights:
            ids.append([T5_END] + [T5_PAD] * (length - 1))
        device = model.shared.weight.device
        # ComfyUI runs text encoders in float32 whatever the weights' dtype (T5 activations overflow float16)
        embeds = model.token_embeddings(torch.tensor(ids, dtype=torch.long, device=device), torch.float32)
        for b, j, vector in injected:
            embeds[b, j] = vector.to(device=device, dtype=embeds.dtype)
        layer = self.layer_idx if self.layer_idx is not None else tower.role.layer
        hidden = model(embeds, layer=layer, final_norm=tower.role.final_norm).float().cpu()
        z = hidden[:sections]
        if has_weights:
            w = torch.tensor(weights, dtype=torch.float32)[..., None]
            empty = hidden[-1:]
            z = torch.where(w != 1.0, empty + (z - empty) * w, z)
        return z.reshape(1, -1, z.shape[-1])
