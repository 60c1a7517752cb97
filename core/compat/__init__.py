"""Importable stand-ins for the ComfyUI modules custom node packs use (reference §4.2).

Packs do ``import folder_paths``, ``import comfy.utils``, ``import comfy.model_management``,
``import comfy.samplers``, ``from server import PromptServer`` and ``import nodes``. The custom node
loader puts this folder on ``sys.path`` before importing packs, so those names resolve to the thin
modules here, which delegate to core (core.paths, core.progress, core.devices, core.sampling);
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


def set_prompt_server(real_server) -> None:
    """Called by the HTTP server once it exists: packs' ``PromptServer.instance`` becomes it.

    Routes that packs registered on the stand-in before that are available from
    :func:`pending_routes` so the server can add them to its application.
    """
    ensure_on_path()
    import server

    server.PromptServer.install(real_server)


def pending_routes():
    """aiohttp RouteTableDef of routes packs added before the real server was installed."""
    ensure_on_path()
    import server

    return server.PromptServer.standalone().routes
