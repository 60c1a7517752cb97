"""Stand-in for ComfyUI's ``comfy`` package: only the modules simple custom node packs import."""
