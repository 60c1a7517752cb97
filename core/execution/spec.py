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

Plugins call built-ins by ComfyUI's method names (``nodes.KSampler().sample(...)``) and, for the
nodes ComfyUI rewrote in its V3 API, as classmethods (``ImageUpscaleWithModel.execute(m, img)[0]``).
``COMFY_FUNCTION = "sample"`` makes that name FUNCTION and another name of ``execute``;
``COMFY_V3 = True`` lets ``execute`` be called on the class too, returning a ``NodeOutput``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

MAX_RESOLUTION = 16384
MAX_SEED = 0xFFFFFFFFFFFFFFFF


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


class _HybridExecute:
    """``execute`` of a node that ComfyUI made a V3 node: an instance method for our executor, and a
    classmethod-style call on the class (``Cls.execute(...)``) that returns a NodeOutput as ComfyUI's does."""

    def __init__(self, fn):
        self.fn = fn
        self.__doc__ = getattr(fn, "__doc__", None)

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, obj, owner=None):
        if obj is not None:
            return self.fn.__get__(obj, owner)
        fn = self.fn

        def on_class(*args, **kwargs):
            from core.execution.node_output import NodeOutput

            out = fn(owner(), *args, **kwargs)
            if isinstance(out, dict):
                return NodeOutput(*(out.get("result") or ()), ui=out.get("ui"))
            return NodeOutput(*out)

        on_class.__name__ = getattr(fn, "__name__", "execute")
        on_class.__wrapped__ = fn
        return on_class


class Node:
    """Base for built-in nodes; subclasses declare INPUTS/OUTPUTS and implement ``execute``.

    ``COMFY_FUNCTION``: ComfyUI's name for the method (FUNCTION becomes it; ``execute`` stays a second
    name of the same function). ``COMFY_V3``: ComfyUI declares this node with its V3 API, so plugins
    may call ``Cls.execute(...)`` on the class.
    """

    INPUTS: tuple = ()
    OUTPUTS: tuple = ()
    HIDDEN: dict = {}
    CATEGORY = "sd"
    DISPLAY_NAME: str | None = None
    DESCRIPTION = ""
    FUNCTION = "execute"
    OUTPUT_NODE = False

    COMFY_FUNCTION: str | None = None
    COMFY_V3 = False

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        _comfy_names(cls)
        if "INPUTS" not in cls.__dict__ and "OUTPUTS" not in cls.__dict__ and "HIDDEN" not in cls.__dict__:
            return
        names = [spec.name for spec in cls.INPUTS]
        if len(set(names)) != len(names):
            raise TypeError(f"{cls.__name__}: duplicate input names in {names}")
        cls.RETURN_TYPES = tuple(o.type for o in cls.OUTPUTS)
        # Set only when they say something (as in ComfyUI's classes): a plugin subclass that changes
        # RETURN_TYPES must not inherit names or list flags sized for our outputs.
        _set_or_clear(cls, "RETURN_NAMES", tuple(o.name or o.type for o in cls.OUTPUTS),
                      any(o.name for o in cls.OUTPUTS))
        _set_or_clear(cls, "OUTPUT_IS_LIST", tuple(o.is_list for o in cls.OUTPUTS), any(o.is_list for o in cls.OUTPUTS))
        tooltips = [o.tooltip for o in cls.OUTPUTS]
        _set_or_clear(cls, "OUTPUT_TOOLTIPS", tuple(t or "" for t in tooltips), any(tooltips))

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


def _set_or_clear(cls, attr: str, value, meaningful: bool) -> None:
    if meaningful:
        setattr(cls, attr, value)
    elif hasattr(cls, attr):  # inherited from a built-in parent with other outputs
        setattr(cls, attr, None)


def _comfy_names(cls) -> None:
    """Give a node's own ``execute`` ComfyUI's method name (and class-call form) and point FUNCTION at it.

    Only a built-in declaration is touched (a class that itself sets COMFY_FUNCTION or COMFY_V3 and
    defines ``execute``), so a plugin subclass keeps its own FUNCTION and overrides
    (``class X(nodes.LoraLoader): def load_lora(...)`` still runs its ``load_lora``).
    """
    own = cls.__dict__.get("execute")
    declared = "COMFY_FUNCTION" in cls.__dict__ or "COMFY_V3" in cls.__dict__
    if own is None or not declared:
        return
    fn = own.fn if isinstance(own, _HybridExecute) else own
    if cls.COMFY_V3 and not isinstance(own, _HybridExecute):
        hybrid = _HybridExecute(fn)
        hybrid.name = "execute"
        cls.execute = hybrid
    name = cls.COMFY_FUNCTION
    if name and name != "execute":
        if name in cls.__dict__ and cls.__dict__[name] is not fn:
            raise TypeError(f"{cls.__name__}: COMFY_FUNCTION {name!r} is already another method")
        setattr(cls, name, fn)
        cls.FUNCTION = name
