"""UI workflow (canvas format, versions 0.4 and 1) → API prompt, as the official frontend converts it.

The frontend's ``graphToPrompt`` (docs/comfy-api.md §3.4) flattens subgraph instances into nodes whose
execution ids join the instance path with ``:``, pushes PrimitiveNode values into the widgets they
feed, emits every node that is neither virtual nor muted/bypassed with its widget values first and
its resolved links after, then deletes links into nodes that were not emitted. Link resolution walks
upstream through virtual nodes (legacy Reroute: same slot), bypassed nodes (an input of the
requested type, same slot index preferred) and subgraph boundaries. This module does the same walk
over the saved JSON; widget layout and dynamic prompts live in :mod:`core.workflow.widgets`.
"""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from typing import Any

from core.workflow import subgraphs
from core.workflow.subgraphs import SUBGRAPH_INPUT_ID
from core.workflow.widgets import node_widgets, process_dynamic_prompt, widget_values

log = logging.getLogger(__name__)

# Node types the frontend runs only in the browser; they are never sent to the server.
VIRTUAL_TYPES = frozenset({"PrimitiveNode", "Reroute", "Note", "MarkdownNote"})
MODE_NEVER, MODE_BYPASS = 2, 4


class WorkflowError(ValueError):
    """A workflow that cannot be converted; the message names the node and the reason."""


@dataclass
class Link:
    id: Any
    origin_id: Any
    origin_slot: int
    target_id: Any
    target_slot: int
    type: Any = "*"


@dataclass
class Graph:
    """One graph level: the root workflow or a subgraph definition."""

    id: str
    nodes: dict  # str(node id) -> node JSON
    links: dict  # link id -> Link
    definition: dict = field(default_factory=dict)  # the subgraph definition JSON ({} for the root)


def parse_link(raw) -> Link:
    if isinstance(raw, dict):
        return Link(raw.get("id"), raw.get("origin_id"), int(raw.get("origin_slot", 0)),
                    raw.get("target_id"), int(raw.get("target_slot", 0)), raw.get("type", "*"))
    if isinstance(raw, (list, tuple)) and len(raw) >= 5:
        return Link(raw[0], raw[1], int(raw[2]), raw[3], int(raw[4]), raw[5] if len(raw) > 5 else "*")
    raise WorkflowError(f"malformed link {raw!r}: expected [id, origin, slot, target, slot, type] or an object")


def parse_graph(data: dict, graph_id: str = "root") -> Graph:
    nodes = data.get("nodes")
    if not isinstance(nodes, list):
        raise WorkflowError(f"graph {graph_id}: 'nodes' must be a list")
    by_id = {}
    for node in nodes:
        if not isinstance(node, dict) or "id" not in node:
            raise WorkflowError(f"graph {graph_id}: node entry without an id: {node!r:.80}")
        by_id[str(node["id"])] = node
    links = {}
    for raw in data.get("links") or []:
        if raw is None:
            continue
        link = parse_link(raw)
        links[link.id] = link
    return Graph(graph_id, by_id, links, data if graph_id != "root" else {})


def is_valid_connection(a, b) -> bool:
    """LiteGraph's type compatibility: '*'/''/empty match anything; 'A,B' unions; case-insensitive."""
    a = 0 if a in ("", "*") else a
    b = 0 if b in ("", "*") else b
    if not a or not b or a == b:
        return True
    a, b = _js_string(a).lower(), _js_string(b).lower()
    if "," not in a and "," not in b:
        return a == b
    return any(is_valid_connection(x, y) for x in a.split(",") for y in b.split(","))


def _js_string(value) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(_js_string(v) for v in value)
    return str(value)


@dataclass
class ExecNode:
    """A node at one place in the flattened graph (the frontend's ExecutableNodeDTO)."""

    node: dict
    graph: Graph
    path: tuple  # ids of the enclosing subgraph instances, outermost first
    instance: "ExecNode | None"  # the subgraph instance node that contains this one
    subgraph: Graph | None = None  # set when this node is itself a subgraph instance
    silenced: bool = False  # inside a muted or bypassed subgraph instance
    overrides: dict = field(default_factory=dict)  # widget name -> value pushed by a PrimitiveNode

    @property
    def id(self) -> str:
        return ":".join(str(p) for p in (*self.path, self.node["id"]))

    @property
    def type(self):
        return self.node.get("type")

    @property
    def mode(self) -> int:
        return self.node.get("mode") or 0

    @property
    def inputs(self) -> list:
        return self.node.get("inputs") or []

    @property
    def outputs(self) -> list:
        return self.node.get("outputs") or []

    def describe(self) -> str:
        title = self.node.get("title")
        return f"node {self.id} ({self.type}{', ' + repr(title) if title else ''})"


class Converter:
    def __init__(self, workflow: dict, object_info: dict, rng: random.Random | None = None):
        self.object_info = object_info
        self.rng = rng or random.Random()
        self.definitions = subgraphs.definitions_of(workflow)
        self.promoted_cache: dict = {}
        self._parsed: dict[str, Graph] = {}
        self.root = parse_graph(workflow)
        self.group_nodes = (workflow.get("extra") or {}).get("groupNodes") or {}
        self.by_id: dict[str, ExecNode] = {}
        self._flatten(self.root, (), None, False)

    # --- flattening ---------------------------------------------------------------------------
    def _subgraph(self, type_) -> Graph | None:
        if not isinstance(type_, str) or type_ not in self.definitions:
            return None
        if type_ not in self._parsed:
            self._parsed[type_] = parse_graph(self.definitions[type_], graph_id=type_)
        return self._parsed[type_]

    def _flatten(self, graph: Graph, path: tuple, instance, silenced: bool, depth: int = 0):
        if depth > 32:
            raise WorkflowError(f"subgraph nesting deeper than 32 levels at {':'.join(map(str, path))}")
        for node in graph.nodes.values():
            dto = ExecNode(node, graph, path, instance, silenced=silenced)
            dto.subgraph = self._subgraph(node.get("type"))
            self.by_id[dto.id] = dto
            if dto.subgraph is not None:
                self._flatten(dto.subgraph, (*path, node["id"]), dto,
                              silenced or dto.mode in (MODE_NEVER, MODE_BYPASS), depth + 1)

    def dto(self, path: tuple, node_id) -> ExecNode | None:
        return self.by_id.get(":".join(str(p) for p in (*path, node_id)))

    # --- PrimitiveNode values -------------------------------------------------------------------
    def apply_primitives(self):
        """Push each PrimitiveNode's value into the widgets it feeds (through legacy Reroutes)."""
        for dto in self.by_id.values():
            if dto.type != "PrimitiveNode":
                continue
            stored = dto.node.get("widgets_values")
            if not isinstance(stored, list) or not stored:
                continue
            value = stored[0]
            for link in self._primitive_targets(dto, set()):
                target = self.dto(dto.path, link.target_id)
                if target is None or link.target_slot >= len(target.inputs):
                    continue
                widget = (target.inputs[link.target_slot] or {}).get("widget") or {}
                if widget.get("name"):
                    target.overrides[widget["name"]] = value

    def _primitive_targets(self, dto: ExecNode, seen: set) -> list:
        if dto.id in seen:
            return []
        seen.add(dto.id)
        found = []
        for link in dto.graph.links.values():
            if str(link.origin_id) != str(dto.node["id"]) or link.origin_slot != 0:
                continue
            target = self.dto(dto.path, link.target_id)
            if target is not None and target.type == "Reroute":
                found.extend(self._primitive_targets(target, seen))
            else:
                found.append(link)
        return found

    # --- link resolution (ExecutableNodeDTO.resolveInput / resolveOutput) -------------------------
    def resolve_input(self, dto: ExecNode, slot: int, visited: set, type_=None):
        """('link', exec_id, slot) | ('value', v) | None for input ``slot`` of ``dto``."""
        key = (dto.graph.id, dto.id, "I", slot)
        if key in visited:
            raise WorkflowError(f"{dto.describe()}: circular link through input {slot}")
        visited.add(key)
        if slot >= len(dto.inputs):
            raise WorkflowError(f"{dto.describe()}: no input slot {slot}")
        slot_info = dto.inputs[slot] or {}
        link_id = slot_info.get("link")
        if link_id is None:
            return None
        link = dto.graph.links.get(link_id)
        if link is None:
            log.warning("%s: input %r refers to missing link %s; treated as unconnected",
                        dto.describe(), slot_info.get("name"), link_id)
            return None
        if dto.instance is not None and link.origin_id == SUBGRAPH_INPUT_ID:
            return subgraphs.resolve_subgraph_input(self, dto.instance, link.origin_slot, visited)
        origin = self.dto(dto.path, link.origin_id)
        if origin is None:
            log.warning("%s: input %r is linked to missing node %s; treated as unconnected",
                        dto.describe(), slot_info.get("name"), link.origin_id)
            return None
        return self.resolve_output(origin, link.origin_slot, type_ or slot_info.get("type", "*"), visited)

    def resolve_output(self, dto: ExecNode, slot: int, type_, visited: set):
        key = (dto.graph.id, dto.id, "O", slot)
        if key in visited:
            raise WorkflowError(f"{dto.describe()}: circular link through output {slot}")
        visited.add(key)
        if dto.mode == MODE_BYPASS:
            index = self._bypass_slot(dto, slot, type_)
            if index < 0:
                log.info("%s is bypassed and has no input of type %s for output %d; input dropped",
                         dto.describe(), type_, slot)
                return None
            return self.resolve_input(dto, index, visited)
        if dto.subgraph is not None:
            return subgraphs.resolve_subgraph_output(self, dto, slot, type_, visited)
        if dto.type in VIRTUAL_TYPES:
            if slot < len(dto.inputs):
                return self.resolve_input(dto, slot, visited, type_)
            return None
        return ("link", dto.id, slot)

    def _bypass_slot(self, dto: ExecNode, slot: int, type_) -> int:
        """The input a bypassed node passes to output ``slot``: same index if compatible, else by type."""
        inputs = dto.inputs
        if not inputs:
            return -1
        if type_ in ("*", ""):
            return slot if len(inputs) > slot else 0
        out_type = (dto.outputs[slot] or {}).get("type", "*") if slot < len(dto.outputs) else "*"
        if slot < len(inputs):
            opposite = (inputs[slot] or {}).get("type", "*")
            if is_valid_connection(opposite, out_type) and is_valid_connection(opposite, type_):
                return slot
        for i, inp in enumerate(inputs):
            if (inp or {}).get("type") == type_:
                return i
        for i, inp in enumerate(inputs):
            t = (inp or {}).get("type", "*")
            if is_valid_connection(t, out_type) and is_valid_connection(t, type_):
                return i
        return -1

    # --- emission -----------------------------------------------------------------------------
    error = WorkflowError  # raised by the subgraph resolvers too

    def info_for(self, dto: ExecNode) -> dict | None:
        """The node's /object_info entry, or None for a type this install does not have."""
        info = self.object_info.get(dto.type) if isinstance(dto.type, str) else None
        if info is None and isinstance(dto.type, str) and (
                dto.type.startswith(("workflow>", "workflow/")) or dto.type in self.group_nodes):
            raise WorkflowError(f"{dto.describe()}: legacy group nodes are not supported; "
                                "convert the group node to a subgraph in the editor")
        return info

    def widgets_of(self, dto: ExecNode) -> list:
        info = self.info_for(dto)
        return node_widgets(info, dto.node.get("widgets_values")) if info is not None else []

    def widget_values_of(self, dto: ExecNode) -> dict:
        widgets = self.widgets_of(dto)
        values = widget_values(widgets, dto.node.get("widgets_values"))
        names = {w.name for w in widgets if w.serialize}
        values.update((k, v) for k, v in dto.overrides.items() if k in names)
        return values

    def emits(self, dto: ExecNode) -> bool:
        return not (dto.type in VIRTUAL_TYPES or dto.subgraph is not None or dto.silenced
                    or dto.mode in (MODE_NEVER, MODE_BYPASS))

    def convert(self) -> dict:
        """The API prompt. Every broken node is reported at once; unknown node types are emitted
        with their links (their widget values cannot be named) so validation names each of them
        beside every other problem of the prompt."""
        self.apply_primitives()
        prompt: dict[str, dict] = {}
        problems: list[str] = []
        for dto in self.by_id.values():
            if not self.emits(dto):
                continue
            try:
                prompt[dto.id] = self.emit(dto)
            except WorkflowError as e:
                problems.append(str(e))
        if problems:
            raise WorkflowError("; ".join(problems) if len(problems) == 1
                                else f"{len(problems)} problems:\n  " + "\n  ".join(problems))
        # Links into nodes that were not emitted (muted, or unresolvable) are dropped, as the frontend does.
        for entry in prompt.values():
            for name, value in list(entry["inputs"].items()):
                if isinstance(value, list) and len(value) == 2 and value[0] not in prompt:
                    del entry["inputs"][name]
        return prompt

    def emit(self, dto: ExecNode) -> dict:
        info = self.info_for(dto) or {}
        dynamic = {w.name for w in self.widgets_of(dto) if w.dynamic_prompts}
        inputs: dict[str, Any] = {}
        for name, value in self.widget_values_of(dto).items():
            if name in dynamic and isinstance(value, str):
                value = process_dynamic_prompt(value, self.rng)
            inputs[name] = _wrap(value)
        for slot, slot_info in enumerate(dto.inputs):
            resolved = self.resolve_input(dto, slot, set())
            if resolved is None:
                continue
            name = (slot_info or {}).get("name")
            if resolved[0] == "value":
                inputs[name] = _wrap(resolved[1])
            else:
                inputs[name] = [resolved[1], int(resolved[2])]
        return {"inputs": inputs, "class_type": dto.type,
                "_meta": {"title": dto.node.get("title") or info.get("display_name") or dto.type}}


def _wrap(value):
    """Arrays are links in the API format, so array widget values travel as {"__value__": [...]}."""
    return {"__value__": value} if isinstance(value, list) else value


def convert(workflow: dict, object_info: dict, rng: random.Random | None = None) -> dict:
    return Converter(workflow, object_info, rng).convert()
