"""Builders for small hand-made UI-format graphs used by the workflow tests."""
from __future__ import annotations


def ui_node(id_, type_, *, inputs=(), outputs=(), widgets_values=None, mode=0, title=None, **extra) -> dict:
    """One UI-format node; ``inputs``/``outputs`` are (name, type, link[, widget_name]) tuples."""
    node = {"id": id_, "type": type_, "pos": [0, 0], "size": [100, 60], "flags": {}, "order": 0, "mode": mode,
            "inputs": [], "outputs": [], "properties": {}}
    for entry in inputs:
        slot = {"name": entry[0], "type": entry[1], "link": entry[2]}
        if len(entry) > 3:
            slot["widget"] = {"name": entry[3]}
        node["inputs"].append(slot)
    for name, type_out, links in outputs:
        node["outputs"].append({"name": name, "type": type_out, "links": list(links)})
    if widgets_values is not None:
        node["widgets_values"] = widgets_values
    if title:
        node["title"] = title
    node.update(extra)
    return node


def ui_workflow(nodes, links, **extra) -> dict:
    """A version 0.4 workflow: ``links`` as [id, origin, origin_slot, target, target_slot, type]."""
    data = {"last_node_id": max((n["id"] for n in nodes if isinstance(n["id"], int)), default=0),
            "last_link_id": max((l[0] for l in links), default=0), "nodes": list(nodes), "links": list(links),
            "groups": [], "config": {}, "extra": {}, "version": 0.4}
    data.update(extra)
    return data
