"""ControlNet nodes: load a ControlNet and attach it, with a hint image, to conditioning entries.

Applying never changes the incoming conditioning: entries are copied and their ``control`` points to
a new control object that chains to the one they had (``.previous``), so several ControlNets stack.
"""
from __future__ import annotations

from core import paths
from core.execution.spec import Combo, Float, In, Node, Output


def _controlnets():
    return paths.get().get_filename_list("controlnet")


def _load(node: str, name: str):
    from core.models.controlnet import load_controlnet

    try:
        path = paths.get().get_full_path_or_raise("controlnet", name)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"{node}, input 'control_net_name': {e}") from e
    try:
        return load_controlnet(path)
    except ValueError as e:
        raise ValueError(f"{node}, input 'control_net_name': {e}") from e


class ControlNetLoader(Node):
    CATEGORY = "loaders"
    COMFY_FUNCTION = "load_controlnet"
    DISPLAY_NAME = "Load ControlNet Model"
    INPUTS = (Combo(name="control_net_name", choices=_controlnets),)
    OUTPUTS = (Output("CONTROL_NET"),)

    def execute(self, control_net_name):
        return (_load("ControlNetLoader", control_net_name),)


class DiffControlNetLoader(Node):
    """Kept for old workflows: the files it was for are full ControlNets today; the model is not needed."""

    CATEGORY = "loaders"
    COMFY_FUNCTION = "load_controlnet"
    DISPLAY_NAME = "Load ControlNet Model (diff)"
    INPUTS = (In("MODEL", "model"), Combo(name="control_net_name", choices=_controlnets))
    OUTPUTS = (Output("CONTROL_NET"),)

    def execute(self, model, control_net_name):
        return (_load("DiffControlNetLoader", control_net_name),)


def attach(conditioning: list, control_net, image, strength, start_percent, end_percent, vae, cache: dict,
           apply_to_uncond: bool = False) -> list:
    """Copies of the entries with a control chained to each entry's previous one (shared per previous)."""
    out = []
    for context, opts in conditioning:
        prev = opts.get("control")
        key = id(prev)
        if key not in cache:
            cache[key] = control_net.apply(image, strength, start_percent, end_percent, previous=prev, vae=vae)
        new = dict(opts)
        new["control"] = cache[key]
        new["control_apply_to_uncond"] = apply_to_uncond
        out.append([context, new])
    return out


class ControlNetApply(Node):
    CATEGORY = "conditioning/controlnet"
    COMFY_FUNCTION = "apply_controlnet"
    DISPLAY_NAME = "Apply ControlNet (OLD)"
    INPUTS = (
        In("CONDITIONING", "conditioning"),
        In("CONTROL_NET", "control_net"),
        In("IMAGE", "image"),
        Float(name="strength", default=1.0, min=0.0, max=10.0, step=0.01),
    )
    OUTPUTS = (Output("CONDITIONING"),)

    def execute(self, conditioning, control_net, image, strength):
        if strength == 0:
            return (conditioning,)
        return (attach(conditioning, control_net, image, strength, 0.0, 1.0, None, {}, apply_to_uncond=True),)


class ControlNetApplyAdvanced(Node):
    CATEGORY = "conditioning/controlnet"
    COMFY_FUNCTION = "apply_controlnet"
    DISPLAY_NAME = "Apply ControlNet"
    INPUTS = (
        In("CONDITIONING", "positive"),
        In("CONDITIONING", "negative"),
        In("CONTROL_NET", "control_net"),
        In("IMAGE", "image"),
        Float(name="strength", default=1.0, min=0.0, max=10.0, step=0.01),
        Float(name="start_percent", default=0.0, min=0.0, max=1.0, step=0.001),
        Float(name="end_percent", default=1.0, min=0.0, max=1.0, step=0.001),
        In("VAE", "vae", optional=True),
    )
    OUTPUTS = (Output("CONDITIONING", "positive"), Output("CONDITIONING", "negative"))

    def execute(self, positive, negative, control_net, image, strength, start_percent, end_percent, vae=None,
                extra_concat=()):
        if extra_concat:  # ComfyUI's hook for inpainting ControlNets that take extra channels
            raise ValueError("ControlNetApplyAdvanced, input 'extra_concat': extra concat channels are not supported")
        if strength == 0:
            return (positive, negative)
        _check_vae("ControlNetApplyAdvanced", control_net, vae)
        # one cache for both lists: positive and negative share a control object, so guidance runs
        # them (U-Net and ControlNet) in one batched call
        cache: dict = {}
        return (attach(positive, control_net, image, strength, start_percent, end_percent, vae, cache),
                attach(negative, control_net, image, strength, start_percent, end_percent, vae, cache))


def _check_vae(node: str, control_net, vae) -> None:
    """SD3.5 ControlNets take their hint as a VAE latent: refuse early rather than at the first step."""
    if vae is None and getattr(control_net, "needs_vae", False):
        raise ValueError(f"{node}, input 'vae': the ControlNet {control_net.name!r} encodes its control image "
                         "with the model's VAE; connect the VAE")


class ControlNetApplySD3(Node):
    """ComfyUI's "Apply Controlnet with VAE" (nodes_sd3; deprecated there in favour of Apply ControlNet with
    its optional vae input), kept so SD3 workflows that use it run."""

    COMFY_V3 = True
    CATEGORY = "conditioning/controlnet"
    DISPLAY_NAME = "Apply Controlnet with VAE"
    INPUTS = (
        In("CONDITIONING", "positive"),
        In("CONDITIONING", "negative"),
        In("CONTROL_NET", "control_net"),
        In("VAE", "vae"),
        In("IMAGE", "image"),
        Float(name="strength", default=1.0, min=0.0, max=10.0, step=0.01),
        Float(name="start_percent", default=0.0, min=0.0, max=1.0, step=0.001),
        Float(name="end_percent", default=1.0, min=0.0, max=1.0, step=0.001),
    )
    OUTPUTS = (Output("CONDITIONING", "positive"), Output("CONDITIONING", "negative"))

    def execute(self, positive, negative, control_net, image, strength, start_percent, end_percent, vae=None):
        if strength == 0:
            return (positive, negative)
        _check_vae("ControlNetApplySD3", control_net, vae)
        cache: dict = {}
        return (attach(positive, control_net, image, strength, start_percent, end_percent, vae, cache),
                attach(negative, control_net, image, strength, start_percent, end_percent, vae, cache))


NODES = [ControlNetLoader, DiffControlNetLoader, ControlNetApply, ControlNetApplyAdvanced, ControlNetApplySD3]
