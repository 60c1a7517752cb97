"""``comfy_execution.utils``: which node of which prompt the calling code runs for."""
from __future__ import annotations

import contextlib
from typing import NamedTuple

from core.execution import progress


class ExecutionContext(NamedTuple):
    prompt_id: str
    node_id: str
    list_index: int | None


def get_executing_context() -> ExecutionContext | None:
    ctx = progress.current()
    if ctx is None or ctx.node_id is None:
        return None
    return ExecutionContext(ctx.prompt_id, ctx.node_id, None)


@contextlib.contextmanager
def CurrentNodeContext(prompt_id: str, node_id: str, list_index: int | None = None):  # noqa: N802 (ComfyUI's name)
    """Attribute progress to ``node_id`` inside the block (keeps the running job's interrupt and events)."""
    ctx = progress.current()
    if ctx is None:
        yield
        return
    inner = progress.JobContext(prompt_id, node_id, ctx.interrupt, ctx.emit, ctx.emit_preview, ctx.preview_method)
    with progress.job_context(inner):
        yield
