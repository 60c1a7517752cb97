"""``comfy_execution.graph``: the run's dynamic prompt, input lookup and the executor's graph errors."""
from __future__ import annotations

from core.execution.expansion import DynamicPrompt, NodeNotFoundError  # noqa: F401
from core.execution.graph import declared_inputs
from core.execution.node_call import ExecutionBlocker  # noqa: F401
from core.execution.run import DependencyCycleError  # noqa: F401


class NodeInputError(Exception):
    pass


def get_input_info(class_def, input_name: str, valid_inputs: dict | None = None):
    """``(type, "required" | "optional" | "hidden", options)`` of one input, or ``(None, None, None)``."""
    valid_inputs = valid_inputs or class_def.INPUT_TYPES()
    found = declared_inputs(valid_inputs).get(input_name)
    if found is not None:
        section, type_, opts = found
        return type_, section, opts
    entry = (valid_inputs.get("hidden") or {}).get(input_name)
    if entry is None:
        return None, None, None
    if isinstance(entry, (list, tuple)):
        return (entry[0] if entry else None), "hidden", (entry[1] if len(entry) > 1 else {})
    return entry, "hidden", {}
