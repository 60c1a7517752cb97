"""Importable stand-ins for the ComfyUI modules custom node packs use (docs/comfy-api.md §4.2).

Packs do ``import folder_paths``, ``import comfy.utils``, ``import comfy.model_management``,
``import comfy.samplers``, ``from server import PromptServer`` and ``import nodes``. The custom node
loader puts this folder on ``sys.path`` before importing packs, so those names resolve to the thin
modules here, which delegate to core (core.paths, core.execution.progress, core.devices, core.sampling);
``nodes`` is our real built-in package. Core never imports these modules back.
"""
from __future__ import annotations

import sys
from pathlib import Path

COMPAT_DIR = Path(__file__).resolve().parent


def ensure_on_path() -> None:
    """Make ``folder_paths``, ``comfy`` and ``server`` importable as top-level modules."""
    path = str(COMPAT_DIR)
    if path not in sys.path:
        sys.path.insert(0, path)


def pending_routes():
    """aiohttp RouteTableDef of the routes packs declared; the server adds them when it starts."""
    ensure_on_path()
    import server

    return server.PromptServer.standalone().routes


def prompt_server():
    """``server.PromptServer.instance``: the object packs register routes and prompt hooks on."""
    ensure_on_path()
    import server

    return server.PromptServer.instance
