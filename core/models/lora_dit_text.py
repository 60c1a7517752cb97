"""LoRA module names of the FLUX.1 / SD3.5 text encoders (checkpoint keys under ``text_encoders.*``).

The names ComfyUI maps (comfy/lora.py ``model_lora_keys_clip``, facts only):
- every weight under its checkpoint name without ``.weight`` (``text_encoders.clip_l.transformer.text_model...``);
- CLIP-L: kohya ``lora_te_`` / ``lora_te1_`` and diffusers ``text_encoder.`` + the transformers path;
- bigG: with CLIP-L present ``lora_te2_`` / ``text_encoder_2.``, alone ``lora_te_`` / ``text_encoder.`` /
  ``lora_prior_te_``; the projections as ``lora_te1_text_projection`` / ``lora_te2_text_projection``;
- T5 (OneTrainer): ``lora_te<n>_`` + its path with ``.`` → ``_``, n = 1 + (bigG present) + (CLIP-L present);
  with CLIP-L and no bigG (FLUX) both ``lora_te2_`` and ``lora_te3_``.
"""
from __future__ import annotations

L_PREFIX = "text_encoders.clip_l.transformer."
G_PREFIX = "text_encoders.clip_g.transformer."
T5_PREFIX = "text_encoders.t5xxl.transformer."


def _flat(path: str) -> str:
    return path.replace(".", "_")


def dit_text_names(checkpoint_keys) -> dict:
    """``{LoRA module name: (checkpoint key, None)}`` for the ``text_encoders.*`` weights among the keys."""
    keys = [k for k in checkpoint_keys if k.startswith("text_encoders.") and k.endswith(".weight")]
    has_l = any(k.startswith(L_PREFIX) for k in keys)
    has_g = any(k.startswith(G_PREFIX) for k in keys)
    out: dict = {}
    for key in keys:
        target = (key, None)
        out[key[: -len(".weight")]] = target
        for name in _names(key, has_l, has_g):
            out[name] = target
    return out


def _names(key: str, has_l: bool, has_g: bool):
    if key.startswith(L_PREFIX):
        path = key[len(L_PREFIX): -len(".weight")]
        if path == "text_projection":
            yield "lora_te1_text_projection"
        elif path.startswith("text_model."):
            yield from ("lora_te_" + _flat(path), "lora_te1_" + _flat(path), "text_encoder." + path)
    elif key.startswith(G_PREFIX):
        path = key[len(G_PREFIX): -len(".weight")]
        if path == "text_projection":
            yield "lora_te2_text_projection"
        elif path.startswith("text_model.") and has_l:
            yield from ("lora_te2_" + _flat(path), "text_encoder_2." + path)
        elif path.startswith("text_model."):
            yield from ("lora_te_" + _flat(path), "text_encoder." + path, "lora_prior_te_" + _flat(path))
    elif key.startswith(T5_PREFIX):
        path = _flat(key[len(T5_PREFIX): -len(".weight")])
        if has_l and not has_g:  # OneTrainer's FLUX files say te2, ComfyUI's own count gives te3
            yield from (f"lora_te2_{path}", f"lora_te3_{path}")
        else:
            yield f"lora_te{1 + has_g + has_l}_{path}"
