"""Test support: mistral-common's own Tekken tokenizer and instruct encoding (the reference our tokenizer and
prompt format are checked against; mistral-common is a test requirement, never used by the product)."""
from __future__ import annotations

import json

from core.models.mistral_tokenizer import TEKKEN_FILE


def reference_tekkenizer():
    from mistral_common.tokens.tokenizers.tekken import Tekkenizer

    return Tekkenizer.from_file(str(TEKKEN_FILE))


def reference_chat_ids(tmp_path, system: str, prompt: str, version: str = "v7") -> list:
    """``[system, user]`` as mistral-common encodes the chat for a Tekken file of tokenizer ``version``
    (the shipped file says v3, whose instruct format has no system-prompt tokens; Mistral-Small-3.x is v7+)."""
    from mistral_common.protocol.instruct.messages import SystemMessage, UserMessage
    from mistral_common.protocol.instruct.request import ChatCompletionRequest
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    data = json.loads(TEKKEN_FILE.read_text(encoding="utf-8"))
    data["config"]["version"] = version
    path = tmp_path / f"tekken_{version}.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    tok = MistralTokenizer.from_file(str(path))
    request = ChatCompletionRequest(messages=[SystemMessage(content=system), UserMessage(content=prompt)])
    return tok.encode_chat_completion(request).tokens


class ChatProcessor:
    """Stands in for the PixtralProcessor diffusers' Flux2Pipeline is given: ``apply_chat_template`` encodes each
    [system, user] conversation with mistral-common (tokenizer v7), cuts it at ``max_length`` and pads it to
    ``max_length`` with ``<pad>`` on ``padding_side``. Left is what the processor does: both tokenizer classes a
    Mistral-Small HF folder can name (transformers' LlamaTokenizer[Fast] and MistralCommonBackend) default to
    ``padding_side="left"``, and ComfyUI's Mistral3 tokenizer also pads left."""

    def __init__(self, tmp_path, padding_side: str = "left"):
        self.tmp_path = tmp_path
        self.padding_side = padding_side

    def apply_chat_template(self, conversations, *, padding, truncation, max_length, **_):
        import torch

        assert padding == "max_length" and truncation
        rows, masks = [], []
        for conv in conversations:
            system, user = (m["content"][0]["text"] for m in conv)
            ids = reference_chat_ids(self.tmp_path, system, user)[:max_length]
            pad = [11] * (max_length - len(ids))
            rows.append(pad + ids if self.padding_side == "left" else ids + pad)
            ones, zeros = [1] * len(ids), [0] * len(pad)
            masks.append(zeros + ones if self.padding_side == "left" else ones + zeros)
        return {"input_ids": torch.tensor(rows), "attention_mask": torch.tensor(masks)}


def diffusers_text_encoder(language_sd: dict, text_config):
    """A tiny ``Mistral3ForConditionalGeneration`` (what Flux2Pipeline holds) whose language model has
    ``language_sd`` (prefix-free MistralModel keys); its vision tower is tiny and unused for text."""
    import torch
    from transformers import Mistral3Config, Mistral3ForConditionalGeneration, PixtralVisionConfig

    vision = PixtralVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                                 head_dim=8, image_size=32, patch_size=16)
    config = Mistral3Config(text_config=text_config, vision_config=vision, spatial_merge_size=1)
    torch.manual_seed(0)
    model = Mistral3ForConditionalGeneration(config).eval()
    model.model.language_model.load_state_dict(language_sd, strict=True)
    return model
