"""V3 input/output declarations (``io.Int.Input("steps", default=20, min=1)``, ``io.Image.Output()``).

Each ComfyUI type is a class with an ``io_type`` string and nested ``Input`` / ``Output`` classes;
``Input.as_dict()`` gives the options the classic ``INPUT_TYPES`` entry carries, so a V3 schema turns
into the same ``(type, options)`` pairs our validator, canvas and /object_info already read.
"""
from __future__ import annotations

from enum import Enum
from typing import Any, Callable

import torch


def prune(d: dict) -> dict:
    """Drop unset (None) options so the classic entry carries only what the node declared."""
    return {k: v for k, v in d.items() if v is not None}


class FolderType(str, Enum):
    input = "input"
    output = "output"
    temp = "temp"


class UploadType(str, Enum):
    image = "image_upload"
    audio = "audio_upload"
    video = "video_upload"
    model = "file_upload"


class NumberDisplay(str, Enum):
    number = "number"
    slider = "slider"


class RemoteOptions:
    """Combo options fetched by the frontend from a route of the server."""

    def __init__(self, route: str, refresh_button: bool, control_after_refresh: str = "first",
                 timeout: int | None = None, max_retries: int | None = None, refresh: int | None = None):
        self.route, self.refresh_button = route, refresh_button
        self.control_after_refresh, self.timeout = control_after_refresh, timeout
        self.max_retries, self.refresh = max_retries, refresh

    def as_dict(self) -> dict:
        return prune({"route": self.route, "refresh_button": self.refresh_button,
                      "control_after_refresh": self.control_after_refresh, "timeout": self.timeout,
                      "max_retries": self.max_retries, "refresh": self.refresh})


class _IO:
    Parent: Any = None  # the ComfyType class this Input/Output belongs to (set by @comfytype)

    @property
    def io_type(self):
        return self.Parent.io_type

    @property
    def Type(self):  # noqa: N802 (ComfyUI's name)
        return self.Parent.Type


class Input(_IO):
    """A socket input (linked only unless a subclass adds a widget)."""

    def __init__(self, id: str, display_name: str | None = None, optional: bool = False,
                 tooltip: str | None = None, lazy: bool | None = None, extra_dict: dict | None = None, **more):
        if not isinstance(id, str) or not id:
            raise ValueError(f"V3 input id must be a non-empty string, got {id!r}")
        self.id, self.display_name, self.optional = id, display_name, optional
        self.tooltip, self.lazy = tooltip, lazy
        # options newer ComfyUI releases added (advanced=, raw_link=, ...) travel as plain options
        self.extra_dict = dict(extra_dict or {}) | prune(more)

    def as_dict(self) -> dict:
        return prune({"display_name": self.display_name, "optional": self.optional or None,
                      "tooltip": self.tooltip, "lazy": self.lazy}) | prune(self.extra_dict)

    def get_io_type(self) -> str:
        return self.io_type


class WidgetInput(Input):
    """An input that may show a widget (a value typed in the node rather than linked)."""

    def __init__(self, id: str, display_name: str | None = None, optional: bool = False,
                 tooltip: str | None = None, lazy: bool | None = None, default: Any = None,
                 socketless: bool | None = None, widget_type: str | None = None, force_input: bool | None = None,
                 extra_dict: dict | None = None, **more):
        super().__init__(id, display_name, optional, tooltip, lazy, extra_dict, **more)
        self.default, self.socketless = default, socketless
        self.widget_type, self.force_input = widget_type, force_input

    def as_dict(self) -> dict:
        return super().as_dict() | prune({"default": self.default, "socketless": self.socketless,
                                          "widgetType": self.widget_type, "forceInput": self.force_input})

    def get_io_type(self) -> str:
        return self.widget_type if self.widget_type is not None else self.io_type


class Output(_IO):
    def __init__(self, id: str | None = None, display_name: str | None = None, tooltip: str | None = None,
                 is_output_list: bool = False, **_more):
        self.id, self.display_name, self.tooltip, self.is_output_list = id, display_name, tooltip, is_output_list

    def as_dict(self) -> dict:
        return prune({"display_name": self.display_name, "tooltip": self.tooltip,
                      "is_output_list": self.is_output_list or None})

    def get_io_type(self):
        return self.io_type


class _ComfyType:
    Type: Any = Any
    io_type: str | None = None


class ComfyTypeI(_ComfyType):
    """A type with only an Input (e.g. MultiCombo)."""

    Input = Input


class ComfyTypeIO(ComfyTypeI):
    """A type with both an Input and an Output."""

    Output = Output


def comfytype(io_type: str, **_kw):
    """Class decorator: bind ``io_type`` and give the class its own Input/Output subclasses (so
    ``Parent`` differs per type while ``isinstance(x, io.Input)`` still holds)."""

    def decorator(cls):
        if not issubclass(cls, _ComfyType):
            cls = type(cls.__name__, (cls, ComfyTypeIO), {"__module__": cls.__module__, "__doc__": cls.__doc__})
        cls.io_type = io_type
        for kind in ("Input", "Output"):
            base = getattr(cls, kind, None)
            if base is None:
                continue
            own = type(kind, (base,), {"Parent": cls, "__qualname__": f"{cls.__qualname__}.{kind}",
                                        "__module__": cls.__module__, "__doc__": base.__doc__})
            setattr(cls, kind, own)
        return cls

    return decorator


def Custom(io_type: str) -> type:  # noqa: N802 (ComfyUI's name)
    """A type for a plugin's own socket name: ``io.Custom("MY_TYPE").Input("x")``."""

    @comfytype(io_type=io_type)
    class CustomType(ComfyTypeIO):
        pass

    return CustomType


@comfytype(io_type="BOOLEAN")
class Boolean(ComfyTypeIO):
    Type = bool

    class Input(WidgetInput):
        def __init__(self, id, display_name=None, optional=False, tooltip=None, lazy=None, default=None,
                     label_on=None, label_off=None, socketless=None, force_input=None, extra_dict=None, **more):
            super().__init__(id, display_name, optional, tooltip, lazy, default, socketless, None, force_input,
                             extra_dict, **more)
            self.label_on, self.label_off = label_on, label_off

        def as_dict(self):
            return super().as_dict() | prune({"label_on": self.label_on, "label_off": self.label_off})


def _display(mode):
    return mode.value if isinstance(mode, Enum) else mode


@comfytype(io_type="INT")
class Int(ComfyTypeIO):
    Type = int

    class Input(WidgetInput):
        def __init__(self, id, display_name=None, optional=False, tooltip=None, lazy=None, default=None, min=None,
                     max=None, step=None, control_after_generate=None, display_mode=None, socketless=None,
                     force_input=None, extra_dict=None, **more):
            super().__init__(id, display_name, optional, tooltip, lazy, default, socketless, None, force_input,
                             extra_dict, **more)
            self.min, self.max, self.step = min, max, step
            self.control_after_generate, self.display_mode = control_after_generate, display_mode

        def as_dict(self):
            return super().as_dict() | prune({"min": self.min, "max": self.max, "step": self.step,
                                              "control_after_generate": self.control_after_generate,
                                              "display": _display(self.display_mode)})


@comfytype(io_type="FLOAT")
class Float(ComfyTypeIO):
    Type = float

    class Input(WidgetInput):
        def __init__(self, id, display_name=None, optional=False, tooltip=None, lazy=None, default=None, min=None,
                     max=None, step=None, round=None, display_mode=None, socketless=None, force_input=None,
                     extra_dict=None, **more):
            super().__init__(id, display_name, optional, tooltip, lazy, default, socketless, None, force_input,
                             extra_dict, **more)
            self.min, self.max, self.step, self.round, self.display_mode = min, max, step, round, display_mode

        def as_dict(self):
            return super().as_dict() | prune({"min": self.min, "max": self.max, "step": self.step,
                                              "round": self.round, "display": _display(self.display_mode)})


@comfytype(io_type="STRING")
class String(ComfyTypeIO):
    Type = str

    class Input(WidgetInput):
        def __init__(self, id, display_name=None, optional=False, tooltip=None, lazy=None, multiline=False,
                     placeholder=None, default=None, dynamic_prompts=None, socketless=None, force_input=None,
                     extra_dict=None, **more):
            super().__init__(id, display_name, optional, tooltip, lazy, default, socketless, None, force_input,
                             extra_dict, **more)
            self.multiline, self.placeholder, self.dynamic_prompts = multiline, placeholder, dynamic_prompts

        def as_dict(self):
            return super().as_dict() | prune({"multiline": self.multiline or None, "placeholder": self.placeholder,
                                              "dynamicPrompts": self.dynamic_prompts})


@comfytype(io_type="COMBO")
class Combo(ComfyTypeIO):
    Type = str

    class Input(WidgetInput):
        """A choice from ``options`` (a list, or an Enum class whose values are the choices)."""

        def __init__(self, id, options=None, display_name=None, optional=False, tooltip=None, lazy=None,
                     default=None, control_after_generate=None, upload=None, image_folder=None, remote=None,
                     socketless=None, extra_dict=None, **more):
            if isinstance(options, type) and issubclass(options, Enum):
                options = [member.value for member in options]
            if isinstance(default, Enum):
                default = default.value
            super().__init__(id, display_name, optional, tooltip, lazy, default, socketless, None, None, extra_dict,
                             **more)
            self.options = list(options) if options is not None else []
            self.multiselect = False
            self.control_after_generate, self.upload = control_after_generate, upload
            self.image_folder, self.remote = image_folder, remote

        def as_dict(self):
            extra = {self.upload.value: True} if isinstance(self.upload, UploadType) else {}
            return super().as_dict() | prune({
                "multiselect": self.multiselect or None, "options": self.options,
                "control_after_generate": self.control_after_generate,
                "image_folder": self.image_folder.value if isinstance(self.image_folder, Enum) else self.image_folder,
                "remote": self.remote.as_dict() if self.remote is not None else None}) | extra

    class Output(Output):
        def __init__(self, id=None, display_name=None, options=None, tooltip=None, is_output_list=False):
            super().__init__(id, display_name, tooltip, is_output_list)
            self.options = list(options) if options is not None else []

        @property
        def io_type(self):
            return self.options


@comfytype(io_type="COMBO")
class MultiCombo(ComfyTypeI):
    Type = list

    class Input(Combo.Input):
        def __init__(self, id, options, display_name=None, optional=False, tooltip=None, lazy=None, default=None,
                     placeholder=None, chip=None, control_after_generate=None, socketless=None, extra_dict=None,
                     **more):
            super().__init__(id, options, display_name, optional, tooltip, lazy, default, control_after_generate,
                             socketless=socketless, extra_dict=extra_dict, **more)
            self.multiselect, self.placeholder, self.chip = True, placeholder, chip

        def as_dict(self):
            return super().as_dict() | prune({"multi_select": True, "placeholder": self.placeholder,
                                              "chip": self.chip})


def _socket(name: str, io_type: str, type_hint: Any = Any):
    cls = type(name, (ComfyTypeIO,), {"Type": type_hint, "__module__": __name__, "__qualname__": name})
    return comfytype(io_type=io_type)(cls)


# Linked-only sockets, named as ComfyUI names them (io.Image, io.Model, ...)
Image = _socket("Image", "IMAGE", torch.Tensor)
Mask = _socket("Mask", "MASK", torch.Tensor)
Latent = _socket("Latent", "LATENT", dict)
Conditioning = _socket("Conditioning", "CONDITIONING", list)
Sampler = _socket("Sampler", "SAMPLER")
Sigmas = _socket("Sigmas", "SIGMAS", torch.Tensor)
Noise = _socket("Noise", "NOISE")
Guider = _socket("Guider", "GUIDER")
Clip = _socket("Clip", "CLIP")
ControlNet = _socket("ControlNet", "CONTROL_NET")
Vae = _socket("Vae", "VAE")
Model = _socket("Model", "MODEL")
ClipVision = _socket("ClipVision", "CLIP_VISION")
ClipVisionOutput = _socket("ClipVisionOutput", "CLIP_VISION_OUTPUT")
StyleModel = _socket("StyleModel", "STYLE_MODEL")
Gligen = _socket("Gligen", "GLIGEN")
UpscaleModel = _socket("UpscaleModel", "UPSCALE_MODEL")
Audio = _socket("Audio", "AUDIO", dict)
Video = _socket("Video", "VIDEO")
SVG = _socket("SVG", "SVG")
LoraModel = _socket("LoraModel", "LORA_MODEL", dict)
LossMap = _socket("LossMap", "LOSS_MAP", dict)
Voxel = _socket("Voxel", "VOXEL")
Mesh = _socket("Mesh", "MESH")
Hooks = _socket("Hooks", "HOOKS")
HookKeyframes = _socket("HookKeyframes", "HOOK_KEYFRAMES")
TimestepsRange = _socket("TimestepsRange", "TIMESTEPS_RANGE", tuple)
LatentOperation = _socket("LatentOperation", "LATENT_OPERATION", Callable)
FlowControl = _socket("FlowControl", "FLOW_CONTROL", tuple)
Accumulation = _socket("Accumulation", "ACCUMULATION", dict)
Load3DCamera = _socket("Load3DCamera", "LOAD3D_CAMERA", dict)
Load3D = _socket("Load3D", "LOAD_3D", dict)
Load3DAnimation = _socket("Load3DAnimation", "LOAD_3D_ANIMATION", dict)
Photomaker = _socket("Photomaker", "PHOTOMAKER")
Point = _socket("Point", "POINT")
FaceAnalysis = _socket("FaceAnalysis", "FACE_ANALYSIS")
BBOX = _socket("BBOX", "BBOX")
SEGS = _socket("SEGS", "SEGS")
AnyType = _socket("AnyType", "*")
MODEL_PATCH = _socket("MODEL_PATCH", "MODEL_PATCH")
AudioEncoder = _socket("AudioEncoder", "AUDIO_ENCODER")
AudioEncoderOutput = _socket("AudioEncoderOutput", "AUDIO_ENCODER_OUTPUT")
WanCameraEmbedding = _socket("WanCameraEmbedding", "WAN_CAMERA_EMBEDDING", torch.Tensor)
# names of later ComfyUI releases that packs on ComfyUI's main branch use
ModelPatch = MODEL_PATCH
LatentUpscaleModel = _socket("LatentUpscaleModel", "LATENT_UPSCALE_MODEL")
Tracks = _socket("Tracks", "TRACKS", dict)
Dict = _socket("Dict", "DICT", dict)
Array = _socket("Array", "ARRAY", list)
Histogram = _socket("Histogram", "HISTOGRAM", list)
BoundingBoxes = _socket("BoundingBoxes", "BOUNDING_BOXES", list)
Splat = _socket("Splat", "SPLAT")
BackgroundRemoval = _socket("BackgroundRemoval", "BACKGROUND_REMOVAL")


@comfytype(io_type="BOUNDING_BOX")
class BoundingBox(ComfyTypeIO):
    Type = dict

    class Input(WidgetInput):
        """A box {x, y, width, height}: a socketless widget unless force_input."""

        def __init__(self, id, display_name=None, optional=False, tooltip=None, socketless=True, default=None,
                     component=None, force_input=None, **more):
            default = default if default is not None else {"x": 0, "y": 0, "width": 512, "height": 512}
            super().__init__(id, display_name, optional, tooltip, None, default, socketless, None, force_input,
                             None, **more)
            self.component = component

        def as_dict(self):
            return super().as_dict() | prune({"component": self.component})


@comfytype(io_type="WEBCAM")
class Webcam(ComfyTypeIO):
    Type = str

    class Input(WidgetInput):
        pass


class MultiType:
    """An input accepting several types: ``io.MultiType.Input("x", types=[io.Image, io.Mask])``; passing a
    widget Input as ``id`` keeps its widget and adds the other types as socket types."""

    Type = Any

    class Input(Input):
        def __init__(self, id, types, display_name=None, optional=False, tooltip=None, lazy=None, extra_dict=None,
                     **more):
            self.input_override = None
            if isinstance(id, Input):
                self.input_override = id
                optional = optional or id.optional
                tooltip = id.tooltip if id.tooltip is not None else tooltip
                display_name = id.display_name if id.display_name is not None else display_name
                lazy = id.lazy if id.lazy is not None else lazy
                id = id.id
            super().__init__(id, display_name, optional, tooltip, lazy, extra_dict, **more)
            self._types = list(types)

        @property
        def io_types(self) -> list:
            return [t if isinstance(t, type) else type(t) for t in self._types]

        @property
        def io_type(self):
            return self.get_io_type()

        def get_io_type(self) -> str:
            names = [t.io_type for t in self.io_types]
            if self.input_override is not None:
                names.insert(0, self.input_override.get_io_type())
            return ",".join(dict.fromkeys(names))

        def as_dict(self):
            base = self.input_override.as_dict() if self.input_override is not None else {}
            return base | super().as_dict()
