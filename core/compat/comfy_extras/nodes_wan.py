"""ComfyUI's ``comfy_extras.nodes_wan``: our built-in classes under the names ComfyUI keeps there;
any other name is a placeholder that raises, naming itself, when a plugin uses it (_builtins.py)."""
from ._builtins import stand_in

__getattr__ = stand_in(__name__, globals())
