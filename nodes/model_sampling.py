"""Model sampling nodes (ComfyUI's nodes_model_advanced): give a flow model its shifted schedule.

Each returns a clone of the MODEL whose ``model_sampling`` is a new flow schedule
(core/sampling/model_sampling.py); the weights are shared, the input MODEL is unchanged.
"""
from __future__ import annotations

from core.execution.spec import MAX_RESOLUTION, Float, In, Int, Node, Output

CATEGORY = "advanced/model"


def _with_sampling(model, sampling):
    m = model.clone()
    m.model_sampling = sampling
    return m


class ModelSamplingSD3(Node):
    CATEGORY = CATEGORY
    COMFY_FUNCTION = "patch"
    INPUTS = (In("MODEL", "model"), Float("shift", default=3.0, min=0.0, max=100.0, step=0.01))
    OUTPUTS = (Output("MODEL"),)

    def execute(self, model, shift, multiplier=1000):
        from core.sampling.model_sampling import FlowSchedule

        return (_with_sampling(model, FlowSchedule(shift, multiplier=multiplier)),)


class ModelSamplingAuraFlow(Node):
    CATEGORY = CATEGORY
    COMFY_FUNCTION = "patch_aura"
    INPUTS = (In("MODEL", "model"), Float("shift", default=1.73, min=0.0, max=100.0, step=0.01))
    OUTPUTS = (Output("MODEL"),)

    def execute(self, model, shift):
        from core.sampling.model_sampling import FlowSchedule

        # AuraFlow conditions its network on t in 0..1: the SD3 schedule with multiplier 1
        return (_with_sampling(model, FlowSchedule(shift, multiplier=1.0)),)


class ModelSamplingFlux(Node):
    CATEGORY = CATEGORY
    COMFY_FUNCTION = "patch"
    INPUTS = (In("MODEL", "model"),
              Float("max_shift", default=1.15, min=0.0, max=100.0, step=0.01),
              Float("base_shift", default=0.5, min=0.0, max=100.0, step=0.01),
              Int("width", default=1024, min=16, max=MAX_RESOLUTION, step=8),
              Int("height", default=1024, min=16, max=MAX_RESOLUTION, step=8))
    OUTPUTS = (Output("MODEL"),)

    def execute(self, model, max_shift, base_shift, width, height):
        from core.sampling.model_sampling import FluxSchedule, flux_shift_for_size

        return (_with_sampling(model, FluxSchedule(flux_shift_for_size(width, height, base_shift, max_shift))),)


NODES = [ModelSamplingSD3, ModelSamplingAuraFlow, ModelSamplingFlux]
