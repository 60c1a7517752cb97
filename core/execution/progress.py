"""Progress reporting and interrupts that long-running node code (samplers, VAE tiles) calls into.

The executor opens a :func:`job_context` around each node; inside it, :func:`check_interrupt`
raises :class:`Interrupted` once an interrupt was requested, and :class:`ProgressBar` sends
``progress`` events (and optional live preview images) for the running node. Outside any job the
calls are cheap no-ops, so core libraries can call them unconditionally.
"""
from __future__ import annotations

import contextlib
import contextvars
import threading
from dataclasses import dataclass
from typing import Any, Callable


class Interrupted(Exception):
    """Raised inside a node when the user interrupted the running job."""

    def __init__(self, message: str = "Processing interrupted"):
        super().__init__(message)


class InterruptFlag:
    """A thread-safe flag the server sets and the worker thread checks."""

    def __init__(self):
        self._event = threading.Event()

    def set(self):
        self._event.set()

    def clear(self):
        self._event.clear()

    def is_set(self) -> bool:
        return self._event.is_set()


@dataclass
class JobContext:
    prompt_id: str
    node_id: str | None
    interrupt: InterruptFlag
    emit: Callable[[str, dict], None]  # (event type, data)
    # (node_id, image: PIL.Image, fmt "JPEG"|"PNG") -> None; None when previews are off
    emit_preview: Callable[[str, Any], None] | None = None
    preview_method: str = "none"


_current: contextvars.ContextVar[JobContext | None] = contextvars.ContextVar("latentflow_job", default=None)


@contextlib.contextmanager
def job_context(ctx: JobContext):
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


def current() -> JobContext | None:
    return _current.get()


def check_interrupt() -> None:
    ctx = _current.get()
    if ctx is not None and ctx.interrupt.is_set():
        raise Interrupted()


def preview_method() -> str:
    ctx = _current.get()
    return ctx.preview_method if ctx is not None else "none"


class ProgressBar:
    """Per-node step counter: ``update(1)`` after each step; checks for interrupts every call."""

    def __init__(self, total, node_id: str | None = None):
        self.total = _number(total)
        self.current = 0
        ctx = _current.get()
        self._ctx = ctx
        self.node_id = node_id if node_id is not None else (ctx.node_id if ctx else None)

    def update(self, n: int = 1, preview=None):
        self.update_absolute(self.current + n, preview=preview)

    def update_absolute(self, value, total=None, preview=None):
        if total is not None:
            self.total = _number(total)
        value = _number(value)
        self.current = min(value, self.total) if self.total else value
        ctx = self._ctx
        if ctx is None:
            return
        if ctx.interrupt.is_set():
            raise Interrupted()
        if preview is not None and ctx.emit_preview is not None:
            ctx.emit_preview(self.node_id, preview)
        ctx.emit("progress", {"value": self.current, "max": self.total,
                              "prompt_id": ctx.prompt_id, "node": self.node_id})


def _number(value):
    """Steps are ints; some nodes count seconds: keep a float that is not whole."""
    value = float(value)
    return int(value) if value.is_integer() else value
