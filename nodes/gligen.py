"""GLIGEN nodes: load a GLIGEN file, and ground a phrase in a box of the image (core/models/gligen.py)."""
from __future__ import annotations

from core import paths
from core.execution.spec import MAX_RESOLUTION, Combo, In, Int, Node, Output, String


class GLIGENLoader(Node):
    CATEGORY = "loaders"
    COMFY_FUNCTION = "load_gligen"
    INPUTS = (Combo(name="gligen_name", choices=lambda: paths.get().get_filename_list("gligen")),)
    OUTPUTS = (Output("GLIGEN"),)

    def execute(self, gligen_name):
        from core import devices
        from core.models.gligen import load

        try:
            path = paths.get().get_full_path_or_raise("gligen", gligen_name)
        except FileNotFoundError as e:
            raise ValueError(f"GLIGENLoader, input 'gligen_name': {e}") from e
        try:
            return (load(path, dtype=devices.unet_dtype(devices.get_torch_device())),)
        except (ValueError, OSError, KeyError) as e:
            raise ValueError(f"GLIGENLoader, input 'gligen_name': cannot load {gligen_name!r}: {e}") from e


class GLIGENTextBoxApply(Node):
    CATEGORY = "conditioning/gligen"
    COMFY_FUNCTION = "append"
    INPUTS = (In("CONDITIONING", "conditioning_to"), In("CLIP", "clip"), In("GLIGEN", "gligen_textbox_model"),
              String("text", multiline=True, dynamic_prompts=True),
              Int("width", default=64, min=8, max=MAX_RESOLUTION, step=8),
              Int("height", default=64, min=8, max=MAX_RESOLUTION, step=8),
              Int("x", default=0, min=0, max=MAX_RESOLUTION, step=8),
              Int("y", default=0, min=0, max=MAX_RESOLUTION, step=8))
    OUTPUTS = (Output("CONDITIONING"),)

    def execute(self, conditioning_to, clip, gligen_textbox_model, text, width, height, x, y):
        if clip is None:
            raise ValueError("GLIGENTextBoxApply, input 'clip': no text encoder (the checkpoint has none)")
        # the phrase's pooled embedding before any text projection: what GLIGEN's grounding tokens were
        # trained on (CLIP-L's final-norm end-of-text state)
        _, pooled = clip.encode_from_tokens(clip.tokenize(text), return_pooled="unprojected")
        box = (pooled, height // 8, width // 8, y // 8, x // 8)  # latent units: (h, w, y, x)
        out = []
        for context, opts in conditioning_to:
            previous = opts["gligen"][2] if opts.get("gligen") is not None else []
            out.append([context, {**opts, "gligen": ("position", gligen_textbox_model, [*previous, box])}])
        return (out,)


NODES = [GLIGENLoader, GLIGENTextBoxApply]
