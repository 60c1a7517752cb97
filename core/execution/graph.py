"""Helpers over the API ("prompt") format: links, input declarations, type matching, cycles."""
from __future__ import annotations


def is_link(value) -> bool:
    """An input value ``[node_id, output_index]`` (docs/comfy-api.md §3.1)."""
    return (isinstance(value, (list, tuple)) and len(value) == 2
            and isinstance(value[0], (str, int)) and not isinstance(value[0], bool)
            and isinstance(value[1], int) and not isinstance(value[1], bool))


def unwrap_value(value):
    """Constants that are lists travel as ``{"__value__": [...]}``."""
    if isinstance(value, dict) and set(value) == {"__value__"}:
        return value["__value__"]
    return value


DYNAMIC_COMBO = "COMFY_DYNAMICCOMBO_V3"


def _split(entry) -> tuple:
    if isinstance(entry, (list, tuple)):
        return (entry[0] if entry else "*"), (entry[1] if len(entry) > 1 and isinstance(entry[1], dict) else {})
    return entry, {}


def declared_inputs(input_types: dict) -> dict:
    """``{name: (section, type, options)}`` over required then optional inputs, in order.

    A V3 dynamic combo (``COMFY_DYNAMICCOMBO_V3``, its options each carrying inputs) also declares
    every option's inputs as optional ``name.child`` entries: the flat keys a prompt sends them under.
    """
    out = {}
    for section in ("required", "optional"):
        for name, entry in (input_types.get(section) or {}).items():
            type_, opts = _split(entry)
            out[name] = (section, type_, opts)
            if type_ == DYNAMIC_COMBO:
                _dynamic_children(name, opts, out)
    return out


def _dynamic_children(name: str, opts: dict, out: dict) -> None:
    for option in opts.get("options") or []:
        if not isinstance(option, dict):
            continue
        for section in ("required", "optional"):
            for child, entry in ((option.get("inputs") or {}).get(section) or {}).items():
                key = f"{name}.{child}"
                type_, child_opts = _split(entry)
                known = out.get(key)
                if known and isinstance(known[1], (list, tuple)) and isinstance(type_, (list, tuple)):
                    # the same child in several options with other choices: any of them is valid
                    type_ = list(dict.fromkeys([*known[1], *type_]))
                elif known:
                    continue
                out[key] = ("optional", type_, child_opts)
                if type_ == DYNAMIC_COMBO:
                    _dynamic_children(key, child_opts, out)


def type_name(type_) -> str:
    """Combo inputs are declared as a list of choices; their type name is COMBO."""
    return "COMBO" if isinstance(type_, (list, tuple)) else str(type_)


def types_match(received, expected) -> bool:
    """Reference §5.2: equal, '*' either side, or any overlap of comma-separated unions."""
    if isinstance(received, (list, tuple)):
        received = "COMBO"
    expected = type_name(expected)
    received = str(received)
    if received == expected or received == "*" or expected == "*":
        return True
    return bool(set(received.split(",")) & set(expected.split(",")))


def node_links(node: dict):
    """Yield ``(input_name, source_id, slot)`` for every linked input of an API node."""
    for name, value in (node.get("inputs") or {}).items():
        if is_link(value):
            yield name, str(value[0]), value[1]


def find_cycle(prompt: dict, starts) -> list | None:
    """Return node ids forming a dependency cycle reachable from ``starts``, or None (iterative DFS)."""
    WHITE, GREY, BLACK = 0, 1, 2
    color: dict = {}
    for start in starts:
        if color.get(start, WHITE) != WHITE:
            continue
        stack = [(start, iter(_sources(prompt, start)))]
        color[start] = GREY
        path = [start]
        while stack:
            node, it = stack[-1]
            advanced = False
            for src in it:
                c = color.get(src, WHITE)
                if c == GREY:
                    return path[path.index(src):]
                if c == WHITE and src in prompt:
                    color[src] = GREY
                    path.append(src)
                    stack.append((src, iter(_sources(prompt, src))))
                    advanced = True
                    break
            if not advanced:
                color[node] = BLACK
                stack.pop()
                path.pop()
    return None


def _sources(prompt, node_id):
    node = prompt.get(node_id)
    if not isinstance(node, dict):
        return []
    return [src for _name, src, _slot in node_links(node)]
