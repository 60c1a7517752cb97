"""Node expansion: subgraphs a node builds at run time and returns as ``{"result": ..., "expand": graph}``.

:class:`GraphBuilder` writes such subgraphs (and whole API prompts); :class:`DynamicPrompt` is the
prompt of one run, the submitted nodes plus the ephemeral ones expansions add, each remembering the
node that generated it (docs/comfy-api.md §5.6). Node ids a builder makes default to a prefix unique
to the generating node and call (``"<node id>.<call index>.<graph index>."``), so an expansion made
again in a later run gets the same ids and its nodes can be served from the cache.
"""
from __future__ import annotations

import contextvars


def is_raw_link(value) -> bool:
    """A link as packs write it: ``[str node id, int slot]`` (a float slot is tolerated)."""
    return (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)
            and isinstance(value[1], (int, float)) and not isinstance(value[1], bool))


# (root, call index, counter) of the node the executor is calling; per task, so concurrent async
# nodes each allocate their own prefixes.
_prefix_scope: contextvars.ContextVar = contextvars.ContextVar("graph_prefix", default=None)


def set_prefix_scope(root: str, call_index: int, graph_index: int = 0) -> None:
    _prefix_scope.set([root, call_index, graph_index])


def allocate_prefix(root=None, call_index=None, graph_index=None) -> str:
    scope = _prefix_scope.get()
    if scope is None:
        scope = ["", 0, 0]
        _prefix_scope.set(scope)
    root = scope[0] if root is None else root
    call_index = scope[1] if call_index is None else call_index
    if graph_index is None:
        graph_index = scope[2]
        scope[2] += 1
    return f"{root}.{call_index}.{graph_index}."


class Node:
    """One node of a :class:`GraphBuilder` graph; ``out(i)`` is a link to its output ``i``."""

    def __init__(self, id: str, class_type: str, inputs: dict):
        self.id = id
        self.class_type = class_type
        self.inputs = inputs
        self.override_display_id = None

    def out(self, index: int) -> list:
        return [self.id, index]

    def set_input(self, key: str, value) -> None:
        """``None`` removes the input (an unconnected optional input)."""
        if value is None:
            self.inputs.pop(key, None)
        else:
            self.inputs[key] = value

    def get_input(self, key: str):
        return self.inputs.get(key)

    def set_override_display_id(self, display_id) -> None:
        """Show this node's progress as that of ``display_id`` (a loop body re-run as its original)."""
        self.override_display_id = display_id

    def serialize(self) -> dict:
        data = {"class_type": self.class_type, "inputs": self.inputs}
        if self.override_display_id is not None:
            data["override_display_id"] = self.override_display_id
        return data


class GraphBuilder:
    """Builds an API-format graph; ids are ``prefix + local id`` so subgraphs never collide."""

    def __init__(self, prefix: str | None = None):
        self.prefix = allocate_prefix() if prefix is None else prefix
        self.nodes: dict = {}
        self._next_id = 1

    @classmethod
    def set_default_prefix(cls, prefix_root, call_index, graph_index=0) -> None:
        set_prefix_scope(prefix_root, call_index, graph_index)

    @classmethod
    def alloc_prefix(cls, root=None, call_index=None, graph_index=None) -> str:
        return allocate_prefix(root, call_index, graph_index)

    def node(self, class_type: str, id: str | None = None, **inputs) -> Node:
        if id is None:
            id = str(self._next_id)
            self._next_id += 1
        full_id = self.prefix + id
        existing = self.nodes.get(full_id)
        if existing is not None:
            return existing
        node = self.nodes[full_id] = Node(full_id, class_type, inputs)
        return node

    def lookup_node(self, id: str) -> Node | None:
        return self.nodes.get(self.prefix + id)

    def remove_node(self, id: str) -> None:
        del self.nodes[self.prefix + id]

    def replace_node_output(self, node_id: str, index: int, new_value) -> None:
        """Point every link to ``node_id``'s output ``index`` at ``new_value`` (``None``: unlink)."""
        target = self.prefix + node_id
        for node in self.nodes.values():
            for key, value in list(node.inputs.items()):
                if is_raw_link(value) and value[0] == target and value[1] == index:
                    node.set_input(key, new_value)

    def finalize(self) -> dict:
        return {node_id: node.serialize() for node_id, node in self.nodes.items()}


def add_graph_prefix(graph: dict, outputs, prefix: str):
    """``graph`` and its result ``outputs`` with every node id (and link) prefixed."""
    def move(value):
        return [prefix + value[0], value[1]] if is_raw_link(value) else value

    new_graph = {prefix + node_id: {"class_type": node["class_type"],
                                    "inputs": {k: move(v) for k, v in node.get("inputs", {}).items()}}
                 for node_id, node in graph.items()}
    return new_graph, tuple(move(o) for o in outputs)


class NodeNotFoundError(KeyError):
    pass


class DynamicPrompt:
    """The prompt of one run: submitted nodes plus the ephemeral nodes expansions added."""

    def __init__(self, original_prompt: dict):
        self.original_prompt = original_prompt
        self.ephemeral_prompt: dict = {}
        self.ephemeral_parents: dict = {}
        self.ephemeral_display: dict = {}

    def get_node(self, node_id):
        node = self.ephemeral_prompt.get(node_id) or self.original_prompt.get(node_id)
        if node is None:
            raise NodeNotFoundError(f"node {node_id!r} is not in the prompt")
        return node

    def has_node(self, node_id) -> bool:
        return node_id in self.original_prompt or node_id in self.ephemeral_prompt

    def add_ephemeral_node(self, node_id, node, parent_id, display_id) -> None:
        self.ephemeral_prompt[node_id] = node
        self.ephemeral_parents[node_id] = parent_id
        self.ephemeral_display[node_id] = display_id

    def get_real_node_id(self, node_id):
        """The submitted node an ephemeral node descends from (itself for submitted nodes)."""
        while node_id in self.ephemeral_parents:
            node_id = self.ephemeral_parents[node_id]
        return node_id

    def get_parent_node_id(self, node_id):
        return self.ephemeral_parents.get(node_id)

    def get_display_node_id(self, node_id):
        while node_id in self.ephemeral_display:
            shown = self.ephemeral_display[node_id]
            if shown == node_id:
                break
            node_id = shown
        return node_id

    def all_node_ids(self) -> set:
        return set(self.original_prompt) | set(self.ephemeral_prompt)

    def get_original_prompt(self) -> dict:
        return self.original_prompt
