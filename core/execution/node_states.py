"""Per-node state of one prompt for ``progress_state`` messages (docs/comfy-api.md §2).

Every message lists every non-pending node of the prompt (submitted and ephemeral) with its value,
max and state, and the node's display, parent and real ids. Messages are spaced at least
:data:`INTERVAL` apart unless forced, since one per node start and finish would make a prompt's
messages quadratic in its size; the final state is always sent.
"""
from __future__ import annotations

import time

INTERVAL = 0.05  # s between progress_state messages


class NodeStates:
    def __init__(self, prompt_id, dyn, send):
        self.prompt_id, self.dyn, self.send = prompt_id, dyn, send
        self.states: dict = {}  # node id -> {"value", "max", "state"}
        self.enabled = True  # off when nobody listens to events
        self.announced = False  # nothing is sent before the run announced its cached nodes
        self._dirty = False
        self._sent = 0.0

    def __contains__(self, node_id) -> bool:
        return node_id in self.states

    def set(self, node_id, state, value=None, max_value=None):
        if not self.enabled:
            return
        entry = self.states.get(node_id)
        if entry is None:
            entry = self.states[node_id] = {"value": 0, "max": 1, "state": "pending"}
        entry["state"] = state
        if value is not None:
            entry["value"] = value
        if max_value is not None:
            entry["max"] = max_value
        if state == "finished":
            entry["value"] = entry["max"]
        self._dirty = True
        self.flush(force=state == "error")

    def announce(self):
        self.announced = True
        self.flush(force=True)

    def flush(self, force=False):
        if not self.announced or not self._dirty:
            return
        now = time.monotonic()
        if not force and now - self._sent < INTERVAL:
            return
        self._sent, self._dirty = now, False
        dyn, nodes = self.dyn, {}
        for nid, entry in self.states.items():
            if entry["state"] != "pending":
                nodes[nid] = {**entry, "node_id": nid, "prompt_id": self.prompt_id,
                              "display_node_id": dyn.get_display_node_id(nid),
                              "parent_node_id": dyn.get_parent_node_id(nid),
                              "real_node_id": dyn.get_real_node_id(nid)}
        self.send("progress_state", {"prompt_id": self.prompt_id, "nodes": nodes})
