"""V3 dynamic inputs: ``io.DynamicCombo`` (a choice that brings its own inputs), ``io.Autogrow`` (a growing
row of like inputs), ``io.DynamicSlot`` (a socket that brings inputs when linked) and ``io.MatchType``
(sockets that take one of several types).

ComfyUI resolves dynamic inputs against the live prompt. We declare them statically instead: every
input an option or template can bring is an input named by its dotted path (``method.strength``,
``values.image0``), which is the key ComfyUI's frontend writes into API prompts. A DynamicCombo keeps
ComfyUI's /object_info shape (``COMFY_DYNAMICCOMBO_V3`` with ``options: [{key, inputs}]``) and
core.execution.graph declares its options' inputs as ``key.child``; Autogrow and DynamicSlot inputs are
listed flat. Before ``execute`` the dotted values are folded back into the nested dicts ComfyUI passes
(``method={"method": "rcas", "strength": 0.8}``). MatchType inputs accept the union of their allowed
types and MatchType outputs are ``*``.
"""
from __future__ import annotations

import copy

from ._types import AnyType, ComfyTypeI, ComfyTypeIO, Input, Output, WidgetInput, comfytype, prune


class DynamicInput(Input):
    """Base of inputs whose entries depend on other values (expanded by :func:`flatten`)."""


class DynamicOutput(Output):
    pass


@comfytype(io_type="COMFY_DYNAMICCOMBO_V3")
class DynamicCombo(ComfyTypeI):
    Type = dict

    class Option:
        def __init__(self, key: str, inputs: list):
            self.key, self.inputs = key, list(inputs)

    class Input(DynamicInput):
        def __init__(self, id, options, display_name=None, optional=False, tooltip=None, lazy=None, extra_dict=None,
                     **more):
            super().__init__(id, display_name, optional, tooltip, lazy, extra_dict, **more)
            self.options = list(options)

        def get_all(self) -> list:
            return [self] + [i for option in self.options for i in option.inputs]


@comfytype(io_type="COMFY_AUTOGROW_V3")
class Autogrow(ComfyTypeI):
    Type = dict

    class TemplatePrefix:
        """Inputs ``<prefix>0 .. <prefix>{max-1}``, the first ``min`` required."""

        def __init__(self, input, prefix: str, min: int = 1, max: int = 10):
            if not 0 <= min <= max <= 100:
                raise ValueError(f"Autogrow.TemplatePrefix: need 0 <= min <= max <= 100, got min={min} max={max}")
            self.input, self.min = input, min
            self.names = [f"{prefix}{i}" for i in range(max)]

    class TemplateNames:
        def __init__(self, input, names: list, min: int = 1):
            self.input, self.names, self.min = input, list(names)[:100], min

    class Input(DynamicInput):
        def __init__(self, id, template, display_name=None, optional=False, tooltip=None, lazy=None, extra_dict=None,
                     **more):
            super().__init__(id, display_name, optional, tooltip, lazy, extra_dict, **more)
            self.template = template

        def get_all(self) -> list:
            return [self]


@comfytype(io_type="COMFY_DYNAMICSLOT_V3")
class DynamicSlot(ComfyTypeI):
    Type = dict

    class Input(DynamicInput):
        """A socket; when it is linked, ``inputs`` join the node (values nested under the slot's id)."""

        def __init__(self, slot, inputs: list, display_name=None, tooltip=None, lazy=None, extra_dict=None, **more):
            self.slot = copy.copy(slot)
            super().__init__(slot.id, display_name or slot.display_name, True, tooltip or slot.tooltip,
                             lazy if lazy is not None else slot.lazy, extra_dict, **more)
            self.inputs = list(inputs)

        def get_all(self) -> list:
            return [self.slot] + self.inputs


@comfytype(io_type="COMFY_MATCHTYPE_V3")
class MatchType(ComfyTypeIO):
    class Template:
        def __init__(self, template_id: str, allowed_types=AnyType):
            if not isinstance(allowed_types, (list, tuple)):
                allowed_types = [allowed_types]
            self.template_id, self.allowed_types = template_id, list(allowed_types)

        def io_types(self) -> str:
            return ",".join(dict.fromkeys(t.io_type for t in self.allowed_types))

        def as_dict(self) -> dict:
            return {"template_id": self.template_id, "allowed_types": self.io_types()}

    class Input(Input):
        def __init__(self, id, template, display_name=None, optional=False, tooltip=None, lazy=None, extra_dict=None,
                     **more):
            super().__init__(id, display_name, optional, tooltip, lazy, extra_dict, **more)
            self.template = template

        def get_io_type(self) -> str:
            return self.template.io_types()

        def as_dict(self) -> dict:
            return super().as_dict() | {"template": self.template.as_dict()}

    class Output(Output):
        def __init__(self, template, id=None, display_name=None, tooltip=None, is_output_list=False, **_more):
            super().__init__(id, display_name or (None if id else "MATCHTYPE"), tooltip, is_output_list)
            self.template = template

        def get_io_type(self) -> str:
            return "*"  # resolved by what is linked; our validator accepts * anywhere


# --- the static expansion -------------------------------------------------------------------------

def _entry(inp, force_input: bool = False):
    opts = inp.as_dict()
    opts.pop("optional", None)
    if force_input and isinstance(inp, WidgetInput):
        opts["forceInput"] = True
    return inp.get_io_type(), opts


def _merge(into: dict, key: str, entry: tuple) -> None:
    """The same child id in several options: one entry; ranges that differ are dropped (any option's holds)."""
    if key not in into:
        into[key] = entry
        return
    old_type, old_opts = into[key]
    if old_opts != entry[1]:
        keep = {k: v for k, v in old_opts.items() if entry[1].get(k) == v}
        into[key] = (old_type, keep)


class Layout:
    """Where flattened dotted inputs go back to: value paths, autogrow groups (default {}), and for each
    DynamicCombo the inputs each option owns (the others are dropped, as ComfyUI never passes them)."""

    def __init__(self):
        self.paths: dict = {}  # dotted key -> path tuple
        self.groups: list = []  # path tuples of autogrow inputs
        self.combos: dict = {}  # path tuple of a combo -> {option key: set of its input ids}

    def __bool__(self) -> bool:
        return bool(self.paths or self.groups)


def flatten(inputs: list) -> tuple[dict, Layout]:
    """-> (classic {"required", "optional"} entries, the Layout that nests values for execute)."""
    layout = Layout()
    sections = _entries(inputs, (), layout, nested=False)
    return {k: v for k, v in sections.items() if v or k == "required"}, layout


def _entries(inputs, prefix: tuple, layout: Layout, nested: bool) -> dict:
    """Classic entries of ``inputs``, keyed relative to ``prefix`` (core.execution.graph prefixes a
    DynamicCombo's option inputs with the combo's key), while the Layout records full paths."""
    sections: dict = {"required": {}, "optional": {}}
    for inp in inputs:
        path = prefix + (inp.id,)
        section = "optional" if (inp.optional or nested) else "required"
        if isinstance(inp, DynamicCombo.Input):
            # ComfyUI's /object_info shape; core.execution.graph declares every option's inputs as
            # optional ``key.child`` entries, the flat keys prompts send them under
            options = [{"key": o.key, "inputs": _compact(_entries(o.inputs, path, layout, nested=False))}
                       for o in inp.options]
            opts = prune({"tooltip": inp.tooltip, "display_name": inp.display_name, "lazy": inp.lazy})
            sections[section][inp.id] = ("COMFY_DYNAMICCOMBO_V3", {**opts, "options": options})
            layout.paths[".".join(path)] = path + (inp.id,)
            layout.combos[path] = {o.key: {i.id for i in o.inputs} for o in inp.options}
            for option in inp.options:
                for child in option.inputs:
                    if not isinstance(child, DynamicInput):
                        layout.paths[".".join(path + (child.id,))] = path + (child.id,)
        elif isinstance(inp, Autogrow.Input):
            template = inp.template
            for i, name in enumerate(template.names):
                required = i < template.min and not template.input.optional and section == "required"
                _merge(sections["required" if required else "optional"], f"{inp.id}.{name}",
                       _entry(template.input, True))
                layout.paths[".".join(path + (name,))] = path + (name,)
            layout.groups.append(path)
        elif isinstance(inp, DynamicSlot.Input):
            _merge(sections["optional"], inp.id, _entry(inp.slot))
            layout.paths[".".join(path)] = path + (inp.id,)
            for key, entry in _entries(inp.inputs, path, layout, nested=True)["optional"].items():
                _merge(sections["optional"], f"{inp.id}.{key}", entry)
        else:
            _merge(sections[section], inp.id, _entry(inp))
            if prefix:
                layout.paths[".".join(path)] = path
    return sections


def _compact(sections: dict) -> dict:
    return {k: v for k, v in sections.items() if v or k == "required"}


def _at(root: dict, path: tuple, create: bool):
    node = root
    for part in path:
        if not isinstance(node, dict):
            return None
        if part not in node:
            if not create:
                return None
            node[part] = {}
        node = node[part]
    return node


def nest(kwargs: dict, layout: Layout) -> dict:
    """Fold dotted inputs into the nested dicts ComfyUI passes (``method={"method": key, ...}``)."""
    if not layout:
        return kwargs
    out = {k: v for k, v in kwargs.items() if k not in layout.paths}
    for key, path in layout.paths.items():
        if key in kwargs:
            _at(out, path[:-1], create=True)[path[-1]] = kwargs[key]
    for group in layout.groups:
        _at(out, group, create=True)
    for path, owned in layout.combos.items():
        node = _at(out, path, create=False)
        if isinstance(node, dict):
            keep = owned.get(node.get(path[-1]), set()) | {path[-1]}
            for name in [n for n in node if n not in keep]:
                del node[name]
    return out
