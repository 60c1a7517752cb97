"""ComfyUI's old ``comfy_extras.chainner_models`` package: upscaler loading via spandrel."""
