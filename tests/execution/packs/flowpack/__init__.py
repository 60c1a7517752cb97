"""A custom node pack written the way plugin authors write ComfyUI packs, for the execution tests.

It imports ComfyUI's module names (``comfy_execution.graph_utils``, ``comfy_execution.graph``,
``comfy.comfy_types``, ``comfy_api.v0_0_2``), so loading it also checks those adapters. ``CALLS`` counts
function calls per class so tests can tell what ran.
"""
import asyncio
from collections import Counter

from comfy.comfy_types import IO, ComfyNodeABC
from comfy_api.v0_0_2 import ComfyAPI, ComfyAPISync
from comfy_execution.graph import ExecutionBlocker
from comfy_execution.graph_utils import GraphBuilder, is_link

CALLS: Counter = Counter()
api, api_sync = ComfyAPI(), ComfyAPISync()


class FlowInt(ComfyNodeABC):
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 0, "min": -1000, "max": 1000})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, value):
        CALLS["FlowInt"] += 1
        return (value,)


class FlowAdd(ComfyNodeABC):
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"a": ("INT", {"default": 0}), "b": ("INT", {"default": 0})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, a, b):
        CALLS["FlowAdd"] += 1
        return (a + b,)


class FlowSum(ComfyNodeABC):
    """Declares one input; links the UI added as ``value2``, ``value3``... arrive through **kwargs."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value1": ("INT",)}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, value1, **kwargs):
        CALLS["FlowSum"] += 1
        return (value1 + sum(kwargs.values()),)


class FlowDouble(ComfyNodeABC):
    """Expands into FlowAdd(x, x): its output is a link into the subgraph."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT",)}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, value):
        CALLS["FlowDouble"] += 1
        g = GraphBuilder()
        add = g.node("FlowAdd", a=value, b=value)
        return {"result": (add.out(0),), "expand": g.finalize()}


class FlowQuadruple(ComfyNodeABC):
    """Expands into two FlowDouble nodes, which expand again (nested expansion)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT",)}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, value):
        CALLS["FlowQuadruple"] += 1
        g = GraphBuilder()
        first = g.node("FlowDouble", value=value)
        second = g.node("FlowDouble", value=first.out(0))
        return {"result": (second.out(0),), "expand": g.finalize()}


class FlowCycle(ComfyNodeABC):
    """Expands into two FlowAdd nodes that feed each other."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT",)}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, value):
        g = GraphBuilder()
        a = g.node("FlowAdd", a=value)
        b = g.node("FlowAdd", a=a.out(0), b=value)
        a.set_input("b", b.out(0))
        return {"result": (b.out(0),), "expand": g.finalize()}


class FlowCountdown(ComfyNodeABC):
    """A loop by recursion: re-expands itself with ``remaining - 1`` until zero, summing ``step``."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"remaining": ("INT", {"default": 3, "min": 0, "max": 100}), "total": ("INT",),
                             "step": ("INT",)}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, remaining, total, step):
        CALLS["FlowCountdown"] += 1
        if remaining == 0:
            return (total,)
        g = GraphBuilder()
        add = g.node("FlowAdd", a=total, b=step)
        again = g.node("FlowCountdown", remaining=remaining - 1, total=add.out(0), step=step)
        return {"result": (again.out(0),), "expand": g.finalize()}


class FlowRepeat(ComfyNodeABC):
    """Adds 1 ``times`` times by re-expanding a copy of itself read from the live prompt (DYNPROMPT),
    each copy displayed as this node."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT",), "times": ("INT", {"default": 1, "min": 0, "max": 50})},
                "hidden": {"dynprompt": "DYNPROMPT", "unique_id": "UNIQUE_ID"}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, value, times, dynprompt, unique_id):
        if times == 0:
            return (value,)
        me = dynprompt.get_node(unique_id)
        g = GraphBuilder()
        add = g.node("FlowAdd", a=value, b=1)
        again = g.node(me["class_type"], value=add.out(0), times=times - 1)
        for n in (add, again):
            n.set_override_display_id(dynprompt.get_display_node_id(unique_id))
        return {"result": (again.out(0),), "expand": g.finalize()}


class FlowRaw(ComfyNodeABC):
    """Receives its ``source`` input as the raw link, not the value."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"source": ("INT", {"rawLink": True})}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "run"

    def run(self, source):
        return (f"{source[0]}:{source[1]}" if is_link(source) else "not a link",)


class FlowList(ComfyNodeABC):
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value1": ("*",)}, "optional": {"value2": ("*",), "value3": ("*",)}}

    RETURN_TYPES = ("*",)
    OUTPUT_IS_LIST = (True,)
    FUNCTION = "run"

    def run(self, **kwargs):
        return ([kwargs[k] for k in sorted(kwargs)],)


class FlowGate(ComfyNodeABC):
    """Blocks its output where ``block`` is true (silently, or with a message)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("*",), "block": ("BOOLEAN", {"default": False}),
                             "message": ("STRING", {"default": ""})}}

    RETURN_TYPES = ("*",)
    FUNCTION = "run"

    def run(self, value, block, message):
        if block:
            return (ExecutionBlocker(message or None),)
        return (value,)


class FlowIsOdd(ComfyNodeABC):
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT",)}}

    RETURN_TYPES = ("BOOLEAN",)
    FUNCTION = "run"

    def run(self, value):
        return (value % 2 == 1,)


class FlowCollect(ComfyNodeABC):
    """Output node: shows every value it got, one per list item."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": (IO.ANY,)}}

    RETURN_TYPES = ()
    OUTPUT_NODE = True
    FUNCTION = "run"

    def run(self, value):
        CALLS["FlowCollect"] += 1
        return {"ui": {"value": [value]}}


class FlowAsyncChecked(ComfyNodeABC):
    """Async VALIDATE_INPUTS that refuses values above ``limit``."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 1}), "limit": ("INT", {"default": 10})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    @classmethod
    async def VALIDATE_INPUTS(cls, value, limit):
        await asyncio.sleep(0.01)
        return True if value <= limit else f"{value} is above the limit {limit}"

    def run(self, value, limit):
        return (value,)


class FlowAsyncSleep(ComfyNodeABC):
    """Async FUNCTION: sleeps, reporting progress through comfy_api.v0_0_2, and passes its value on."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": (IO.ANY,), "seconds": ("FLOAT", {"default": 0.1, "min": 0, "max": 10})}}

    RETURN_TYPES = (IO.ANY,)
    FUNCTION = "run"

    async def run(self, value, seconds):
        CALLS["FlowAsyncSleep"] += 1
        await api.execution.set_progress(0, 2)
        await asyncio.sleep(seconds)
        await api.execution.set_progress(2, 2)
        return (value,)


class FlowAsyncFail(ComfyNodeABC):
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": (IO.ANY,), "seconds": ("FLOAT", {"default": 0.05, "min": 0, "max": 10})}}

    RETURN_TYPES = (IO.ANY,)
    FUNCTION = "run"

    async def run(self, value, seconds):
        await asyncio.sleep(seconds)
        raise RuntimeError("async failure on purpose")


class FlowSyncProgress(ComfyNodeABC):
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": (IO.ANY,)}}

    RETURN_TYPES = (IO.ANY,)
    FUNCTION = "run"

    def run(self, value):
        api_sync.execution.set_progress(1, 4)
        return (value,)


NODE_CLASS_MAPPINGS = {cls.__name__: cls for cls in (
    FlowInt, FlowAdd, FlowSum, FlowDouble, FlowQuadruple, FlowCycle, FlowCountdown, FlowRepeat, FlowRaw,
    FlowList, FlowGate, FlowIsOdd, FlowCollect, FlowAsyncChecked, FlowAsyncSleep, FlowAsyncFail, FlowSyncProgress)}
