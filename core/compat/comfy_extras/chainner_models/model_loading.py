"""``chainner_models.model_loading.load_state_dict(sd)``: an upscale model from its weights (spandrel).

ComfyUI replaced its vendored chaiNNer code with spandrel; packs written for the old name still
call ``load_state_dict`` and get spandrel's model (``.scale``, callable on NCHW images).
"""
from __future__ import annotations


def load_state_dict(state_dict):
    try:
        from spandrel import ModelLoader
    except ImportError as e:
        raise ImportError("chainner_models.model_loading needs the spandrel package (requirements.txt)") from e
    return ModelLoader().load_from_state_dict(state_dict).eval()
