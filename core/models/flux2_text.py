"""CLIPLoader type ``flux2``: FLUX.2 [dev] takes Mistral-Small-3.2 (core/models/mistral_text.py), FLUX.2 [klein]
Qwen3-4B/8B (core/models/qwen3_text.py). Both arrive under the one type, so the file's keys decide: Qwen3's
attention has per-head ``q_norm``/``k_norm`` weights, Mistral's has none."""
from __future__ import annotations


def clip_flux2(sds: list, *, dtype=None, device=None, embedding_dirs=None):
    """The FLUX.2 CLIP of one text-encoder file, Mistral or Qwen3 by its keys."""
    from core.models import mistral_text, qwen3_text

    if len(sds) == 1 and mistral_text.is_mistral_text_encoder(sds[0]):
        return mistral_text.clip_flux2_mistral(sds, dtype=dtype, device=device, embedding_dirs=embedding_dirs)
    return qwen3_text.clip_flux2(sds, dtype=dtype, device=device, embedding_dirs=embedding_dirs)
