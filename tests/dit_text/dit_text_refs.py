"""Independent references for the DiT text-encoder tests: transformers modules built from our tiny tensors."""
from __future__ import annotations

import torch

from core.models.tiny import TINY_T5_CONFIG, tiny_text_encoder_state_dict


def hf_t5(sd: dict | None = None):
    """transformers' T5EncoderModel (v1.1 gated-GELU) with the tiny T5's weights."""
    from transformers import T5Config, T5EncoderModel

    c = TINY_T5_CONFIG
    config = T5Config(vocab_size=32128, d_model=c["d_model"], d_kv=c["d_kv"], d_ff=c["d_ff"],
                      num_layers=c["num_layers"], num_heads=c["num_heads"], feed_forward_proj="gated-gelu",
                      is_encoder_decoder=False, tie_word_embeddings=False)
    model = T5EncoderModel(config).eval()
    result = model.load_state_dict(sd if sd is not None else tiny_text_encoder_state_dict("t5xxl"), strict=False)
    assert set(result.missing_keys) <= {"encoder.embed_tokens.weight"} and not result.unexpected_keys
    return model


def hf_clip(kind: str):
    """transformers' CLIPTextModelWithProjection with the tiny ``kind`` ("clip_l" | "clip_g") tower's weights."""
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    sd = tiny_text_encoder_state_dict(kind)
    width = sd["text_model.embeddings.token_embedding.weight"].shape[1]
    layers = len({k.split(".")[3] for k in sd if k.startswith("text_model.encoder.layers.")})
    config = CLIPTextConfig(vocab_size=49408, hidden_size=width, intermediate_size=4 * width, num_hidden_layers=layers,
                            num_attention_heads=1, max_position_embeddings=77, projection_dim=width,
                            hidden_act="quick_gelu" if kind == "clip_l" else "gelu")
    model = CLIPTextModelWithProjection(config).eval()
    result = model.load_state_dict(sd, strict=False)  # the WithProjection model keeps the text_model. level
    assert not result.unexpected_keys and set(result.missing_keys) <= {"text_model.embeddings.position_ids"}, result
    return model


@torch.no_grad()
def clip_outputs(kind: str, ids: list):
    """(hidden_states tuple, unprojected pooled, projected pooled) for one 77-id row."""
    model = hf_clip(kind)
    t = torch.tensor([ids])
    out = model(input_ids=t, output_hidden_states=True)
    eot = ids.index(49407)
    pooled = out.last_hidden_state[0, eot][None]
    return out.hidden_states, pooled, model.text_projection(pooled)
