"""Node classes of the test pack, written as plain classic-interface classes (no Latentflow helpers)."""
import time


def _count(name):
    from . import CALLS
    CALLS[name] += 1


class Const:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 0, "min": -1000000, "max": 1000000})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "testing"

    def run(self, value):
        _count("Const")
        return (value,)


class FloatConst:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.01})}}

    RETURN_TYPES = ("FLOAT",)
    FUNCTION = "run"
    CATEGORY = "testing"

    def run(self, value):
        return (value,)


class Add:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"a": ("INT", {"forceInput": True}), "b": ("INT", {"forceInput": True})},
                "optional": {"c": ("INT", {"default": 0, "min": -10, "max": 10})}}

    RETURN_TYPES = ("INT",)
    RETURN_NAMES = ("sum",)
    FUNCTION = "run"
    CATEGORY = "testing/math"

    def run(self, a, b, c=0):
        _count("Add")
        return (a + b + c,)


class Concat:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"a": ("STRING", {"forceInput": True}),
                             "mode": (["plain", "upper"],),
                             "suffix": ("STRING", {"default": ""})}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "run"
    CATEGORY = "testing"

    def run(self, a, mode, suffix):
        _count("Concat")
        out = f"{a}{suffix}"
        return (out.upper() if mode == "upper" else out,)


class Text:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"text": ("STRING", {"multiline": True, "default": "hi"})}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "run"
    CATEGORY = "testing"

    def run(self, text):
        return (text,)


class Output:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("*",)},
                "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO", "unique_id": "UNIQUE_ID"}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True
    CATEGORY = "testing"

    def run(self, value, prompt=None, extra_pnginfo=None, unique_id=None):
        _count("Output")
        return {"ui": {"value": [value], "node": [unique_id], "has_prompt": [prompt is not None],
                       "pnginfo": [extra_pnginfo]}}


class Fail:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"forceInput": True})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "testing"

    def run(self, value):
        raise ValueError(f"this node always fails (got {value})")


class Slow:
    """Runs ``steps`` steps with a progress bar, like a sampler; interrupts stop it between steps."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"forceInput": True}),
                             "steps": ("INT", {"default": 10, "min": 1, "max": 100000}),
                             "delay": ("FLOAT", {"default": 0.01, "min": 0.0, "max": 10.0})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "testing"
    last_step = 0

    def run(self, value, steps, delay):
        from core.execution.progress import ProgressBar

        bar = ProgressBar(steps)
        for i in range(steps):
            time.sleep(delay)
            Slow.last_step = i + 1
            bar.update(1)
        return (value,)


class LazySwitch:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"switch": ("BOOLEAN", {"default": True}),
                             "on_true": ("INT", {"lazy": True, "forceInput": True}),
                             "on_false": ("INT", {"lazy": True, "forceInput": True})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "testing"

    def check_lazy_status(self, switch, on_true=None, on_false=None):
        needed = "on_true" if switch else "on_false"
        return [needed] if (on_true if switch else on_false) is None else []

    def run(self, switch, on_true=None, on_false=None):
        _count("LazySwitch")
        return (on_true if switch else on_false,)


class ListOf:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"start": ("INT", {"default": 0, "min": -1000, "max": 1000}),
                             "count": ("INT", {"default": 3, "min": 0, "max": 100})}}

    RETURN_TYPES = ("INT",)
    OUTPUT_IS_LIST = (True,)
    FUNCTION = "run"
    CATEGORY = "testing"

    def run(self, start, count):
        return (list(range(start, start + count)),)


class SumList:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"values": ("INT", {"forceInput": True})}}

    RETURN_TYPES = ("INT",)
    INPUT_IS_LIST = True
    FUNCTION = "run"
    CATEGORY = "testing"

    def run(self, values):
        return (sum(values),)


class AlwaysChanged:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 1, "min": 0, "max": 10})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "testing"

    @classmethod
    def IS_CHANGED(cls, value):
        return float("nan")

    def run(self, value):
        _count("AlwaysChanged")
        return (value,)


class Unique:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 1, "min": 0, "max": 10})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    NOT_IDEMPOTENT = True
    CATEGORY = "testing"

    @classmethod
    def VALIDATE_INPUTS(cls, value):
        return True if value != 7 else "seven is not allowed"

    def run(self, value):
        _count("Unique")
        return (value,)
