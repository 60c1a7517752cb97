"""ComfyUI's ``comfy.k_diffusion`` package (only ``sampling`` is provided)."""
