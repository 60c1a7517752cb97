"""Qwen3 as a text encoder: Z-Image (CLIPLoader type ``lumina2``) and FLUX.2 [klein] (type ``flux2``).

The network is ``transformers.Qwen3Model``; weights come from the single files users have
(``qwen_3_4b.safetensors``, ``qwen_3_8b*.safetensors``): the causal-LM layout ``model.embed_tokens.weight``,
``model.layers.N.self_attn.q_proj.weight``, ``model.norm.weight`` (manifest:
tests/data/reference/checkpoints/qwen_3_4b.json); an ``lm_head.weight`` is ignored. fp8 files are
dequantized on load: a float8 weight is multiplied by its ``scale_weight`` / ``weight_scale`` tensor when the
file has one (ComfyUI's "scaled fp8" files), otherwise just cast, so the encoder always runs in a real dtype.

What each type feeds the diffusion model (references: diffusers' ZImagePipeline and Flux2KleinPipeline):

| type | prompt wrapped as (Qwen3 chat template) | features |
|---|---|---|
| lumina2 (Z-Image) | ``<|im_start|>user\\n{p}<|im_end|>\\n<|im_start|>assistant\\n`` (thinking on: no think block) | hidden state [-2] |
| flux2 (FLUX.2 [klein]) | the same followed by ``<think>\\n\\n</think>\\n\\n`` (thinking off) | hidden states 9, 18, 27 side by side, 512 tokens |

Each prompt is encoded alone. Z-Image takes only the prompt's tokens (unpadded: the model is causal, so they
equal what its pipeline selects from a padded batch). FLUX.2 [klein] takes 512 positions: the prompt, then
pad tokens masked out of attention whose states are part of the conditioning, as in its pipeline (longer
prompts are kept whole, not cut at 512). Tokenizer: core/models/llm_tokenizers.qwen_tokenizer("qwen3").
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from core.models.llm_clip import LanguageModelClip

log = logging.getLogger(__name__)

USER_TURN = "<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n"
NO_THINKING = "<think>\n\n</think>\n\n"


@dataclass(frozen=True)
class QwenRole:
    clip_type: str  # CLIPLoader type
    template: str
    layers: tuple  # hidden-state indices (0 = embeddings, i = after layer i), concatenated on the feature axis
    pad_to: int = 0  # prompts padded (masked) to this many tokens, pads' states included in the output


ROLES = {
    "lumina2": QwenRole("lumina2", USER_TURN, (-2,)),
    "flux2": QwenRole("flux2", USER_TURN + NO_THINKING, (9, 18, 27), pad_to=512),
}
PAD_TOKEN = 151643  # <|endoftext|>, Qwen's pad token
_DROPPED = ("scaled_fp8", ".scale_input", ".input_scale", ".comfy_quant")


def _strip(sd: dict) -> dict:
    """The decoder's tensors without the causal-LM ``model.`` level; lm_head and fp8 bookkeeping dropped."""
    prefix = "model." if any(k.startswith("model.layers.") for k in sd) else ""
    out = {}
    for k, v in sd.items():
        if not k.startswith(prefix) or k.startswith("lm_head.") or k.endswith(_DROPPED):
            continue
        out[k[len(prefix):]] = v
    return out


def dequantize(sd: dict, dtype: torch.dtype = torch.float32) -> dict:
    """float8 weights in ``dtype``, times their per-tensor scale (``<module>.scale_weight`` or
    ``.weight_scale``, ComfyUI's scaled-fp8 files) when the file has one; other tensors untouched."""
    out = {}
    for k, v in sd.items():
        if k.endswith((".scale_weight", ".weight_scale", ".scale_input", ".input_scale")) or k == "scaled_fp8":
            continue
        if v.dtype in (torch.float8_e4m3fn, torch.float8_e5m2):
            base = k[: -len(".weight")] if k.endswith(".weight") else k
            scale = sd.get(base + ".scale_weight", sd.get(base + ".weight_scale"))
            v = v.to(dtype) if scale is None else v.to(dtype) * scale.to(dtype)
        out[k] = v
    return out


def config_from_state_dict(sd: dict, where: str = "Qwen3"):
    """transformers' Qwen3Config from the shapes of a prefix-free Qwen3Model state dict."""
    from transformers import Qwen3Config

    try:
        vocab, hidden = sd["embed_tokens.weight"].shape
        head_dim = sd["layers.0.self_attn.q_norm.weight"].shape[0]
        heads = sd["layers.0.self_attn.q_proj.weight"].shape[0] // head_dim
        kv_heads = sd["layers.0.self_attn.k_proj.weight"].shape[0] // head_dim
        inter = sd["layers.0.mlp.gate_proj.weight"].shape[0]
    except KeyError as e:
        raise ValueError(f"{where}: not a Qwen3 text encoder (no {e.args[0]!r}; expected 'model.embed_tokens.weight', "
                         "'model.layers.0.self_attn.q_norm.weight', ...)") from None
    layers = len({k.split(".")[1] for k in sd if k.startswith("layers.")})
    config = Qwen3Config(vocab_size=vocab, hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
                         num_attention_heads=heads, num_key_value_heads=kv_heads, head_dim=head_dim,
                         max_position_embeddings=40960, rope_theta=1_000_000.0, rms_norm_eps=1e-6,
                         tie_word_embeddings=True)
    config._attn_implementation = "sdpa"
    return config


def load_qwen3(sd: dict, *, dtype: torch.dtype, device, where: str = "Qwen3"):
    """``transformers.Qwen3Model`` filled from a ``qwen_3_*.safetensors`` state dict (any prefix layout)."""
    from transformers import Qwen3Model
    from transformers.models.qwen3.modeling_qwen3 import Qwen3RotaryEmbedding

    from core.models.building import fill_module, on_meta

    part = dequantize(_strip(sd), dtype)
    config = config_from_state_dict(part, where)
    model = fill_module(on_meta(lambda: Qwen3Model(config)), part, "", dtype, device, where, whole=True)
    # the rotary table is a non-persistent buffer (in no file): build it for real
    model.rotary_emb = Qwen3RotaryEmbedding(config).to(device)
    return model.eval().requires_grad_(False)


class Qwen3Clip(LanguageModelClip):
    """The CLIP value of a Qwen3 text encoder: ComfyUI's tokenize / encode_from_tokens names."""

    def __init__(self, model, role: QwenRole):
        self.role = role
        self.family = role.clip_type
        self.key = f"qwen3_{'8b' if model.config.hidden_size >= 4096 else '4b'}"  # ComfyUI's token-dict key
        super().__init__(model)

    @property
    def tokenizer(self):
        from core.models.llm_tokenizers import qwen_tokenizer

        return qwen_tokenizer("qwen3")

    def clip_layer(self, layer_idx: int) -> None:
        """CLIPSetLastLayer: Z-Image reads hidden state ``layer_idx`` instead of -2 (FLUX.2 keeps its three)."""
        self.layer_idx = int(layer_idx)

    def tokenize(self, text: str, return_word_ids: bool = False) -> dict:
        """``{"qwen3_4b"|"qwen3_8b": [[(id, 1.0), ...]]}``: the templated prompt as one unpadded chunk.
        Prompt weights ``(word:1.2)`` are not parsed: the text reaches the language model as written."""
        ids = self.tokenizer(self.role.template.format(text), add_special_tokens=False)["input_ids"]
        return {self.key: [[(i, 1.0, 0) if return_word_ids else (i, 1.0) for i in ids]]}

    @torch.no_grad()
    def encode_from_tokens(self, tokens: dict, return_pooled=False, return_dict: bool = False):
        from core import devices

        chunks = tokens.get(self.key)
        if chunks is None:
            raise ValueError(f"CLIP ({self.family}): tokens have no {self.key!r} entry (got {sorted(tokens)}); "
                             "tokenize with this CLIP")
        ids = [int(item[0]) for chunk in chunks for item in chunk]
        n_pad = max(self.role.pad_to - len(ids), 0)
        with devices.manager.activate(self, self.device):
            device = next(self.model.parameters()).device
            input_ids = torch.tensor([ids + [PAD_TOKEN] * n_pad], device=device)
            mask = torch.tensor([[1] * len(ids) + [0] * n_pad], device=device) if n_pad else None
            out = self.model(input_ids=input_ids, attention_mask=mask, output_hidden_states=True, use_cache=False)
            layers = self.role.layers
            if self.layer_idx is not None and len(layers) == 1:
                layers = (self.layer_idx,)
            cond = torch.cat([out.hidden_states[i] for i in layers], dim=-1).float().cpu()
        if return_dict:
            return {"cond": cond, "pooled_output": None}
        return (cond, None) if return_pooled else cond


def clip_lumina2(sds: list, *, dtype=None, device=None, embedding_dirs=None) -> Qwen3Clip:
    """CLIPLoader type ``lumina2``: Qwen3-4B for Z-Image (``embedding_dirs`` unused: no textual inversion)."""
    return _qwen3_clip(sds, "lumina2", dtype, device)


def clip_flux2(sds: list, *, dtype=None, device=None, embedding_dirs=None) -> Qwen3Clip:
    """CLIPLoader type ``flux2``: Qwen3-4B / 8B for FLUX.2 [klein]."""
    return _qwen3_clip(sds, "flux2", dtype, device)


def _qwen3_clip(sds: list, clip_type: str, dtype, device) -> Qwen3Clip:
    """One Qwen3 file as the CLIP of ``clip_type``; ``dtype``/``device`` None: the text-encoder defaults."""
    from core import devices

    if len(sds) != 1:
        raise ValueError(f"text encoder type {clip_type} takes one Qwen3 file, got {len(sds)}")
    role = ROLES[clip_type]
    device = torch.device(device) if device is not None else devices.offload_device()
    dtype = dtype or devices.text_encoder_dtype(devices.get_torch_device())
    if dtype == torch.float16 and not (devices.settings.fp16_text_enc or devices.settings.force_fp16):
        # Qwen3 was trained and released in bfloat16; float16's narrower range is not a safe stand-in
        compute = devices.get_torch_device()
        dtype = torch.bfloat16 if compute.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    model = load_qwen3(sds[0], dtype=dtype, device=device, where=f"text encoder ({clip_type}, Qwen3)")
    needed = max(i for i in role.layers if i >= 0) if any(i >= 0 for i in role.layers) else 0
    if needed > model.config.num_hidden_layers:
        raise ValueError(f"text encoder type {clip_type}: reads hidden state {needed} but the Qwen3 file has "
                         f"{model.config.num_hidden_layers} layers")
    log.info("text encoder (%s): Qwen3 width %d, %d layers, %s", clip_type, model.config.hidden_size,
             model.config.num_hidden_layers, dtype)
    return Qwen3Clip(model, role)
