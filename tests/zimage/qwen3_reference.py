"""References for the Qwen3 text encoders: transformers' own models loaded by transformers' own names, and
diffusers' pipelines' encode_prompt on them, with the shipped tokenizer carrying its released chat template."""
from __future__ import annotations

import copy
import json

import torch


def templated_tokenizer():
    """qwen_tokenizer("qwen3") with the chat template of the released tokenizer_config (the pipelines call
    apply_chat_template; our encoder formats the turn itself)."""
    from core.models.llm_tokenizers import VOCAB_DIR, qwen_tokenizer

    tok = copy.deepcopy(qwen_tokenizer("qwen3"))
    config = json.loads((VOCAB_DIR / "qwen" / "tokenizer_config.qwen3.json").read_text(encoding="utf-8"))
    tok.chat_template = config["chat_template"]
    return tok


def causal_lm(file_sd: dict, layers: int):
    """transformers' Qwen3ForCausalLM holding a qwen_3_*.safetensors state dict under its own key names."""
    from transformers import Qwen3ForCausalLM

    from core.models.tiny import tiny_qwen3_config

    model = Qwen3ForCausalLM(tiny_qwen3_config(layers)).eval()
    missing, unexpected = model.load_state_dict(file_sd, strict=False)
    assert set(missing) <= {"lm_head.weight"} and not unexpected, (missing, unexpected)
    model.tie_weights()
    return model


def zimage_prompt_embeds(file_sd: dict, layers: int, prompt: str) -> torch.Tensor:
    from diffusers import ZImagePipeline

    pipe = ZImagePipeline(scheduler=None, vae=None, text_encoder=causal_lm(file_sd, layers).model,
                          tokenizer=templated_tokenizer(), transformer=None)
    embeds, _ = pipe.encode_prompt(prompt, device=torch.device("cpu"), do_classifier_free_guidance=False)
    return embeds[0]


def klein_prompt_embeds(file_sd: dict, layers: int, prompt: str) -> torch.Tensor:
    from diffusers import Flux2KleinPipeline

    pipe = Flux2KleinPipeline(scheduler=None, vae=None, text_encoder=causal_lm(file_sd, layers),
                              tokenizer=templated_tokenizer(), transformer=None)
    embeds, _ids = pipe.encode_prompt(prompt, device=torch.device("cpu"))
    return embeds
