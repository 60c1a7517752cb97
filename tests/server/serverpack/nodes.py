"""Server-test nodes: arithmetic, a UI output, a slow node with progress and previews, a failing node,
a journal that records every execution on disk (for the crash test), and a PNG writer."""
import time


class Number:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 1, "min": -1000, "max": 1000})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "testing"

    def run(self, value):
        return (value,)


class Sum:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"a": ("INT", {"forceInput": True}), "b": ("INT", {"forceInput": True})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "testing"

    def run(self, a, b):
        return (a + b,)


class Show:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"forceInput": True})}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True
    CATEGORY = "testing"

    def run(self, value):
        return {"ui": {"text": [str(value)]}, "result": ()}


class Slow:
    """Sleeps ``steps`` times, reporting progress and a small preview image each step."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 1, "min": -1000, "max": 1000}),
                             "steps": ("INT", {"default": 3, "min": 1, "max": 1000}),
                             "delay": ("FLOAT", {"default": 0.01, "min": 0.0, "max": 10.0})},
                "optional": {"preview": ("BOOLEAN", {"default": True})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "testing"

    def run(self, value, steps, delay, preview=True):
        from core.execution.progress import ProgressBar

        bar = ProgressBar(steps)
        for i in range(steps):
            time.sleep(delay)
            image = None
            if preview:
                from PIL import Image
                image = Image.new("RGB", (16, 8), (i * 40 % 256, 0, 0))
            bar.update(1, preview=image)
        return (value,)


class Boom:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"forceInput": True})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "testing"

    def run(self, value):
        raise ValueError(f"boom on {value}")


class Journal:
    """Appends its tag to output/journal.txt when it runs: the crash test counts executions."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"tag": ("STRING", {"default": "x"}),
                             "delay": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 60.0})}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True
    CATEGORY = "testing"

    @classmethod
    def IS_CHANGED(cls, tag, delay):
        return float("nan")  # every job runs, even with the same tag

    def run(self, tag, delay):
        from core import paths

        out = paths.get().output_dir
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "journal.txt", "a", encoding="utf-8") as f:
            f.write(f"start {tag}\n")
        deadline = time.time() + delay
        from core.execution.progress import check_interrupt
        while time.time() < deadline:
            check_interrupt()
            time.sleep(0.02)
        with open(out / "journal.txt", "a", encoding="utf-8") as f:
            f.write(f"done {tag}\n")
        return {"ui": {"text": [tag]}, "result": ()}


class WritePng:
    """Writes a tiny PNG into the output folder and reports it like SaveImage does."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 7, "min": 0, "max": 255}),
                             "filename_prefix": ("STRING", {"default": "srv"})}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True
    CATEGORY = "testing"

    def run(self, value, filename_prefix):
        from PIL import Image
        from core import paths

        out = paths.get().output_dir
        out.mkdir(parents=True, exist_ok=True)
        name = f"{filename_prefix}_{value:05d}_.png"
        Image.new("RGB", (4, 4), (value, value, value)).save(out / name)
        return {"ui": {"images": [{"filename": name, "subfolder": "", "type": "output"}]}, "result": ()}
