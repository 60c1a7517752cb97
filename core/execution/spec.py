"""Typed, declare-once node inputs and outputs that generate ComfyUI's classic class interface.

A built-in node subclasses :class:`Node` and lists its inputs as spec objects::

    class EmptyLatentImage(Node):
        CATEGORY = "latent"
        DISPLAY_NAME = "Empty Latent Image"
        INPUTS = (Int("width", default=512, min=16, max=MAX_RESOLUTION, step=8), ...)
        OUTPUTS = (Output("LATENT"),)

        def execute(self, width, height, batch_size): ...

``__init_subclass__`` turns that into ``INPUT_TYPES``, ``RETURN_TYPES``, ``RETURN_NAMES``,
``OUTPUT_IS_LIST`` and ``FUNCTION``, so the classic interface (what plugins write by hand) is the
single contract the registry and executor see. Nothing is kept twice.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

MAX_RESOLUTION = 16384
MAX_SEED = 0xFFFFFFFFFFFFFFFF

# Widget types: inputs of these types get a widget (and a widgets_values slot) in the UI format.
WIDGET_TYPES = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"})


@dataclass(frozen=True, kw_only=True)
class _Input:
    name: str = field(kw_only=False)  # positional or keyword: Int("steps", default=20)
    optional: bool = False
    tooltip: str | None = None
    force_input: bool = False
    lazy: bool = False
    extra: dict = field(default_factory=dict)

    type_name = "*"

    def options(self) -> dict:
        opts: dict[str, Any] = {}
        if self.tooltip:
            opts["tooltip"] = self.tooltip
        if self.force_input:
            opts["forceInput"] = True
        if self.lazy:
            opts["lazy"] = True
        opts.update(self.extra)
        return opts

    def entry(self) -> tuple:
        opts = self.options()
        return (self.type_name, opts) if opts else (self.type_name,)


@dataclass(frozen=True, kw_only=True)
class Int(_Input):
    default: int = 0
    min: int | None = None
    max: int | None = None
    step: int | None = None
    control_after_generate: bool = False
    display: str | None = None
    type_name = "INT"

    def options(self) -> dict:
        opts = {"default": self.default}
        for key in ("min", "max", "step", "display"):
            if getattr(self, key) is not None:
                opts[key] = getattr(self, key)
        if self.control_after_generate:
            opts["control_after_generate"] = True
        opts.update(super().options())
        return opts


@dataclass(frozen=True, kw_only=True)
class Float(_Input):
    default: float = 0.0
    min: float | None = None
    max: float | None = None
    step: float | None = None
    round: float | bool | None = None
    display: str | None = None
    type_name = "FLOAT"

    def options(self) -> dict:
        opts = {"default": self.default}
        for key in ("min", "max", "step", "round", "display"):
            if getattr(self, key) is not None:
                opts[key] = getattr(self, key)
        opts.update(super().options())
        return opts


@dataclass(frozen=True, kw_only=True)
class String(_Input):
    default: str = ""
    multiline: bool = False
    dynamic_prompts: bool | None = None
    placeholder: str | None = None
    type_name = "STRING"

    def options(self) -> dict:
        opts: dict[str, Any] = {}
        if self.multiline:
            opts["multiline"] = True
        if self.dynamic_prompts is not None:
            opts["dynamicPrompts"] = self.dynamic_prompts
        opts["default"] = self.default
        if self.placeholder:
            opts["placeholder"] = self.placeholder
        opts.update(super().options())
        return opts


@dataclass(frozen=True, kw_only=True)
class Boolean(_Input):
    default: bool = False
    label_on: str | None = None
    label_off: str | None = None
    type_name = "BOOLEAN"

    def options(self) -> dict:
        opts: dict[str, Any] = {"default": self.default}
        if self.label_on:
            opts["label_on"] = self.label_on
        if self.label_off:
            opts["label_off"] = self.label_off
        opts.update(super().options())
        return opts


@dataclass(frozen=True, kw_only=True)
class Combo(_Input):
    """A choice from a list; ``choices`` may be a callable so model folders are rescanned per call."""

    choices: Sequence[str] | Callable[[], Sequence[str]] = ()
    default: str | None = None
    image_upload: bool = False

    def current_choices(self) -> list:
        choices = self.choices() if callable(self.choices) else self.choices
        return list(choices)

    def options(self) -> dict:
        opts: dict[str, Any] = {}
        if self.default is not None:
            opts["default"] = self.default
        if self.image_upload:
            opts["image_upload"] = True
        opts.update(super().options())
        return opts

    def entry(self) -> tuple:
        opts = self.options()
        choices = self.current_choices()
        return (choices, opts) if opts else (choices,)


@dataclass(frozen=True, kw_only=True)
class DynamicCombo(_Input):
    """A V3 dynamic combo: each choice brings its own inputs, which prompts send as ``name.child``.

    ``choices`` maps each key to a tuple of spec objects; the entry has ComfyUI's /object_info shape
    (``COMFY_DYNAMICCOMBO_V3`` with ``options: [{key, inputs}]``).
    """

    choices: dict = field(default_factory=dict)
    default: str | None = None
    type_name = "COMFY_DYNAMICCOMBO_V3"

    def options(self) -> dict:
        listed = []
        for key, specs in self.choices.items():
            inputs: dict = {"required": {s.name: s.entry() for s in specs if not s.optional}}
            optional = {s.name: s.entry() for s in specs if s.optional}
            if optional:
                inputs["optional"] = optional
            listed.append({"key": key, "inputs": inputs})
        opts: dict[str, Any] = {"options": listed}
        if self.default is not None:
            opts["default"] = self.default
        opts.update(super().options())
        return opts


@dataclass(frozen=True, kw_only=True)
class Socket(_Input):
    """A linked-only input of any non-widget type (MODEL, LATENT, CONDITIONING, ...)."""

    type: str = "*"

    @property
    def type_name(self):  # type: ignore[override]
        return self.type


def In(type_: str, name: str, **kw) -> Socket:
    """Shorthand: ``In("MODEL", "model")``."""
    return Socket(name, type=type_, **kw)


@dataclass(frozen=True)
class Output:
    type: str
    name: str | None = None
    is_list: bool = False
    tooltip: str | None = None


HIDDEN_PROMPT = "PROMPT"
HIDDEN_EXTRA_PNGINFO = "EXTRA_PNGINFO"
HIDDEN_UNIQUE_ID = "UNIQUE_ID"


class Node:
    """Base for built-in nodes; subclasses declare INPUTS/OUTPUTS and implement ``execute``."""

    INPUTS: tuple = ()
    OUTPUTS: tuple = ()
    HIDDEN: dict = {}
    CATEGORY = "sd"
    DISPLAY_NAME: str | None = None
    DESCRIPTION = ""
    FUNCTION = "execute"
    OUTPUT_NODE = False

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if "INPUTS" not in cls.__dict__ and "OUTPUTS" not in cls.__dict__ and "HIDDEN" not in cls.__dict__:
            return
        names = [spec.name for spec in cls.INPUTS]
        if len(set(names)) != len(names):
            raise TypeError(f"{cls.__name__}: duplicate input names in {names}")
        cls.RETURN_TYPES = tuple(o.type for o in cls.OUTPUTS)
        cls.RETURN_NAMES = tuple(o.name or o.type for o in cls.OUTPUTS)
        cls.OUTPUT_IS_LIST = tuple(o.is_list for o in cls.OUTPUTS)
        tooltips = [o.tooltip for o in cls.OUTPUTS]
        if any(tooltips):
            cls.OUTPUT_TOOLTIPS = tuple(t or "" for t in tooltips)

        specs, hidden = tuple(cls.INPUTS), dict(cls.HIDDEN)

        def input_types(klass):
            result: dict[str, dict] = {"required": {}}
            for spec in specs:
                section = "optional" if spec.optional else "required"
                result.setdefault(section, {})[spec.name] = spec.entry()
            if hidden:
                result["hidden"] = dict(hidden)
            return result

        cls.INPUT_TYPES = classmethod(input_types)

    @classmethod
    def input_spec(cls, name: str):
        for spec in cls.INPUTS:
            if spec.name == name:
                return spec
        raise KeyError(name)
