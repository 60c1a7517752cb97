"""Style model nodes: load a T2I style adapter and append its style tokens to a conditioning."""
from __future__ import annotations

from core import paths
from core.execution.spec import Combo, Float, In, Node, Output


def _style_files():
    return paths.get().get_filename_list("style_models")


class StyleModelLoader(Node):
    COMFY_FUNCTION = "load_style_model"
    CATEGORY = "loaders"
    DISPLAY_NAME = "Load Style Model"
    INPUTS = (Combo("style_model_name", choices=_style_files),)
    OUTPUTS = (Output("STYLE_MODEL"),)

    def execute(self, style_model_name):
        from core.models import style_model

        try:
            path = paths.get().get_full_path_or_raise("style_models", style_model_name)
            return (style_model.load(path),)
        except (FileNotFoundError, ValueError, KeyError) as e:
            raise ValueError(f"StyleModelLoader, input 'style_model_name': {e}") from e


class StyleModelApply(Node):
    COMFY_FUNCTION = "apply_stylemodel"
    CATEGORY = "conditioning/style_model"
    DISPLAY_NAME = "Apply Style Model"
    INPUTS = (In("CONDITIONING", "conditioning"), In("STYLE_MODEL", "style_model"),
              In("CLIP_VISION_OUTPUT", "clip_vision_output"),
              Float("strength", default=1.0, min=0.0, max=10.0, step=0.001),
              Combo("strength_type", choices=["multiply", "attn_bias"]))
    OUTPUTS = (Output("CONDITIONING"),)

    def execute(self, conditioning, style_model, clip_vision_output, strength=1.0, strength_type="multiply"):
        import torch

        if strength_type == "attn_bias" and strength != 1.0:
            raise ValueError("StyleModelApply, input 'strength_type': 'attn_bias' needs attention masks, which "
                             "Latentflow's U-Net does not take; use 'multiply'")
        tokens = style_model.get_cond(clip_vision_output).flatten(0, 1).unsqueeze(0)  # all images' tokens in a row
        if strength_type == "multiply":
            tokens = tokens * strength
        out = []
        for context, options in conditioning:
            extra = tokens.to(context.dtype).expand(context.shape[0], -1, -1)
            out.append([torch.cat([context, extra], dim=1), dict(options)])
        return (out,)


NODES = [StyleModelLoader, StyleModelApply]
