"""Calling one node's FUNCTION: list mapping (INPUT_IS_LIST / OUTPUT_IS_LIST), ui/result returns,
async functions and execution blockers (docs/comfy-api.md §4.1 and §5.4)."""
from __future__ import annotations

import asyncio
import inspect

from core.execution import progress


class ExecutionBlocker:
    """Returned by a node instead of a value: consumers are skipped (with a message: an error)."""

    def __init__(self, message: str | None = None):
        self.message = message



def first_blocker(kwargs):
    for values in kwargs.values():
        for v in values:
            if isinstance(v, ExecutionBlocker):
                return v
    return None


def call_maybe_async(fn, **kwargs):
    out = fn(**kwargs)
    if inspect.isawaitable(out):
        out = asyncio.run(_await(out))
    return out


async def _await(awaitable):
    return await awaitable


def map_over_lists(obj, cls, kwargs):
    """Call FUNCTION once per list index (or once with whole lists) and merge results (§5.4)."""
    if not hasattr(cls, "FUNCTION"):
        raise TypeError(f"{cls.__name__} is a display-only node (it has no FUNCTION) and cannot be run")
    fn = getattr(obj, cls.FUNCTION)
    n_out = len(cls.RETURN_TYPES)
    # a pack's subclass may add outputs to a built-in whose OUTPUT_IS_LIST covers fewer: pad with False
    output_is_list = (tuple(getattr(cls, "OUTPUT_IS_LIST", None) or ()) + (False,) * n_out)[:n_out]
    if getattr(cls, "INPUT_IS_LIST", False):
        calls = [kwargs]
    else:
        length = max((len(v) for v in kwargs.values()), default=1)
        if any(len(v) == 0 for v in kwargs.values()):
            length = 0
        calls = [{k: v[min(i, len(v) - 1)] for k, v in kwargs.items()} for i in range(length)]
    per_output = [[] for _ in range(n_out)]
    ui_parts = []
    for call in calls:
        progress.check_interrupt()
        ret = call_maybe_async(fn, **call)
        ui = None
        if isinstance(ret, dict):
            ui = ret.get("ui")
            ret = ret.get("result", ())
        if ret is None:
            ret = ()
        if isinstance(ret, ExecutionBlocker):
            ret = (ret,) * n_out
        if not isinstance(ret, (tuple, list)):
            raise TypeError(f"{cls.__name__}.{cls.FUNCTION} returned {type(ret).__name__}; "
                            f"expected a tuple of {n_out} outputs")
        if len(ret) < n_out:
            raise TypeError(f"{cls.__name__}.{cls.FUNCTION} returned {len(ret)} outputs; RETURN_TYPES has {n_out}")
        for k in range(n_out):
            if output_is_list[k]:
                per_output[k].extend(ret[k])
            else:
                per_output[k].append(ret[k])
        if ui is not None:
            ui_parts.append(ui)
    ui = None
    if ui_parts:
        ui = {}
        for part in ui_parts:
            for key, value in part.items():
                if isinstance(value, list):
                    ui.setdefault(key, []).extend(value)
                else:
                    ui[key] = value
    return tuple(per_output), ui


def format_inputs(kwargs) -> dict:
    """current_inputs of execution_error: JSON scalars kept, anything else as str (docs/comfy-api.md §2)."""
    out = {}
    for name, values in kwargs.items():
        if name in ("prompt", "extra_pnginfo") and values and isinstance(values[0], dict):
            continue
        out[name] = [v if isinstance(v, (str, int, float, bool)) or v is None else str(v)[:200] for v in values]
    return out
