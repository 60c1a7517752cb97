"""``comfy_api.latest.io``: the V3 node API plugins write against (``io.ComfyNode``, ``io.Schema``,
typed ``io.<Type>.Input`` / ``.Output``, ``io.NodeOutput``, ``io.Hidden``). Declarations live in
_types.py, the node base and its classic adapter in _node.py; this module is the one name packs see."""
from __future__ import annotations

from ._dynamic import Autogrow, DynamicCombo, DynamicInput, DynamicOutput, DynamicSlot, MatchType  # noqa: F401
from ._node import ComfyNode, Hidden, HiddenHolder, NodeOutput, Schema, classproperty  # noqa: F401
from ._types import (  # noqa: F401
    BBOX, SEGS, SVG, Accumulation, Array, BackgroundRemoval, BoundingBox, BoundingBoxes, Dict, Histogram,
    LatentUpscaleModel, ModelPatch, Splat, Tracks, AnyType, Audio, AudioEncoder, AudioEncoderOutput, Boolean, Clip,
    ClipVision,
    ClipVisionOutput, Combo, ComfyTypeI, ComfyTypeIO, Conditioning, ControlNet, Custom, FaceAnalysis, Float,
    FlowControl, FolderType, Gligen, HookKeyframes, Hooks, Image, Input, Int, Latent, LatentOperation, Load3D,
    Load3DAnimation, Load3DCamera, LoraModel, LossMap, MODEL_PATCH, Mask, Mesh, Model, MultiCombo, MultiType,
    Noise, NumberDisplay, Output, Photomaker, Point, RemoteOptions, Sampler, Sigmas, String, StyleModel,
    TimestepsRange, UploadType, UpscaleModel, Vae, Video, Voxel, WanCameraEmbedding, Webcam, WidgetInput,
    comfytype,
)


class _UIOutput:
    """Base of the ``ui.*`` objects a node returns as ``NodeOutput(..., ui=...)``."""

    def as_dict(self) -> dict:
        raise NotImplementedError


def add_to_dict_v1(i: Input, input: dict) -> None:
    """Put one V3 input into a classic INPUT_TYPES dict (its section by ``optional``)."""
    opts = i.as_dict()
    opts.pop("optional", None)
    input.setdefault("optional" if i.optional else "required", {})[i.id] = (i.get_io_type(), opts)


def add_to_dict_v3(io_, d: dict) -> None:
    d[io_.id] = (io_.get_io_type(), io_.as_dict())


def __getattr__(name):
    """A name of a later ComfyUI release we do not have: a stand-in that raises, naming it, when used, so
    a pack written against ComfyUI's main branch still imports (its other nodes keep working)."""
    if name.startswith("__"):
        raise AttributeError(name)
    return _missing(name)


def _missing(name: str, module: str = "comfy_api.latest.io"):
    """The shared placeholder (core/compat/missing.py): importable, raising with its name when used."""
    from core.compat.missing import placeholder

    return placeholder(f"{module}.{name}")
