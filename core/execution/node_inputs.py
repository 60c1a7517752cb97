"""What a node's function receives: its declared inputs and the values of one run (docs/comfy-api.md §4.1, §5.4).

Every input becomes a list of values (one per list item). Linked inputs reach the function even when
the class does not declare them (``**kwargs`` nodes fed by links the frontend added); constants only
when declared. A ``rawLink`` input receives the link itself. Hidden inputs are filled in by kind.
"""
from __future__ import annotations

from core.execution.graph import declared_inputs, is_link, unwrap_value

HIDDEN_KINDS = ("PROMPT", "DYNPROMPT", "EXTRA_PNGINFO", "UNIQUE_ID", "AUTH_TOKEN_COMFY_ORG", "API_KEY_COMFY_ORG")


def class_inputs(input_types: dict) -> tuple:
    """``(declared, hidden)``: ``{name: (section, type, options)}`` and the raw hidden dict.

    Hidden inputs declared with a type (``("*",)``) rather than a kind take values like optional ones.
    """
    hidden = dict(input_types.get("hidden") or {})
    declared = declared_inputs(input_types)
    for name, entry in hidden.items():
        if isinstance(entry, (list, tuple)) and name not in declared:
            declared[name] = ("hidden", entry[0] if entry else "*",
                              entry[1] if len(entry) > 1 and isinstance(entry[1], dict) else {})
    return declared, hidden


def gather(node_id, node, declared, hidden, values, dyn, extra_data, allow_missing=False) -> dict:
    """``{name: [value, ...]}`` for one call of ``node``; a lazy input not evaluated yet is ``[None]``."""
    kwargs = {}
    for name, value in node["inputs"].items():
        opts = declared[name][2] if name in declared else {}
        if is_link(value) and not opts.get("rawLink"):
            src = str(value[0])
            if src not in values:
                if allow_missing or opts.get("lazy"):
                    kwargs[name] = [None]
                    continue
                raise KeyError(f"input {name!r} of node #{node_id} needs node #{src}, which did not run")
            outputs = values[src]
            if not 0 <= value[1] < len(outputs):
                raise IndexError(f"input {name!r} of node #{node_id}: node #{src} has no output {value[1]}")
            kwargs[name] = outputs[value[1]]
        elif name in declared:
            kwargs[name] = [unwrap_value(value)]
    for name, kind in hidden.items():
        if not isinstance(kind, str) or kind not in HIDDEN_KINDS:
            continue
        if kind == "PROMPT":
            kwargs[name] = [dyn.original_prompt]
        elif kind == "DYNPROMPT":
            kwargs[name] = [dyn]
        elif kind == "EXTRA_PNGINFO":
            kwargs[name] = [extra_data.get("extra_pnginfo")]
        elif kind == "UNIQUE_ID":
            kwargs[name] = [node_id]
        else:  # AUTH_TOKEN_COMFY_ORG, API_KEY_COMFY_ORG from extra_data
            kwargs[name] = [extra_data.get(kind.lower())]
    return kwargs
