"""Networks in the original LDM key layout, checkpoint loading and architecture detection.

Import submodules directly (``core.models.checkpoint``, ``core.models.unet``...); this package
imports nothing so that the node catalogue loads without torch.
"""
