"""Mistral-Small-3.x as FLUX.2 [dev]'s text encoder (CLIPLoader type ``flux2`` with a Mistral file).

The network is ``transformers.MistralModel`` (the language model of Mistral-Small-3.2-24B-Instruct-2506:
width 5120, 40 layers, 32 heads / 8 key-value heads of 128, MLP 32768, vocabulary 131,072, RoPE theta 1e9,
RMSNorm eps 1e-5). Weights come from the single files users have (``mistral_3_small_flux2_bf16.safetensors``,
``..._fp8.safetensors``): ``model.embed_tokens.weight``, ``model.layers.N.self_attn.q_proj.weight``, ...,
``model.norm.weight`` (manifest: tests/data/reference/checkpoints/mistral_3_small_flux2.json). Also read:
the transformers ``Mistral3ForConditionalGeneration`` layouts (``language_model.model.`` /
``model.language_model.``; the vision tower is ignored), an ``lm_head.weight`` (ignored), and files cut
after layer 30 (FLUX.2 reads nothing later; their last state is then not passed through the final norm).
fp8 files are dequantized on load (weight times its ``scale_weight`` / ``weight_scale`` when present), so
the encoder runs in a real dtype. A ``tekken_model`` tensor (the tokenizer's tekken.json bytes, which
ComfyUI's files carry) is used as the tokenizer; otherwise the vocabulary we ship.

Conditioning, as diffusers' ``Flux2Pipeline._get_mistral_3_small_prompt_embeds`` computes it: the prompt
in Mistral's instruct format with FLUX.2's system message,
``<s>[SYSTEM_PROMPT]{system}[/SYSTEM_PROMPT][INST]{prompt}[/INST]``, cut to 512 tokens and padded to 512
with ``<pad>`` on the left (masked out of attention; the pads' states are part of the conditioning), then
hidden states 10, 20 and 30 (0 = embeddings) side by side per token: [1, 512, 3 x 5120].
"""
from __future__ import annotations

import logging

import torch

from core.models.llm_clip import LanguageModelClip

log = logging.getLogger(__name__)

# FLUX.2's system message (Black Forest Labs' flux2 reference, as diffusers' pipeline uses it).
SYSTEM_MESSAGE = ("You are an AI that reasons about image descriptions. You give structured responses focusing on "
                  "object relationships, object\nattribution and actions without speculation.")
LAYERS = (10, 20, 30)  # hidden-state indices concatenated on the feature axis
MAX_LENGTH = 512
TOKEN_KEY = "mistral3_24b"  # ComfyUI's token-dict key for this encoder
_DROPPED = ("scaled_fp8", "tekken_model")
_SCALES = (".scale_weight", ".weight_scale", ".scale_input", ".input_scale", ".comfy_quant")


def is_mistral_text_encoder(sd: dict) -> bool:
    """True for a Mistral decoder (Llama-style attention without Qwen3's per-head q/k norms)."""
    has_layers = any(k.endswith("layers.0.self_attn.q_proj.weight") for k in sd)
    return has_layers and not any(k.endswith("layers.0.self_attn.q_norm.weight") for k in sd)


def language_model_state_dict(sd: dict) -> dict:
    """The decoder's tensors without their prefix; lm_head, the vision tower and bookkeeping dropped."""
    anchor = next((k for k in sd if k.endswith("layers.0.self_attn.q_proj.weight")
                   and "vision" not in k), None)
    if anchor is None:
        raise ValueError("text encoder (flux2, Mistral): not a Mistral language model (no "
                         "'model.layers.0.self_attn.q_proj.weight')")
    prefix = anchor[: -len("layers.0.self_attn.q_proj.weight")]
    return {k[len(prefix):]: v for k, v in sd.items()
            if k.startswith(prefix) and k not in _DROPPED and not k.endswith(_DROPPED)}


def dequantize(sd: dict, dtype: torch.dtype) -> dict:
    """float8 weights in ``dtype`` times their per-tensor scale (ComfyUI's scaled-fp8 files); the scales
    and other quantization bookkeeping dropped; other tensors untouched."""
    out = {}
    for k, v in sd.items():
        if k.endswith(_SCALES):
            continue
        if v.dtype in (torch.float8_e4m3fn, torch.float8_e5m2):
            base = k[: -len(".weight")] if k.endswith(".weight") else k
            scale = sd.get(base + ".scale_weight", sd.get(base + ".weight_scale"))
            v = v.to(dtype) if scale is None else v.to(dtype) * scale.to(dtype)
        out[k] = v
    return out


def config_from_state_dict(sd: dict):
    """transformers' MistralConfig from the shapes of a prefix-free MistralModel state dict."""
    from transformers import MistralConfig

    where = "text encoder (flux2, Mistral)"
    try:
        vocab, hidden = sd["embed_tokens.weight"].shape
        q_rows = sd["layers.0.self_attn.q_proj.weight"].shape[0]
        kv_rows = sd["layers.0.self_attn.k_proj.weight"].shape[0]
        inter = sd["layers.0.mlp.gate_proj.weight"].shape[0]
    except KeyError as e:
        raise ValueError(f"{where}: missing {'model.' + e.args[0]!r}") from None
    # head_dim is not in the shapes (q rows = heads x head_dim, and Mistral-Small's 4096 q rows differ from
    # its width 5120). Released Mistrals use 128; stand-ins whose q rows are no multiple of it use 4 heads.
    head_dim = 128 if q_rows % 128 == 0 else max(q_rows // 4, 1)
    layers = len({k.split(".")[1] for k in sd if k.startswith("layers.")})
    config = MistralConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
                           num_attention_heads=q_rows // head_dim, num_key_value_heads=kv_rows // head_dim,
                           head_dim=head_dim, max_position_embeddings=131072, rms_norm_eps=1e-5,
                           rope_theta=1_000_000_000.0, sliding_window=None, tie_word_embeddings=False)
    config._attn_implementation = "sdpa"
    return config


def load_mistral(sd: dict, *, dtype: torch.dtype, device):
    """``transformers.MistralModel`` filled from a Mistral single-file state dict (any prefix layout)."""
    from transformers import MistralModel
    from transformers.models.mistral.modeling_mistral import MistralRotaryEmbedding

    from core.models.building import fill_module, on_meta

    where = "text encoder (flux2, Mistral)"
    part = dequantize(language_model_state_dict(sd), dtype)
    config = config_from_state_dict(part)
    if config.num_hidden_layers < max(LAYERS):
        raise ValueError(f"{where}: FLUX.2 reads hidden state {max(LAYERS)} but the file has "
                         f"{config.num_hidden_layers} layers")
    model = on_meta(lambda: MistralModel(config))
    if config.num_hidden_layers == max(LAYERS):
        # transformers reports the last state after the final norm; a file cut at layer 30 must give
        # layer 30's own output, as the full model does (such files may carry no norm at all)
        model.norm = torch.nn.Identity()
        part.pop("norm.weight", None)
    model = fill_module(model, part, "", dtype, device, where, whole=True)
    model.rotary_emb = MistralRotaryEmbedding(config).to(device)  # a non-persistent buffer: in no file
    return model.eval().requires_grad_(False)


def prompt_ids(tokenizer, text: str, system: str = SYSTEM_MESSAGE) -> list:
    """Mistral's instruct format with a system prompt (tokenizer v7 and later), as token ids."""
    sp = tokenizer.SPECIAL
    return ([sp["<s>"], sp["[SYSTEM_PROMPT]"]] + tokenizer.encode(system) + [sp["[/SYSTEM_PROMPT]"], sp["[INST]"]]
            + tokenizer.encode(text) + [sp["[/INST]"]])


class MistralClip(LanguageModelClip):
    """The CLIP value of FLUX.2 [dev]'s Mistral text encoder: ComfyUI's tokenize / encode_from_tokens."""

    family = "flux2"
    key = TOKEN_KEY

    def __init__(self, model, tekken_data: bytes | None = None):
        self.tekken_data = tekken_data
        super().__init__(model)

    @property
    def tokenizer(self):
        from core.models.mistral_tokenizer import tekken_tokenizer

        return tekken_tokenizer(self.tekken_data)

    def clip_layer(self, layer_idx: int) -> None:
        """CLIPSetLastLayer: recorded; FLUX.2 [dev] always reads hidden states 10, 20 and 30."""
        self.layer_idx = int(layer_idx)

    def tokenize(self, text: str, return_word_ids: bool = False) -> dict:
        """``{"mistral3_24b": [[(id, 1.0), ...]]}``: the templated prompt as one unpadded chunk. Prompt
        weights ``(word:1.2)`` are not parsed: the text reaches the language model as written."""
        ids = prompt_ids(self.tokenizer, text)
        return {self.key: [[(i, 1.0, 0) if return_word_ids else (i, 1.0) for i in ids]]}

    @torch.no_grad()
    def encode_from_tokens(self, tokens: dict, return_pooled=False, return_dict: bool = False):
        from core import devices

        chunks = tokens.get(self.key)
        if chunks is None:
            raise ValueError(f"CLIP (flux2, Mistral): tokens have no {self.key!r} entry (got {sorted(tokens)}); "
                             "tokenize with this CLIP")
        ids = [int(item[0]) for chunk in chunks for item in chunk][:MAX_LENGTH]
        n_pad = MAX_LENGTH - len(ids)
        pad = self.tokenizer.SPECIAL["<pad>"]
        with devices.manager.activate(self, self.device):
            device = next(self.model.parameters()).device
            input_ids = torch.tensor([[pad] * n_pad + ids], device=device)
            mask = torch.tensor([[0] * n_pad + [1] * len(ids)], device=device)
            out = self.model(input_ids=input_ids, attention_mask=mask, output_hidden_states=True, use_cache=False)
            cond = torch.cat([out.hidden_states[i] for i in LAYERS], dim=-1).float().cpu()
        if return_dict:
            return {"cond": cond, "pooled_output": None}
        return (cond, None) if return_pooled else cond


def mistral_clip_from_state_dict(sd: dict, *, dtype=None, device=None) -> MistralClip:
    """FLUX.2 [dev]'s CLIP from one Mistral file's state dict; ``dtype``/``device`` None: the text-encoder
    defaults (float16 is replaced by bfloat16 or float32: Mistral was released in bfloat16)."""
    from core import devices

    device = torch.device(device) if device is not None else devices.offload_device()
    dtype = dtype or devices.text_encoder_dtype(devices.get_torch_device())
    if dtype == torch.float16 and not (devices.settings.fp16_text_enc or devices.settings.force_fp16):
        compute = devices.get_torch_device()
        dtype = torch.bfloat16 if compute.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    tekken = sd.get("tekken_model")
    tekken_data = tekken.cpu().numpy().tobytes() if isinstance(tekken, torch.Tensor) else None
    if tekken_data is not None:  # parse it now: a broken one is the loader's error, not the first prompt's
        from core.models.mistral_tokenizer import tekken_tokenizer

        try:
            tekken_tokenizer(tekken_data)
        except ValueError as e:
            raise ValueError(f"text encoder (flux2, Mistral): the file's 'tekken_model': {e}") from None
    model = load_mistral(sd, dtype=dtype, device=device)
    log.info("text encoder (flux2): Mistral width %d, %d layers, %s%s", model.config.hidden_size,
             model.config.num_hidden_layers, dtype, ", tokenizer from the file" if tekken_data else "")
    return MistralClip(model, tekken_data)


def clip_flux2_mistral(sds: list, *, dtype=None, device=None, embedding_dirs=None) -> MistralClip:
    """CLIPLoader type ``flux2`` with a Mistral file (FLUX.2 [dev]); the signature of qwen3_text.clip_flux2."""
    if len(sds) != 1:
        raise ValueError(f"text encoder type flux2 takes one Mistral file, got {len(sds)}")
    return mistral_clip_from_state_dict(sds[0], dtype=dtype, device=device)
