"""V3 nodes (``io.ComfyNode``) as classic nodes: the schema a node declares becomes ``INPUT_TYPES``,
``RETURN_TYPES``, ``FUNCTION`` ... (ComfyUI's names), so the registry, validator, executor and
/object_info take V3 nodes exactly like classic ones; there is no second execution path.

``FUNCTION`` is ``EXECUTE_NORMALIZED`` (as in ComfyUI). Ours strips the hidden inputs into
``cls.hidden`` (on a per-call subclass, so concurrent calls never share it), calls ``execute``,
and returns the classic shape — a tuple, or ``{"result", "ui", "expand"}`` — that the executor knows.
"""
from __future__ import annotations

import inspect
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from core.execution.node_call import ExecutionBlocker
from core.execution.node_output import NodeOutput

from ._dynamic import flatten, nest


class classproperty:  # noqa: N801 (ComfyUI's name)
    """A read-only property of the class (``Node.RETURN_TYPES``)."""

    def __init__(self, fget):
        self.fget = fget

    def __get__(self, obj, owner=None):
        return self.fget(owner if owner is not None else type(obj))


class Hidden(str, Enum):
    """Values a node asks the executor for without an input socket."""

    unique_id = "UNIQUE_ID"
    prompt = "PROMPT"
    extra_pnginfo = "EXTRA_PNGINFO"
    dynprompt = "DYNPROMPT"
    auth_token_comfy_org = "AUTH_TOKEN_COMFY_ORG"
    api_key_comfy_org = "API_KEY_COMFY_ORG"


class HiddenHolder:
    """``cls.hidden`` inside ``execute``: the hidden values of this call; names not requested read as None."""

    def __init__(self, unique_id=None, prompt=None, extra_pnginfo=None, dynprompt=None, auth_token_comfy_org=None,
                 api_key_comfy_org=None, **_extra):
        self.unique_id, self.prompt, self.extra_pnginfo = unique_id, prompt, extra_pnginfo
        self.dynprompt = dynprompt
        self.auth_token_comfy_org, self.api_key_comfy_org = auth_token_comfy_org, api_key_comfy_org

    def __getattr__(self, key):
        return None

    @classmethod
    def from_dict(cls, d: dict | None) -> "HiddenHolder":
        d = d or {}
        return cls(**{h.name: d.get(h.value, d.get(h.name)) for h in Hidden})


@dataclass
class Schema:
    """What a V3 node declares in ``define_schema``."""

    node_id: str
    display_name: str | None = None
    category: str = "sd"
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    hidden: list = field(default_factory=list)
    description: str = ""
    is_input_list: bool = False
    is_output_node: bool = False
    is_deprecated: bool = False
    is_experimental: bool = False
    is_api_node: bool = False
    not_idempotent: bool = False
    enable_expand: bool = False
    # fields of later ComfyUI releases; kept so their schemas construct (and shown where /object_info has them)
    search_aliases: list = field(default_factory=list)
    is_dev_only: bool = False
    price_badge: Any = None
    accept_all_inputs: bool = False
    essentials_category: str | None = None
    has_intermediate_output: bool = False
    loop_boundary: str | None = None

    def validate(self) -> None:
        """Input and output ids must be unique, within and across the two lists."""
        ins = [i.id for i in self.inputs or []]
        outs = [o.id for o in self.outputs or [] if o.id is not None]
        problems = []
        for kind, ids in (("Input", ins), ("Output", outs)):
            dup = [i for i, n in Counter(ids).items() if n > 1]
            if dup:
                problems.append(f"{kind} ids must be unique, but {dup} are not")
        both = set(ins) & set(outs)
        if both:
            problems.append(f"ids must be unique between inputs and outputs, but {sorted(both)} are not")
        if problems:
            raise ValueError(f"V3 node {self.node_id!r}: " + "; ".join(problems))

    def finalize(self) -> "Schema":
        """Hidden inputs implied by flags (output nodes get prompt + extra_pnginfo); default output ids."""
        self.inputs, self.outputs = list(self.inputs or []), list(self.outputs or [])
        self.hidden = list(self.hidden or [])
        wanted = []
        if self.is_output_node:
            wanted += [Hidden.prompt, Hidden.extra_pnginfo]
        if self.is_api_node:
            wanted += [Hidden.auth_token_comfy_org, Hidden.api_key_comfy_org]
        for h in wanted:
            if h not in self.hidden:
                self.hidden.append(h)
        for i, out in enumerate(self.outputs):
            if out.id is None:
                out.id = f"_{i}_{out.io_type}_"
        return self

    def input_types(self) -> dict:
        """The classic INPUT_TYPES dict. Hidden entries map name -> kind string, which our executor reads."""
        result, _layout = flatten(self.inputs)
        if self.hidden:
            result["hidden"] = {Hidden(h).name: Hidden(h).value for h in self.hidden}
        return result

    def layout(self):
        """How dotted dynamic-input values nest back for execute (see _dynamic.py)."""
        return flatten(self.inputs)[1]


def _overrides(cls, name: str) -> bool:
    """True when a class between ``cls`` and ComfyNode defines ``name`` itself."""
    for klass in cls.__mro__:
        if klass is ComfyNode:
            return False
        if name in klass.__dict__:
            return True
    return False


def _normalize(cls, value, n_outputs: int):
    if value is None:
        value = NodeOutput()
    elif isinstance(value, tuple):
        value = NodeOutput(*value)
    elif isinstance(value, dict):
        value = NodeOutput.from_dict(value)
    elif isinstance(value, ExecutionBlocker):
        value = NodeOutput(block_execution=value.message)
    elif not isinstance(value, NodeOutput):
        raise TypeError(f"{cls.__name__}.execute returned {type(value).__name__}; expected io.NodeOutput")
    if value.expand is not None and not cls.GET_SCHEMA().enable_expand:
        raise TypeError(f"{cls.__name__}.execute returned an expand graph but its Schema does not set "
                        "enable_expand=True")
    return value.to_classic(n_outputs)


class ComfyNode:
    """Base of V3 nodes: subclasses implement classmethods ``define_schema`` and ``execute``."""

    RELATIVE_PYTHON_MODULE = None
    hidden: HiddenHolder = HiddenHolder()
    resources = None

    @classmethod
    def define_schema(cls) -> Schema:
        raise NotImplementedError(f"{cls.__name__} defines no define_schema()")

    @classmethod
    def execute(cls, **kwargs) -> NodeOutput:
        raise NotImplementedError(f"{cls.__name__} defines no execute()")

    @classmethod
    def validate_inputs(cls, **kwargs):
        raise NotImplementedError

    @classmethod
    def fingerprint_inputs(cls, **kwargs):
        raise NotImplementedError

    @classmethod
    def check_lazy_status(cls, **kwargs) -> list:
        """Default: ask for every lazy input not yet evaluated."""
        return [name for name, value in kwargs.items() if value is None]

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if cls.__dict__.get("_call_clone"):
            return
        cls._schema_cache = None
        # The classic hooks exist only when the node overrides their V3 counterparts, as in ComfyUI.
        if _overrides(cls, "fingerprint_inputs"):
            cls.IS_CHANGED = cls.fingerprint_inputs
        if _overrides(cls, "validate_inputs"):
            cls.VALIDATE_INPUTS = cls.validate_inputs
        own_lazy = cls.__dict__.get("check_lazy_status")
        if isinstance(own_lazy, classmethod) and not getattr(own_lazy.__func__, "_strips_hidden", False):
            cls.check_lazy_status = classmethod(_strip_hidden(own_lazy.__func__))

    def __init__(self):
        type(self).VALIDATE_CLASS()

    # --- schema ----------------------------------------------------------------------------------
    @classmethod
    def VALIDATE_CLASS(cls):  # noqa: N802
        if not _overrides(cls, "define_schema"):
            raise TypeError(f"V3 node class {cls.__name__} defines no define_schema()")
        if not _overrides(cls, "execute"):
            raise TypeError(f"V3 node class {cls.__name__} defines no execute()")

    @classmethod
    def FINALIZE_SCHEMA(cls) -> Schema:  # noqa: N802
        schema = cls.define_schema()
        if not isinstance(schema, Schema):
            raise TypeError(f"{cls.__name__}.define_schema() returned {type(schema).__name__}, not io.Schema")
        return schema.finalize()

    @classmethod
    def GET_SCHEMA(cls) -> Schema:  # noqa: N802
        """The finalized, validated schema; kept per class for the class attributes (INPUT_TYPES re-reads it)."""
        cached = cls.__dict__.get("_schema_cache")
        if cached is None:
            cls.VALIDATE_CLASS()
            cached = cls.FINALIZE_SCHEMA()
            cached.validate()
            cls._schema_cache = cached
        return cached

    @classproperty
    def SCHEMA(cls):  # noqa: N802
        return cls.GET_SCHEMA()

    @classmethod
    def INPUT_TYPES(cls, include_hidden=True, return_schema=False):  # noqa: N802
        # define_schema is called each time: combo options may list files that change while we run
        schema = cls.FINALIZE_SCHEMA()
        types = schema.input_types()
        if not include_hidden:
            types.pop("hidden", None)
        return (types, schema) if return_schema else types

    @classproperty
    def RETURN_TYPES(cls):  # noqa: N802
        return tuple(o.get_io_type() for o in cls.GET_SCHEMA().outputs)

    @classproperty
    def RETURN_NAMES(cls):  # noqa: N802
        return tuple(o.display_name or (o.io_type if isinstance(o.io_type, str) else "COMBO")
                     for o in cls.GET_SCHEMA().outputs)

    @classproperty
    def OUTPUT_IS_LIST(cls):  # noqa: N802
        return tuple(bool(o.is_output_list) for o in cls.GET_SCHEMA().outputs)

    @classproperty
    def OUTPUT_TOOLTIPS(cls):  # noqa: N802
        return tuple(o.tooltip for o in cls.GET_SCHEMA().outputs)

    @classproperty
    def CATEGORY(cls):  # noqa: N802
        return cls.GET_SCHEMA().category

    @classproperty
    def DISPLAY_NAME(cls):  # noqa: N802
        return cls.GET_SCHEMA().display_name

    @classproperty
    def DESCRIPTION(cls):  # noqa: N802
        return cls.GET_SCHEMA().description

    @classproperty
    def OUTPUT_NODE(cls):  # noqa: N802
        return cls.GET_SCHEMA().is_output_node

    @classproperty
    def INPUT_IS_LIST(cls):  # noqa: N802
        return cls.GET_SCHEMA().is_input_list

    @classproperty
    def NOT_IDEMPOTENT(cls):  # noqa: N802
        return cls.GET_SCHEMA().not_idempotent

    @classproperty
    def DEPRECATED(cls):  # noqa: N802
        return cls.GET_SCHEMA().is_deprecated

    @classproperty
    def EXPERIMENTAL(cls):  # noqa: N802
        return cls.GET_SCHEMA().is_experimental

    @classproperty
    def API_NODE(cls):  # noqa: N802
        return cls.GET_SCHEMA().is_api_node

    @classproperty
    def DEV_ONLY(cls):  # noqa: N802
        return cls.GET_SCHEMA().is_dev_only

    @classproperty
    def SEARCH_ALIASES(cls):  # noqa: N802
        return list(cls.GET_SCHEMA().search_aliases or [])

    @classproperty
    def ESSENTIALS_CATEGORY(cls):  # noqa: N802
        return cls.GET_SCHEMA().essentials_category

    @classproperty
    def HAS_INTERMEDIATE_OUTPUT(cls):  # noqa: N802
        return cls.GET_SCHEMA().has_intermediate_output

    @classproperty
    def FUNCTION(cls):  # noqa: N802
        return "EXECUTE_NORMALIZED_ASYNC" if inspect.iscoroutinefunction(cls.execute) else "EXECUTE_NORMALIZED"

    # --- running -----------------------------------------------------------------------------------
    @classmethod
    def PREPARE_CLASS_CLONE(cls, hidden_inputs: dict):  # noqa: N802
        """A per-call subclass whose ``hidden`` holds this call's hidden values."""
        return type(cls.__name__, (cls,), {"hidden": HiddenHolder.from_dict(hidden_inputs), "_call_clone": True,
                                           "__module__": cls.__module__, "_schema_cache": cls.GET_SCHEMA()})

    @classmethod
    def _split_hidden(cls, kwargs: dict):
        """(per-call class holding the hidden values, the inputs with dynamic values nested)."""
        schema = cls.GET_SCHEMA()
        names = {Hidden(h).name: Hidden(h).value for h in schema.hidden}
        hidden = {names[k]: kwargs.pop(k) for k in list(kwargs) if k in names}
        return cls.PREPARE_CLASS_CLONE(hidden), nest(kwargs, schema.layout())

    @classmethod
    def EXECUTE_NORMALIZED(cls, **kwargs):  # noqa: N802
        clone, inputs = cls._split_hidden(dict(kwargs))
        n_outputs = len(cls.RETURN_TYPES)
        value = clone.execute(**inputs)
        if inspect.isawaitable(value):
            async def finish():
                return _normalize(cls, await value, n_outputs)
            return finish()
        return _normalize(cls, value, n_outputs)

    EXECUTE_NORMALIZED_ASYNC = EXECUTE_NORMALIZED  # the executor awaits what comes back


def _strip_hidden(func):
    """Wrap a node's own check_lazy_status so it gets its inputs only; hidden values go to cls.hidden."""

    def check_lazy_status(cls, **kwargs):
        clone, inputs = cls._split_hidden(dict(kwargs))
        return func(clone, **inputs)

    check_lazy_status._strips_hidden = True
    check_lazy_status.__wrapped__ = func
    check_lazy_status.__doc__ = func.__doc__
    return check_lazy_status


__all__ = ["classproperty", "Hidden", "HiddenHolder", "Schema", "ComfyNode", "NodeOutput"]
