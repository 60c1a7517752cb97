"""Widget layout of a node as the official frontend builds it, and its dynamic-prompt serializer.

The UI format stores widget values by position (``widgets_values``), so turning a saved node back
into named inputs needs the exact widget list the frontend would create from ``/object_info``
(docs/comfy-api.md §3.4): one widget per widget-type input in ``input_order`` (required, then optional),
plus the extra UI-only widgets that occupy a slot but are not sent to the server.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

# Input types that get a widget (and a widgets_values slot); web/graph/catalogue.js holds the same set.
WIDGET_TYPES = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"})
# Old frontends gave these INT inputs a control_after_generate combo even without the option.
LEGACY_SEED_NAMES = frozenset({"seed", "noise_seed"})

_MISSING = object()


@dataclass
class Widget:
    """One widget slot of a node: ``serialize`` False for UI-only slots (seed control, upload button)."""

    name: str
    type: str
    options: dict
    serialize: bool = True
    dynamic_prompts: bool = False

    def default(self) -> Any:
        """The value a freshly created widget holds (frontend defaults), or _MISSING for none."""
        if not self.serialize:
            return _MISSING
        opts = self.options
        if "default" in opts:
            return opts["default"]
        if self.type == "COMBO":
            choices = opts.get("options") or []
            return choices[0] if choices else _MISSING
        if self.type in ("INT", "FLOAT"):
            return opts.get("min", 0)
        if self.type == "STRING":
            return ""
        if self.type == "BOOLEAN":
            return False
        return _MISSING


def _split_entry(entry) -> tuple[Any, dict]:
    if isinstance(entry, (list, tuple)):
        type_ = entry[0] if entry else "*"
        opts = entry[1] if len(entry) > 1 and isinstance(entry[1], dict) else {}
        return type_, opts
    return entry, {}


def widget_kind(type_, opts: dict) -> str | None:
    """The widget type an input gets, or None when it is a socket only."""
    if opts.get("forceInput") or opts.get("defaultInput"):
        return None
    if isinstance(type_, (list, tuple)):
        return "COMBO"
    if isinstance(type_, str) and type_ in WIDGET_TYPES:
        return type_
    return None


DYNAMIC_COMBO = "COMFY_DYNAMICCOMBO_V3"


def node_widgets(info: dict, stored=None) -> list[Widget]:
    """The widget slots of one object_info entry, in ``widgets_values`` order.

    A V3 dynamic combo is followed by the widgets of its selected option (``name.child``), so the
    layout depends on the value stored in its slot (``stored``: the node's ``widgets_values``).
    """
    inputs = info.get("input") or {}
    order = info.get("input_order") or {}
    widgets: list[Widget] = []
    for section in ("required", "optional"):
        specs = inputs.get(section) or {}
        names = order.get(section) or list(specs)
        for name in names:
            if name in specs:
                _add_widgets(widgets, name, specs[name], stored)
    return widgets


def _add_widgets(widgets: list, name: str, entry, stored) -> None:
    type_, opts = _split_entry(entry)
    if type_ == DYNAMIC_COMBO:
        choices = [o.get("key") for o in opts.get("options") or [] if isinstance(o, dict)]
        widget = Widget(name, "COMBO", {**opts, "options": choices})
        index = len(widgets)
        widgets.append(widget)
        selected = stored[index] if isinstance(stored, list) and index < len(stored) else widget.default()
        for option in opts.get("options") or []:
            if isinstance(option, dict) and option.get("key") == selected:
                for section in ("required", "optional"):
                    for child, child_entry in ((option.get("inputs") or {}).get(section) or {}).items():
                        _add_widgets(widgets, f"{name}.{child}", child_entry, stored)
        return
    kind = widget_kind(type_, opts)
    if kind is None:
        return
    if isinstance(type_, (list, tuple)):
        opts = {**opts, "options": list(type_)}
    widgets.append(Widget(name, kind, opts, dynamic_prompts=kind == "STRING" and bool(opts.get("dynamicPrompts"))))
    control = opts.get("control_after_generate")
    if control is None:
        control = kind == "INT" and name.rsplit(".", 1)[-1] in LEGACY_SEED_NAMES
    if control:
        widgets.append(Widget("control_after_generate", "COMBO", {}, serialize=False))
    if kind == "COMBO" and opts.get("image_upload"):
        widgets.append(Widget("upload", "BUTTON", {}, serialize=False))


def widget_values(widgets: list[Widget], stored) -> dict[str, Any]:
    """Map stored ``widgets_values`` (list, dict or missing) onto named widget values.

    Slots beyond the known widgets are ignored; missing slots keep the widget default; widgets with
    no default and no stored value are left out (the frontend would send ``undefined``, which JSON
    drops).
    """
    values: dict[str, Any] = {}
    for index, widget in enumerate(widgets):
        if not widget.serialize:
            continue
        value = _MISSING
        if isinstance(stored, list) and index < len(stored):
            value = stored[index]
        elif isinstance(stored, dict) and widget.name in stored:
            value = stored[widget.name]
        if value is _MISSING:
            value = widget.default()
        if value is not _MISSING:
            values[widget.name] = value
    return values


# --- dynamic prompts ---------------------------------------------------------------------------
# Comments as the frontend strips them: JavaScript's "." excludes \n, \r, U+2028 and U+2029.
_COMMENTS = re.compile(r"/\*[\s\S]*?\*/|//[^\n\r\u2028\u2029]*")
_ESCAPED = re.compile(r"\\([{}|])")


def process_dynamic_prompt(text: str, rng: random.Random | None = None) -> str:
    """Strip C-style comments and replace each ``{a|b|c}`` by one random option (nested allowed).

    Same grammar as the official frontend's dynamic prompts, and the same algorithm as the canvas's
    web/graph/dynamic_prompt.js (tests/workflow/test_workflow_js_agrees.py runs both on the same
    cases): a backslash keeps the next character literal while parsing, and ``\\{``, ``\\}``, ``\\|``
    lose their backslash at the end. An option is picked as ``floor(rng.random() * n)``, as the
    frontend does with Math.random, so the same random numbers pick the same options.
    """
    rng = rng or random.Random()
    return _expand(_COMMENTS.sub("", text), rng)


def _expand(text: str, rng: random.Random) -> str:
    pos = 0
    out: list[str] = []

    def escape() -> str:
        nonlocal pos
        # A trailing backslash reads past the end; the frontend then appends "undefined".
        nxt = text[pos] if pos < len(text) else "undefined"
        pos += 1
        return "\\" + nxt

    def choice_block() -> str:
        nonlocal pos
        options, current, depth = [], [], 0
        while pos < len(text):
            char = text[pos]
            pos += 1
            if char == "\\":
                current.append(escape())
                continue
            if char == "{":
                depth += 1
            elif char == "}":
                if not depth:
                    break
                depth -= 1
            elif char == "|" and not depth:
                options.append("".join(current))
                current = []
                continue
            current.append(char)
        options.append("".join(current))
        # The frontend re-runs the whole processor (comment stripping included) on the chosen option.
        return process_dynamic_prompt(options[int(rng.random() * len(options))], rng)

    while pos < len(text):
        char = text[pos]
        pos += 1
        if char == "\\":
            out.append(escape())
        elif char == "{":
            out.append(choice_block())
        else:
            out.append(char)
    return _ESCAPED.sub(r"\1", "".join(out))
