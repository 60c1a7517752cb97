"""ComfyUI's ``comfy_extras.nodes_canny``: our built-in classes under the names ComfyUI keeps there; its other names
are placeholders that raise, naming themselves, when a plugin uses them (nodes/_comfy.py)."""
from ._builtins import stand_in

__getattr__ = stand_in(__name__, globals())
