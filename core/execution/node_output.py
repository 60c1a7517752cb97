"""``NodeOutput``: what a V3 node's ``execute`` returns (ComfyUI's ``comfy_api.latest.io.NodeOutput``).

It lives here, not in core/compat, so there is exactly one class whether it is reached as
``comfy_api.latest.io.NodeOutput`` (plugins) or from our own node declarations (spec.py), and so the
V3 adapter can turn it into the classic return shapes the executor knows (tuple, or a dict with
``result`` / ``ui`` / ``expand``) without the executor knowing about V3.
"""
from __future__ import annotations

from typing import Any


class NodeOutput:
    """Outputs in declaration order, plus optional ``ui`` (dict or a ui.* object), ``expand`` and
    ``block_execution`` (a message: consumers are blocked, as with an ExecutionBlocker)."""

    def __init__(self, *args: Any, ui=None, expand: dict | None = None, block_execution: str | None = None):
        self.args = args
        self.ui = ui
        self.expand = expand
        self.block_execution = block_execution

    @property
    def result(self):
        return self.args if len(self.args) > 0 else None

    @classmethod
    def from_dict(cls, data: dict) -> "NodeOutput":
        from core.execution.node_call import ExecutionBlocker

        result = data.get("result", ())
        if isinstance(result, ExecutionBlocker):
            return cls(block_execution=result.message)
        return cls(*(result or ()), ui=data.get("ui"), expand=data.get("expand"))

    def __getitem__(self, index) -> Any:
        return self.args[index]

    def __len__(self) -> int:
        return len(self.args)

    def __iter__(self):
        return iter(self.args)

    def __repr__(self) -> str:
        return f"NodeOutput({len(self.args)} outputs, ui={self.ui is not None})"

    def ui_dict(self) -> dict | None:
        ui = self.ui
        if ui is None:
            return None
        if hasattr(ui, "as_dict"):
            ui = ui.as_dict()
        if not isinstance(ui, dict):
            raise TypeError(f"NodeOutput ui must be a dict or a ui output object, got {type(ui).__name__}")
        # ui.* objects use tuples ({"text": (value,)}); the executor merges list values across list-mapped calls
        return {key: list(value) if isinstance(value, tuple) else value for key, value in ui.items()}

    def to_classic(self, n_outputs: int):
        """The classic return value: a tuple, or {'result', 'ui', 'expand'} when there is more than outputs."""
        from core.execution.node_call import ExecutionBlocker

        if self.block_execution is not None:
            return (ExecutionBlocker(self.block_execution),) * n_outputs
        result = tuple(self.args)
        ui = self.ui_dict()
        if ui is None and self.expand is None:
            return result
        out: dict = {"result": result}
        if ui is not None:
            out["ui"] = ui
        if self.expand is not None:
            out["expand"] = self.expand
        return out
