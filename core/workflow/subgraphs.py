"""Subgraph boundaries of a UI workflow, resolved as the official frontend's SubgraphNode does.

A subgraph instance is a node whose ``type`` is the id of an entry of ``definitions.subgraphs``. Inside
the definition, links from node -10 enter through the definition's ``inputs`` and links to node -20
leave through its ``outputs``. An instance input that is linked passes its link in; one that is not
linked but feeds an inner widget is a *promoted widget*: its value is the instance's ``widgets_values``
entry (one per promoted input, in input order) or, when the instance stores none, the inner widget's
own value. Nested instances promote their own promoted inputs further out. Values promoted with
``properties.proxyWidgets`` live on the inner nodes themselves, so they need nothing here.

These functions take the :class:`core.workflow.ui.Converter` that owns the flattened nodes.
"""
from __future__ import annotations

from dataclasses import dataclass

SUBGRAPH_INPUT_ID, SUBGRAPH_OUTPUT_ID = -10, -20


@dataclass(frozen=True)
class Promoted:
    """One promoted input of a subgraph instance: its definition input and the inner widget it shows."""

    index: int  # position in the definition's inputs
    name: str
    inner: object  # the ExecNode whose widget it shows
    widget: str  # that widget's name on the inner node
    has_control: bool  # the inner widget carries a control_after_generate companion


def definitions_of(workflow: dict) -> dict:
    """Subgraph id -> definition JSON, from ``definitions.subgraphs``."""
    out = {}
    for sub in (workflow.get("definitions") or {}).get("subgraphs") or []:
        if isinstance(sub, dict) and sub.get("id"):
            out[sub["id"]] = sub
    return out


def inner_path(instance) -> tuple:
    return (*instance.path, instance.node["id"])


def target_input(inner, link) -> int | None:
    """Index of the inner node's input that ``link`` feeds: by link id first, as the frontend finds it."""
    for i, inp in enumerate(inner.inputs):
        if (inp or {}).get("link") == link.id:
            return i
    return link.target_slot if link.target_slot < len(inner.inputs) else None


def promoted_inputs(conv, instance) -> list[Promoted]:
    """The instance's promoted inputs, in definition order (the order of its ``widgets_values``)."""
    cached = conv.promoted_cache.get(instance.id)
    if cached is not None:
        return cached
    conv.promoted_cache[instance.id] = []  # a definition that promotes into itself ends here
    found = []
    for index, sub_input in enumerate(instance.subgraph.definition.get("inputs") or []):
        for link_id in sub_input.get("linkIds") or []:
            link = instance.subgraph.links.get(link_id)
            inner = link and conv.dto(inner_path(instance), link.target_id)
            slot = None if inner is None else target_input(inner, link)
            if slot is None:
                continue
            source = _widget_source(conv, inner, inner.inputs[slot] or {})
            if source is not None:
                found.append(Promoted(index, sub_input.get("name"), inner, *source))
                break
    conv.promoted_cache[instance.id] = found
    return found


def _widget_source(conv, inner, slot_info: dict):
    """(widget name, has control) when the inner input shows a widget, else None."""
    if inner.subgraph is not None:  # a nested instance shows a widget only for its own promoted inputs
        name = slot_info.get("name")
        return next(((p.name, p.has_control) for p in promoted_inputs(conv, inner) if p.name == name), None)
    name = (slot_info.get("widget") or {}).get("name")
    if not name:
        return None
    widgets = conv.widgets_of(inner)
    for i, widget in enumerate(widgets):
        if widget.name == name and widget.serialize:
            following = widgets[i + 1] if i + 1 < len(widgets) else None
            return name, following is not None and following.name == "control_after_generate"
    return None


def promoted_value(conv, instance, index: int):
    """('value', v) for the promoted input at definition position ``index``, or None when not promoted."""
    entries = promoted_inputs(conv, instance)
    stored = instance.node.get("widgets_values")
    stored = stored if isinstance(stored, list) else []
    # Older instances stored a slot for each seed control beside its value; skip those only then.
    with_controls = len(stored) > len(entries)
    position = 0
    for entry in entries:
        if entry.index == index:
            if entry.name in instance.overrides:
                return ("value", instance.overrides[entry.name])
            if position < len(stored) and stored[position] is not None:
                return ("value", stored[position])
            return inner_widget_value(conv, entry.inner, entry.widget)
        position += 2 if with_controls and entry.has_control else 1
    return None


def inner_widget_value(conv, inner, widget: str):
    if inner.subgraph is not None:
        index = next((p.index for p in promoted_inputs(conv, inner) if p.name == widget), None)
        return None if index is None else promoted_value(conv, inner, index)
    values = conv.widget_values_of(inner)
    return ("value", values[widget]) if widget in values else None


def resolve_subgraph_input(conv, instance, slot: int, visited: set):
    """The link or value entering the subgraph of ``instance`` through its definition input ``slot``."""
    sub_inputs = instance.subgraph.definition.get("inputs") or []
    if slot >= len(sub_inputs):
        raise conv.error(f"{instance.describe()}: its subgraph has no input slot {slot}")
    name = sub_inputs[slot].get("name")
    # The frontend rebuilds an instance's inputs from the definition and rebinds the saved ones by
    # name, so a saved instance that drops unlinked widget sockets still lines up.
    index = next((i for i, inp in enumerate(instance.inputs) if (inp or {}).get("name") == name), None)
    if index is not None and (instance.inputs[index] or {}).get("link") is not None:
        resolved = conv.resolve_input(instance, index, visited)
        if resolved is not None or name not in instance.overrides:
            return resolved
        # A legacy PrimitiveNode feeding the promoted widget resolves to no link; it set the value.
    return promoted_value(conv, instance, slot)


def resolve_subgraph_output(conv, instance, slot: int, type_, visited: set):
    """The link leaving the subgraph of ``instance`` through its definition output ``slot``."""
    outputs = instance.subgraph.definition.get("outputs") or []
    if slot >= len(outputs):
        raise conv.error(f"{instance.describe()}: its subgraph has no output slot {slot}")
    links = instance.subgraph.links
    link = next((links[i] for i in outputs[slot].get("linkIds") or [] if i in links), None)
    if link is None:
        link = next((l for l in links.values() if l.target_id == SUBGRAPH_OUTPUT_ID and l.target_slot == slot), None)
    if link is None:
        return None
    if link.origin_id == SUBGRAPH_INPUT_ID:  # an input wired straight through to an output
        return resolve_subgraph_input(conv, instance, link.origin_slot, visited)
    inner = conv.dto(inner_path(instance), link.origin_id)
    if inner is None:
        raise conv.error(f"{instance.describe()}: subgraph output {slot} comes from missing node {link.origin_id}")
    return conv.resolve_output(inner, link.origin_slot, type_, visited)
