"""``comfy_execution``: graph building, execution blockers and progress for packs, over core.execution."""
