"""SD3.5 nodes: skip-layer guidance (ComfyUI's SkipLayerGuidanceSD3 in nodes_sd3, SkipLayerGuidanceDiT in
nodes_slg; Stability AI's SD3.5 reference calls it "skip layer CFG").

Each returns a clone of the MODEL whose model_options carry a
:class:`core.sampling.guidance.SkipLayerGuidance`; the guidance module runs the extra forward with those
transformer blocks left out while sigma is inside the percent range, and adds
``scale * (cond - cond_skipped)`` to the CFG result.
"""
from __future__ import annotations

import re

from core.execution.spec import Float, In, Node, Output, String

CATEGORY = "advanced/guidance"


def _layers(text: str) -> tuple:
    """``"7, 8, 9"`` -> (7, 8, 9): every run of digits, as ComfyUI reads the field."""
    return tuple(int(n) for n in re.findall(r"\d+", text or ""))


def _check_layers(node: str, model, double: tuple, single: tuple) -> None:
    import inspect

    net = model.unet
    if "transformer_options" not in inspect.signature(net.forward).parameters:
        raise ValueError(f"{node}, input 'model': {model.name!r} ({model.config.family}) cannot leave out "
                         "transformer blocks; skip-layer guidance needs a DiT model such as SD3.5")
    depth = getattr(getattr(net, "config", None), "depth", None)
    if depth is not None and double and max(double) >= depth:
        raise ValueError(f"{node}, input 'layers': layer {max(double)} does not exist; {model.name!r} has "
                         f"{depth} joint blocks (0-{depth - 1})")
    singles = getattr(getattr(net, "config", None), "depth_single_blocks", None)
    if single and singles is not None and max(single) >= singles:
        raise ValueError(f"{node}, input 'single_layers': layer {max(single)} does not exist; {model.name!r} has "
                         f"{singles} single blocks")


def with_skip_layer_guidance(node: str, model, double: tuple, single: tuple, scale: float, start_percent: float,
                             end_percent: float, rescaling_scale: float = 0.0):
    from core.sampling.guidance import SkipLayerGuidance
    from core.sampling.sample import schedule_for

    if not double and not single:
        return model
    _check_layers(node, model, double, single)
    schedule = schedule_for(model)
    slg = SkipLayerGuidance(double_layers=double, single_layers=single, scale=float(scale),
                            sigma_start=schedule.percent_to_sigma(float(start_percent)),
                            sigma_end=schedule.percent_to_sigma(float(end_percent)),
                            rescaling_scale=float(rescaling_scale))
    m = model.clone()
    m.model_options["skip_layer_guidance"] = slg
    return m


class SkipLayerGuidanceSD3(Node):
    COMFY_V3 = True  # ComfyUI declares it with its V3 API
    CATEGORY = CATEGORY
    DISPLAY_NAME = "SkipLayerGuidanceSD3"
    DESCRIPTION = "Guides away from the prediction made with some joint blocks left out (SD3.5)."
    INPUTS = (In("MODEL", "model"),
              String("layers", default="7, 8, 9"),
              Float("scale", default=3.0, min=0.0, max=10.0, step=0.1),
              Float("start_percent", default=0.01, min=0.0, max=1.0, step=0.001),
              Float("end_percent", default=0.15, min=0.0, max=1.0, step=0.001))
    OUTPUTS = (Output("MODEL"),)

    def execute(self, model, layers, scale, start_percent, end_percent):
        double = _layers(layers)
        return (with_skip_layer_guidance("SkipLayerGuidanceSD3", model, double, (), scale, start_percent,
                                         end_percent),)


class SkipLayerGuidanceDiT(Node):
    COMFY_V3 = True
    CATEGORY = CATEGORY
    DISPLAY_NAME = "SkipLayerGuidanceDiT"
    DESCRIPTION = "Generic skip-layer guidance for DiT models: double (joint) and single blocks to leave out."
    INPUTS = (In("MODEL", "model"),
              String("double_layers", default="7, 8, 9"),
              String("single_layers", default="7, 8, 9"),
              Float("scale", default=3.0, min=0.0, max=10.0, step=0.1),
              Float("start_percent", default=0.01, min=0.0, max=1.0, step=0.001),
              Float("end_percent", default=0.15, min=0.0, max=1.0, step=0.001),
              Float("rescaling_scale", default=0.0, min=0.0, max=10.0, step=0.01))
    OUTPUTS = (Output("MODEL"),)

    def execute(self, model, scale, start_percent, end_percent, double_layers="", single_layers="",
                rescaling_scale=0.0):
        node = "SkipLayerGuidanceDiT"
        double = _layers(double_layers)
        single = _layers(single_layers)
        # an MM-DiT has joint blocks only: its single_layers default ("7, 8, 9") means nothing there
        if single and getattr(getattr(model.unet, "config", None), "depth_single_blocks", None) is None:
            single = ()
        return (with_skip_layer_guidance(node, model, double, single, scale, start_percent, end_percent,
                                         rescaling_scale),)


NODES = [SkipLayerGuidanceSD3, SkipLayerGuidanceDiT]
