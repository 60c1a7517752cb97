"""DifferentialDiffusion: soft inpainting masks applied per step (core/sampling/differential.py)."""
from __future__ import annotations

from core.execution.spec import Float, In, Node, Output


class DifferentialDiffusion(Node):
    COMFY_V3 = True  # ComfyUI declares it with its V3 API
    CATEGORY = "_for_testing"
    DISPLAY_NAME = "Differential Diffusion"
    INPUTS = (In("MODEL", "model"),
              Float("strength", default=1.0, min=0.0, max=1.0, step=0.01, optional=True))
    OUTPUTS = (Output("MODEL"),)

    def execute(self, model, strength=1.0):
        from core.sampling.differential import DifferentialMask

        patched = model.clone()
        patched.model_options["denoise_mask_function"] = DifferentialMask(strength)
        return (patched,)


NODES = [DifferentialDiffusion]
