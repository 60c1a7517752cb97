"""``comfy_extras.nodes_*``: the modules where ComfyUI keeps built-in node classes, mapped onto ours."""
