"""Runs a validated API prompt: dependency order, output caching, lazy inputs, list mapping, events.

The executor knows nothing about diffusion: it calls each node's ``FUNCTION`` with its inputs and
keeps the results. Events follow docs/comfy-api.md §2; interrupts come from :mod:`core.execution.progress`.
"""
from __future__ import annotations

import asyncio
import logging
import time
import traceback
from dataclasses import dataclass, field

from core.execution import progress
from core.execution.cache import OutputCache
from core.execution.node_call import ExecutionBlocker, run_sync  # noqa: F401  (ExecutionBlocker: public name)
from core.execution.run import DependencyCycleError, NodeError, PromptRun  # noqa: F401
from core.execution.validate import validate_prompt

log = logging.getLogger(__name__)

# The events a history entry's status keeps, as ComfyUI's does; per-node and progress events (thousands
# for a long async node) only go to listeners.
STATUS_EVENTS = frozenset({"execution_start", "execution_cached", "execution_success", "execution_error",
                           "execution_interrupted"})


@dataclass
class ExecutionResult:
    success: bool
    interrupted: bool = False
    outputs: dict = field(default_factory=dict)  # node id -> ui dict
    messages: list = field(default_factory=list)  # [(event, data)] of STATUS_EVENTS: the history's status
    error: dict | None = None
    executed: list = field(default_factory=list)  # node ids run in this prompt
    cached: list = field(default_factory=list)  # node ids served from the cache


def _now_ms() -> int:
    return int(time.time() * 1000)


def exception_type_name(exc) -> str:
    cls = type(exc)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


class Executor:
    def __init__(self, registry, cache: str = "classic", lru_size: int = 0):
        self.registry = registry
        self.cache = OutputCache(cache, lru_size)
        self.interrupt_flag = progress.InterruptFlag()
        self._instances: dict = {}  # (node id, class) -> node object, reused across prompts
        self._sig_memo: dict = {}  # node id -> (class, inputs, upstream sigs, changed, signature)
        self._loop: asyncio.AbstractEventLoop | None = None

    def _run_loop(self, coro):
        """Run a prompt's schedule on this executor's event loop (kept between prompts: cheaper than a
        new loop each time), or on a helper thread's when the calling thread already runs a loop."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            if self._loop is None or self._loop.is_closed():
                self._loop = asyncio.new_event_loop()
            return self._loop.run_until_complete(coro)
        return run_sync(coro)

    def interrupt(self) -> None:
        self.interrupt_flag.set()

    # ------------------------------------------------------------------------------------------
    def execute(self, prompt: dict, prompt_id: str = "", extra_data: dict | None = None,
                outputs: list | None = None, emit=None, emit_preview=None,
                preview_method: str = "none", validated: bool = False) -> ExecutionResult:
        """Run ``outputs`` (default: every valid output node) of ``prompt``."""
        extra_data = extra_data or {}
        result = ExecutionResult(success=False)

        def send(event, data, record=True):
            if record and event in STATUS_EVENTS:
                result.messages.append((event, data))
            if emit is not None:
                try:
                    emit(event, data)
                except Exception:  # a broken listener must not fail the job
                    log.exception("event listener failed on %s", event)

        if not validated:
            check = validate_prompt(self.registry, prompt, outputs)
            if not check.ok:
                result.error = {"type": "validation", "validation": check.error, "node_errors": check.node_errors}
                return result
            prompt, outputs = check.prompt, check.outputs
        else:
            prompt = {str(k): v for k, v in prompt.items()}
            outputs = [str(o) for o in (outputs or [])]

        self.interrupt_flag.clear()
        send("execution_start", {"prompt_id": prompt_id, "timestamp": _now_ms()})
        run = PromptRun(self, prompt, prompt_id, extra_data, send, emit_preview, preview_method, result)
        run.states.enabled = emit is not None
        try:
            run.start(outputs)
            send("execution_cached", {"nodes": list(result.cached), "prompt_id": prompt_id,
                                      "timestamp": _now_ms()})
            run.resend_cached_ui()
            self._run_loop(run.loop())
            run.states.flush(force=True)
        except progress.Interrupted:
            result.interrupted = True
            run.states.flush(force=True)
            node_id = run.dyn.get_real_node_id(run.current) if run.current else None
            send("execution_interrupted", {
                "prompt_id": prompt_id, "node_id": node_id,
                "node_type": prompt[node_id]["class_type"] if node_id else None,
                "executed": list(result.executed), "timestamp": _now_ms()})
        except NodeError as e:
            tb = traceback.format_exception(type(e.exc), e.exc, e.exc.__traceback__)
            message = str(e.exc) or exception_type_name(e.exc)
            if _is_oom(e.exc):
                message += ("\nThis error means you ran out of memory on your GPU. Try a smaller image, "
                            "a smaller batch, or --lowvram.")
            run.states.set(e.node_id, "error")
            # errors inside an expansion are reported on the submitted node it came from
            node_id = run.dyn.get_real_node_id(e.node_id)
            node_type = prompt[node_id]["class_type"] if node_id in prompt else e.class_type
            data = {"prompt_id": prompt_id, "node_id": node_id, "node_type": node_type,
                    "executed": list(result.executed), "exception_message": message,
                    "exception_type": exception_type_name(e.exc), "traceback": tb,
                    "current_inputs": e.inputs, "current_outputs": list(run.values), "timestamp": _now_ms()}
            result.error = data
            send("execution_error", data)
        else:
            result.success = True
            send("execution_success", {"prompt_id": prompt_id, "timestamp": _now_ms()})
        finally:
            self.cache.end_prompt(run.signatures.values())
            # expansions add node ids every run (loops): keep memos and node objects of this run only
            self._sig_memo = {k: v for k, v in self._sig_memo.items() if k in run.prompt}
            self._instances = {k: v for k, v in self._instances.items() if k[0] in run.prompt}
            send("executing", {"node": None, "prompt_id": prompt_id})
        return result


def _is_oom(exc) -> bool:
    name = type(exc).__name__
    return name == "OutOfMemoryError" or (isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())
