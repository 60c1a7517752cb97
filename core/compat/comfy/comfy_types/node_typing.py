"""``comfy.comfy_types.node_typing``: type names and typing helpers for classic node classes."""
from __future__ import annotations

from abc import ABC, abstractmethod
from enum import Enum
from typing import Literal, NotRequired, Optional, TypedDict


class StrEnum(str, Enum):
    def __str__(self) -> str:
        return self.value


class IO(StrEnum):
    """Socket type names. ``ANY`` ("*") matches every type; comma-separated names are unions."""

    STRING = "STRING"
    IMAGE = "IMAGE"
    MASK = "MASK"
    LATENT = "LATENT"
    BOOLEAN = "BOOLEAN"
    INT = "INT"
    FLOAT = "FLOAT"
    COMBO = "COMBO"
    CONDITIONING = "CONDITIONING"
    SAMPLER = "SAMPLER"
    SIGMAS = "SIGMAS"
    GUIDER = "GUIDER"
    NOISE = "NOISE"
    CLIP = "CLIP"
    CONTROL_NET = "CONTROL_NET"
    VAE = "VAE"
    MODEL = "MODEL"
    LORA_MODEL = "LORA_MODEL"
    LOSS_MAP = "LOSS_MAP"
    CLIP_VISION = "CLIP_VISION"
    CLIP_VISION_OUTPUT = "CLIP_VISION_OUTPUT"
    STYLE_MODEL = "STYLE_MODEL"
    GLIGEN = "GLIGEN"
    UPSCALE_MODEL = "UPSCALE_MODEL"
    AUDIO = "AUDIO"
    WEBCAM = "WEBCAM"
    POINT = "POINT"
    FACE_ANALYSIS = "FACE_ANALYSIS"
    BBOX = "BBOX"
    SEGS = "SEGS"
    VIDEO = "VIDEO"
    ANY = "*"
    NUMBER = "FLOAT,INT"
    PRIMITIVE = "STRING,FLOAT,INT,BOOLEAN"

    def __ne__(self, value: object) -> bool:
        """Frontend-style matching: "*" matches anything; unions match when one contains the other."""
        if self == "*" or value == "*":
            return False
        if not isinstance(value, str):
            return True
        mine, theirs = frozenset(self.split(",")), frozenset(value.split(","))
        return not (mine <= theirs or theirs <= mine)

    __hash__ = str.__hash__


class RemoteInputOptions(TypedDict):
    route: str
    refresh_button: bool
    control_after_refresh: Literal["first", "last"]
    timeout: int
    max_retries: int
    refresh: int


class MultiSelectOptions(TypedDict):
    placeholder: NotRequired[str]
    chip: NotRequired[bool]


class InputTypeOptions(TypedDict):
    default: NotRequired[bool | str | float | int | list | tuple]
    defaultInput: NotRequired[bool]
    forceInput: NotRequired[bool]
    lazy: NotRequired[bool]
    rawLink: NotRequired[bool]
    tooltip: NotRequired[str]
    socketless: NotRequired[bool]
    widgetType: NotRequired[str]
    min: NotRequired[float]
    max: NotRequired[float]
    step: NotRequired[float]
    round: NotRequired[float]
    label_on: NotRequired[str]
    label_off: NotRequired[str]
    multiline: NotRequired[bool]
    placeholder: NotRequired[str]
    dynamicPrompts: NotRequired[bool]
    image_upload: NotRequired[bool]
    image_folder: NotRequired[Literal["input", "output", "temp"]]
    remote: NotRequired[RemoteInputOptions]
    control_after_generate: NotRequired[bool]
    options: NotRequired[list[str | int | float]]
    multi_select: NotRequired[MultiSelectOptions]


class HiddenInputTypeDict(TypedDict):
    node_id: NotRequired[Literal["UNIQUE_ID"]]
    unique_id: NotRequired[Literal["UNIQUE_ID"]]
    prompt: NotRequired[Literal["PROMPT"]]
    extra_pnginfo: NotRequired[Literal["EXTRA_PNGINFO"]]
    dynprompt: NotRequired[Literal["DYNPROMPT"]]


class InputTypeDict(TypedDict):
    required: NotRequired[dict[str, tuple[IO, InputTypeOptions]]]
    optional: NotRequired[dict[str, tuple[IO, InputTypeOptions]]]
    hidden: NotRequired[HiddenInputTypeDict]


class ComfyNodeABC(ABC):
    """Base class a classic node may derive from; the executor reads the same class attributes."""

    DESCRIPTION: str
    CATEGORY: str
    EXPERIMENTAL: bool
    DEPRECATED: bool
    API_NODE: Optional[bool]
    OUTPUT_NODE: bool
    INPUT_IS_LIST: bool
    OUTPUT_IS_LIST: tuple[bool, ...]
    RETURN_TYPES: tuple[IO, ...]
    RETURN_NAMES: tuple[str, ...]
    OUTPUT_TOOLTIPS: tuple[str, ...]
    FUNCTION: str

    @classmethod
    @abstractmethod
    def INPUT_TYPES(cls) -> InputTypeDict:  # noqa: N802 (the interface's name)
        """The node's inputs: ``{"required": {...}, "optional": {...}, "hidden": {...}}``."""


class CheckLazyMixin:
    """``check_lazy_status`` asking for every lazy input that has not been evaluated yet."""

    def check_lazy_status(self, **kwargs) -> list[str]:
        return [name for name, value in kwargs.items() if value is None]


class FileLocator(TypedDict):
    filename: str
    subfolder: str
    type: Literal["input", "output", "temp"]
