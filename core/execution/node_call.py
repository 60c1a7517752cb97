"""Calling one node's FUNCTION: list mapping (INPUT_IS_LIST / OUTPUT_IS_LIST), ui/result/expand returns,
async functions and execution blockers (docs/comfy-api.md §4.1, §5.4 and §5.6).

A node is called once per list index. Each call either finishes at once or, when FUNCTION is a
coroutine function (or returns an awaitable, as V3 nodes' wrappers do) that did not finish on its
first step, leaves an ``asyncio.Task`` the executor awaits while other nodes run. A call whose
inputs hold an :class:`ExecutionBlocker` is not made: its result is the blocker, so one blocked list
item blocks only that item downstream.
"""
from __future__ import annotations

import asyncio
import inspect
import threading

from core.execution import progress
from core.execution.expansion import set_prefix_scope


class ExecutionBlocker:
    """Returned by a node instead of a value: consumers are skipped (with a message: an error)."""

    def __init__(self, message: str | None = None):
        self.message = message

    def __repr__(self):
        return f"ExecutionBlocker({self.message!r})"


def run_sync(awaitable):
    """The value of ``awaitable`` from synchronous code, whether or not this thread runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_await(awaitable))
    # inside a running loop (the server's validation): a private loop on a helper thread
    box = {}

    def target():
        try:
            box["value"] = asyncio.run(_await(awaitable))
        except BaseException as e:  # re-raised in the caller's thread
            box["error"] = e

    t = threading.Thread(target=target, name="latentflow-await")
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


async def _await(awaitable):
    return await awaitable


async def maybe_await(value):
    return await value if inspect.isawaitable(value) else value


def _blocker_in(call: dict, whole_lists: bool):
    for value in call.values():
        if whole_lists:
            for item in value:
                if isinstance(item, ExecutionBlocker):
                    return item
        elif isinstance(value, ExecutionBlocker):
            return value
    return None


def split_calls(cls, kwargs) -> list:
    """One kwargs dict per call: by list index, shorter lists repeating their last item (§5.4)."""
    if getattr(cls, "INPUT_IS_LIST", False):
        return [kwargs]
    if not kwargs:
        return [{}]
    if any(len(v) == 0 for v in kwargs.values()):
        return []
    length = max(len(v) for v in kwargs.values())
    return [{k: v[min(i, len(v) - 1)] for k, v in kwargs.items()} for i in range(length)]


async def start_calls(obj, cls, func_name: str, kwargs: dict, node_id: str, on_block=None) -> list:
    """Make every call of ``func_name``; returns one entry per call: a return value, a blocker or a Task."""
    whole = bool(getattr(cls, "INPUT_IS_LIST", False))
    if func_name is None:
        raise TypeError(f"{cls.__name__} is a display-only node (it has no FUNCTION) and cannot be run")
    fn = getattr(obj, func_name)
    results = []
    for index, call in enumerate(split_calls(cls, kwargs)):
        progress.check_interrupt()
        blocker = _blocker_in(call, whole)
        if blocker is not None:
            results.append(on_block(blocker) if on_block else blocker)
            continue
        set_prefix_scope(node_id, index)
        out = fn(**call)  # for an async FUNCTION (or one returning a coroutine) this only creates it
        if inspect.isawaitable(out):
            # a task runs in a copy of this context: this call's prefix scope and job context
            task = asyncio.create_task(out) if inspect.iscoroutine(out) else asyncio.ensure_future(out)
            await asyncio.sleep(0)  # let it run until its first real wait
            out = task.result() if task.done() else task
        results.append(out)
    return results


def pending_tasks(results) -> list:
    return [r for r in results if isinstance(r, asyncio.Future) and not r.done()]


def resolve(results) -> list:
    """Replace finished Tasks by their values (raising a task's exception)."""
    return [r.result() if isinstance(r, asyncio.Future) else r for r in results]


class Returns:
    """A node's merged returns: per-output lists, ui dict, and per-call (graph, result) when it expanded."""

    def __init__(self, outputs, ui, expansions):
        self.outputs = outputs
        self.ui = ui
        self.expansions = expansions  # None, or [(graph | None, result tuple)] one per call


def collect_returns(cls, results) -> Returns:
    n_out = len(cls.RETURN_TYPES)
    calls, uis, expanded = [], [], False
    for ret in results:
        graph = None
        if isinstance(ret, dict):
            if ret.get("ui") is not None:
                uis.append(ret["ui"])
            graph = ret.get("expand")
            expanded = expanded or graph is not None
            if "result" not in ret and graph is None:
                continue  # a ui-only return
            ret = ret.get("result", ())
        if isinstance(ret, ExecutionBlocker):
            ret = (ret,) * n_out
        if ret is None:
            ret = ()
        if not isinstance(ret, (tuple, list)):
            raise TypeError(f"{cls.__name__}.{cls.FUNCTION} returned {type(ret).__name__}; "
                            f"expected a tuple of {n_out} outputs")
        if len(ret) < n_out:
            raise TypeError(f"{cls.__name__}.{cls.FUNCTION} returned {len(ret)} outputs; RETURN_TYPES has {n_out}")
        calls.append((graph, tuple(ret)))
    ui = merge_ui(uis)
    if expanded:
        return Returns(None, ui, calls)
    return Returns(merge_outputs(cls, [r for _g, r in calls]), ui, None)


def merge_outputs(cls, per_call) -> tuple:
    """Per-output lists from each call's tuple; OUTPUT_IS_LIST outputs are concatenated."""
    n_out = len(cls.RETURN_TYPES)
    # a pack's subclass may add outputs to a built-in whose OUTPUT_IS_LIST covers fewer: pad with False
    output_is_list = (tuple(getattr(cls, "OUTPUT_IS_LIST", None) or ()) + (False,) * n_out)[:n_out]
    per_output = [[] for _ in range(n_out)]
    for ret in per_call:
        for k in range(n_out):
            if k < len(output_is_list) and output_is_list[k] and not isinstance(ret[k], ExecutionBlocker):
                per_output[k].extend(ret[k])
            else:  # a blocked call of a list output stays one blocked item
                per_output[k].append(ret[k])
    return tuple(per_output)


def merge_ui(parts):
    if not parts:
        return None
    ui = {}
    for part in parts:
        for key, value in part.items():
            if isinstance(value, list):
                ui.setdefault(key, []).extend(value)
            else:
                ui[key] = value
    return ui


def format_inputs(kwargs) -> dict:
    """current_inputs of execution_error: JSON scalars kept, anything else as str (docs/comfy-api.md §2)."""
    out = {}
    for name, values in kwargs.items():
        if name in ("prompt", "extra_pnginfo", "dynprompt"):
            continue
        out[name] = [v if isinstance(v, (str, int, float, bool)) or v is None else str(v)[:200] for v in values]
    return out
