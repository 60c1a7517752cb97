"""A pure-Python node pack for the server tests, written in ComfyUI's classic interface.

It is registered the way third-party packs are (NODE_CLASS_MAPPINGS, WEB_DIRECTORY), so the server is
tested against exactly what plugins hand it.
"""
from .nodes import Boom, Journal, Number, Show, Slow, Sum, WritePng

NODE_CLASS_MAPPINGS = {"SrvNumber": Number, "SrvSum": Sum, "SrvShow": Show, "SrvSlow": Slow, "SrvBoom": Boom,
                       "SrvJournal": Journal, "SrvWritePng": WritePng}
NODE_DISPLAY_NAME_MAPPINGS = {"SrvNumber": "Number (server test)"}
WEB_DIRECTORY = "web"


def build_registry():
    """A registry holding this pack, registered as a custom node pack with its web directory."""
    from pathlib import Path

    from core.execution.registry import NodeRegistry

    registry = NodeRegistry()
    for name, cls in NODE_CLASS_MAPPINGS.items():
        registry.register(cls, name, display_name=NODE_DISPLAY_NAME_MAPPINGS.get(name), module="custom_nodes.serverpack")
    registry.web_directories["serverpack"] = str(Path(__file__).resolve().parent / WEB_DIRECTORY)
    return registry
