"""Qwen-Image's text encoder: Qwen2.5-VL-7B (transformers' ``Qwen2_5_VLModel``) behind the CLIP interface.

CLIPLoader type ``qwen_image`` loads ``qwen_2.5_vl_7b.safetensors`` / ``qwen_2.5_vl_7b_fp8_scaled.safetensors``.
Those files keep the original Qwen2.5-VL names: ``model.embed_tokens``, ``model.layers.N.*``, ``model.norm``,
``visual.patch_embed``, ``visual.blocks.N.*``, ``visual.merger.*`` (and sometimes ``lm_head``, unused). The fp8
"scaled" files store each linear weight as float8_e4m3fn with a per-tensor ``<name>.scale_weight``; we dequantize
on load (weight * scale, then the text-encoder dtype): exact for the stored values, at the memory of that dtype.

A prompt is wrapped in Qwen-Image's chat template and the final (normed) hidden states are the conditioning,
with the template's prefix - everything up to and including the second ``<|im_start|>user\\n`` - dropped (what
diffusers' ``QwenImagePipeline`` does with its fixed ``drop_idx`` 34, and 64 for the Edit templates). Images (Edit)
replace ``<|image_pad|>`` with the vision tower's merged patch embeddings, as Qwen2.5-VL does.
"""
from __future__ import annotations

import copy
import logging
import re

import torch

log = logging.getLogger(__name__)

TOKEN_KEY = "qwen25_7b"  # ComfyUI's token-dict key for this encoder
IM_START, IMAGE_PAD, USER, NEWLINE = 151644, 151655, 872, 198

TEMPLATE = ("<|im_start|>system\nDescribe the image by detailing the color, shape, size, texture, quantity, text, "
            "spatial relationships of the objects and background:<|im_end|>\n<|im_start|>user\n{}<|im_end|>\n"
            "<|im_start|>assistant\n")
EDIT_SYSTEM = ("<|im_start|>system\nDescribe the key features of the input image (color, shape, size, texture, "
               "objects, background), then explain how the user's text instruction should alter or modify the image. "
               "Generate a new image that meets the user's requirements while maintaining consistency with the "
               "original input where appropriate.<|im_end|>\n<|im_start|>user\n")
TEMPLATE_EDIT = EDIT_SYSTEM + "<|vision_start|><|image_pad|><|vision_end|>{}<|im_end|>\n<|im_start|>assistant\n"
TEMPLATE_EDIT_PLUS = EDIT_SYSTEM + "{}<|im_end|>\n<|im_start|>assistant\n"
PICTURE = "Picture {}: <|vision_start|><|image_pad|><|vision_end|>"


# --- the file's layout -> transformers' -------------------------------------------------------------------

def from_file_layout(sd: dict, where: str = "text encoder") -> dict:
    """Original Qwen2.5-VL names -> ``Qwen2_5_VLModel`` names; fp8 scaled weights dequantized to float32."""
    out = {}
    for key, value in sd.items():
        if key.endswith((".scale_weight", ".scale_input")) or key in ("scaled_fp8", "lm_head.weight"):
            continue
        scale = sd.get(key[:-len("weight")] + "scale_weight") if key.endswith(".weight") else None
        if scale is not None:
            value = value.float() * scale.float()
        elif value.dtype in (getattr(torch, "float8_e4m3fn", None), getattr(torch, "float8_e5m2", None)):
            value = value.float()
        if key.startswith("model."):
            out["language_model." + key[len("model."):]] = value
        elif key.startswith("visual."):
            out[key] = value
        else:
            log.debug("%s: tensor %s ignored", where, key)
    if "language_model.embed_tokens.weight" not in out:
        raise ValueError(f"{where}: not a Qwen2.5-VL file (no 'model.embed_tokens.weight'; "
                         f"first keys: {', '.join(list(sd)[:3])})")
    return out


def _shape(sd, key) -> tuple:
    return tuple(sd[key].shape)


def _count(sd, pattern: str) -> int:
    rx = re.compile(pattern)
    return len({m.group(1) for k in sd for m in [rx.match(k)] if m})


def config_from_state_dict(sd: dict):
    """``Qwen2_5_VLConfig`` from transformers-named shapes. Head sizes are not in the shapes: every Qwen2.5-VL
    release uses 128 (text) and 80 (vision); widths that are no multiple of those (test models) use 32 and 16."""
    from transformers import Qwen2_5_VLConfig

    vocab, hidden = _shape(sd, "language_model.embed_tokens.weight")
    head = 128 if hidden % 128 == 0 else 32
    text = dict(
        vocab_size=vocab, hidden_size=hidden,
        intermediate_size=_shape(sd, "language_model.layers.0.mlp.gate_proj.weight")[0],
        num_hidden_layers=_count(sd, r"language_model\.layers\.(\d+)\."),
        num_attention_heads=_shape(sd, "language_model.layers.0.self_attn.q_proj.weight")[0] // head,
        num_key_value_heads=_shape(sd, "language_model.layers.0.self_attn.k_proj.weight")[0] // head,
        rms_norm_eps=1e-6, max_position_embeddings=128000,
        rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0,
                         "mrope_section": [head // 8, head * 3 // 16, head * 3 // 16]},
    )
    vision = None
    if "visual.patch_embed.proj.weight" in sd:
        v_hidden, v_in, temporal, _, patch = _shape(sd, "visual.patch_embed.proj.weight")
        depth = _count(sd, r"visual\.blocks\.(\d+)\.")
        merge = int(round((_shape(sd, "visual.merger.mlp.0.weight")[1] / v_hidden) ** 0.5))
        vision = dict(
            depth=depth, hidden_size=v_hidden, in_channels=v_in, patch_size=patch, temporal_patch_size=temporal,
            intermediate_size=_shape(sd, "visual.blocks.0.mlp.gate_proj.weight")[0],
            num_heads=v_hidden // (80 if v_hidden % 80 == 0 else 16), spatial_merge_size=merge,
            out_hidden_size=_shape(sd, "visual.merger.mlp.2.weight")[0], window_size=112,
            fullatt_block_indexes=[i for i in range(depth) if i % 8 == 7], tokens_per_second=2)
    return Qwen2_5_VLConfig(text_config=text, vision_config=vision or {"depth": 0, "out_hidden_size": hidden})


def build_encoder(sd: dict, dtype: torch.dtype, device, where: str = "text encoder (qwen_image)"):
    """``Qwen2_5_VLModel`` built on meta and filled from transformers-named ``sd``."""
    from transformers import Qwen2_5_VLModel

    from core.models.building import fill_module, on_meta

    config = config_from_state_dict(sd)
    has_vision = "visual.patch_embed.proj.weight" in sd
    model = on_meta(lambda: Qwen2_5_VLModel(config))
    if not has_vision:  # a text-only file: no vision tower to fill (Edit nodes then refuse images)
        model.visual = None
    fill_module(model, sd, "", dtype, device, where, whole=True)
    _rebuild_rotary_buffers(model, device)
    return model


def _rebuild_rotary_buffers(model, device) -> None:
    """Rotary ``inv_freq`` tables are non-persistent buffers (in no file): build them off meta."""
    for module in model.modules():
        if getattr(module, "inv_freq", None) is not None and module.inv_freq.device.type == "meta":
            fresh = type(module)(module.config)
            for name, buf in fresh.named_buffers(recurse=False):
                setattr(module, name, buf.to(device))


# --- images ---------------------------------------------------------------------------------------------

def image_processor():
    """Qwen2-VL's image preprocessing (resize to multiples of 28 within its pixel budget, CLIP mean/std,
    2 x 14 x 14 patches), from transformers with its default settings - no files needed."""
    from transformers import Qwen2VLImageProcessor

    return Qwen2VLImageProcessor()


def image_inputs(images: list, processor=None) -> dict:
    """IMAGE tensors [1, H, W, 3] in 0..1 -> ``pixel_values``, ``image_grid_thw`` for the vision tower."""
    processor = processor or image_processor()
    arrays = [(img[0, :, :, :3].clamp(0, 1) * 255).round().to(torch.uint8).numpy() for img in images]
    return dict(processor(images=arrays, return_tensors="pt"))


# --- the CLIP value -------------------------------------------------------------------------------------

def template_end(ids: list) -> int:
    """Index after the chat template's prefix: the second ``<|im_start|>``, plus ``user\\n`` when it follows."""
    starts = [i for i, t in enumerate(ids) if t == IM_START][:2]
    if not starts:
        return 0
    end = starts[-1]
    if ids[end + 1:end + 3] == [USER, NEWLINE] and len(ids) > end + 3:
        end += 3
    return end


class QwenVLClip:
    """The CLIP socket value for Qwen-Image: tokenize / encode_from_tokens as ComfyUI's CLIP object."""

    family = "qwen_image"

    def __init__(self, model, name: str = "qwen_2.5_vl"):
        self.model = model  # transformers Qwen2_5_VLModel, shared by clones
        self.name = name
        self.device = None  # None: the compute device (CLIPLoader's device="cpu" sets cpu)
        self.layer_idx = None
        self.patches: dict = {}

    @property
    def tokenizer(self):
        from core.models.llm_tokenizers import qwen_tokenizer

        return qwen_tokenizer("qwen2.5-vl")

    @property
    def has_vision(self) -> bool:
        return self.model.visual is not None

    # --- ComfyUI's CLIP interface ---------------------------------------------------------------------
    def clone(self) -> "QwenVLClip":
        other = copy.copy(self)
        other.patches = {k: list(v) for k, v in self.patches.items()}
        return other

    def clip_layer(self, layer_idx: int) -> None:
        self.layer_idx = int(layer_idx)

    def tokenize(self, text: str, return_word_ids: bool = False, images=(), llama_template: str | None = None,
                 **_kwargs) -> dict:
        """``{"qwen25_7b": [[(token, 1.0), ...]]}``: the prompt inside the chat template (as given when it starts
        with ``<|im_start|>``), each ``<|image_pad|>`` carrying the next image as ComfyUI marks it.
        Prompt weights do not apply to this encoder (as in ComfyUI)."""
        images = list(images or ())
        if text.startswith("<|im_start|>"):
            full = text
        elif llama_template is not None:
            full = llama_template.format(text)
        else:
            full = (TEMPLATE_EDIT if images else TEMPLATE).format(text)
        ids = self.tokenizer(full, add_special_tokens=False)["input_ids"]
        chunk, pending = [], list(images)
        for i, t in enumerate(ids):
            token = t
            if t == IMAGE_PAD and pending:
                token = {"type": "image", "data": pending.pop(0), "original_type": "image"}
            chunk.append((token, 1.0, 0) if return_word_ids else (token, 1.0))
        if pending:
            raise ValueError(f"CLIP (qwen_image): {len(images)} images but only {len(images) - len(pending)} "
                             "<|image_pad|> places in the prompt template")
        return {TOKEN_KEY: [chunk]}

    def encode_from_tokens(self, tokens: dict, return_pooled=False, return_dict: bool = False):
        chunks = tokens.get(TOKEN_KEY)
        if not chunks:
            raise ValueError(f"CLIP (qwen_image): tokens have no {TOKEN_KEY!r} entry (got {sorted(tokens)}); "
                             "tokenize with this CLIP")
        ids, images = [], []
        for item in (x for chunk in chunks for x in chunk):
            token = item[0]
            if isinstance(token, dict) and token.get("type") == "image":
                ids.append(IMAGE_PAD)
                images.append(token["data"])
            else:
                ids.append(int(token))
        cond = self._encode(ids, images)[:, template_end(ids):]
        if return_dict:
            return {"cond": cond, "pooled_output": None}
        return (cond, None) if return_pooled else cond

    def encode_from_tokens_scheduled(self, tokens: dict, add_dict: dict | None = None) -> list:
        cond = self.encode_from_tokens(tokens)
        return [[cond, {"pooled_output": None, **(add_dict or {})}]]

    def encode(self, text: str) -> list:
        return self.encode_from_tokens_scheduled(self.tokenize(text))

    def add_patches(self, patches: dict, strength_patch: float = 1.0, strength_model: float = 1.0) -> list:
        """Text-encoder LoRAs are not applied to Qwen2.5-VL yet: no key is taken (the LoRA loader reports them)."""
        return []

    def state_dict(self) -> dict:
        return dict(self.model.state_dict())

    def get_sd(self) -> dict:
        return self.state_dict()

    @property
    def cond_stage_model(self):
        return self.model

    @property
    def patcher(self):
        return self

    def load_model(self):
        return self

    # --- device manager hooks -------------------------------------------------------------------------
    def modules(self) -> list:
        return [self.model]

    def on_activate(self) -> None:
        pass

    def on_deactivate(self) -> None:
        pass

    # --- internals ------------------------------------------------------------------------------------
    @torch.no_grad()
    def _encode(self, ids: list, images: list) -> torch.Tensor:
        """Final-layer hidden states [1, T', 3584] of ``ids`` (image pads expanded to their patch tokens)."""
        from core import devices

        extra = {}
        if images:
            if not self.has_vision:
                raise ValueError("CLIP (qwen_image): this text encoder file has no vision tower (visual.*), "
                                 "so it cannot read images")
            extra = image_inputs(images)
            merge = self.model.config.vision_config.spatial_merge_size ** 2
            counts = [int(g.prod()) // merge for g in extra["image_grid_thw"]]
            expanded, k = [], 0
            for t in ids:
                if t == IMAGE_PAD and k < len(counts):
                    expanded += [IMAGE_PAD] * counts[k]
                    k += 1
                else:
                    expanded.append(t)
            ids = expanded
        with devices.manager.activate(self, self.device):
            device = next(self.model.parameters()).device
            dtype = next(self.model.parameters()).dtype
            kwargs = {k: v.to(device) for k, v in extra.items()}
            if "pixel_values" in kwargs:
                kwargs["pixel_values"] = kwargs["pixel_values"].to(dtype)
            input_ids = torch.tensor([ids], dtype=torch.long, device=device)
            out = self.model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), **kwargs)
            return out.last_hidden_state.float().cpu()

    def __repr__(self) -> str:
        return f"QwenVLClip({self.name!r}, vision={self.has_vision})"


def clip_from_state_dicts(sds: list, *, dtype=None, device=None, name: str = "qwen_2.5_vl") -> QwenVLClip:
    """CLIPLoader type ``qwen_image``: one Qwen2.5-VL file (bf16, or fp8 scaled: dequantized on load)."""
    from core import devices

    if len(sds) != 1:
        raise ValueError(f"text encoder type qwen_image takes one file (Qwen2.5-VL-7B), got {len(sds)}")
    sd = from_file_layout(sds[0], "text encoder (qwen_image)")
    device = torch.device(device) if device is not None else devices.offload_device()
    if dtype is None:
        dtype = devices.text_encoder_dtype(devices.get_torch_device())
        if dtype == torch.float16:  # Qwen2.5's activations overflow float16; it was trained in bfloat16
            dtype = torch.bfloat16
    model = build_encoder(sd, dtype, device)
    log.info("text encoder qwen_image: Qwen2.5-VL, %d layers, width %d%s, %s", model.config.text_config.num_hidden_layers,
             model.config.text_config.hidden_size, " + vision tower" if model.visual is not None else "", dtype)
    return QwenVLClip(model, name)


def clip_qwen_image(sds: list, *, dtype=None, device=None, embedding_dirs=None) -> QwenVLClip:
    """CLIP_TYPES entry ``qwen_image`` (core/models/text_encoder.py); embeddings do not apply to this encoder."""
    return clip_from_state_dicts(sds, dtype=dtype, device=device)
