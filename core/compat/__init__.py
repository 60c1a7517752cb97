"""Importable stand-ins for the ComfyUI modules custom node packs use (docs/comfy-api.md §4.2).

Packs do ``import folder_paths``, ``import comfy.sd``, ``import comfy.samplers``, ``import node_helpers``,
``from server import PromptServer`` and ``import nodes``. The custom node loader puts this folder on
``sys.path`` before importing packs, so those names resolve to the thin modules here, which delegate to
core (core.paths, core.models, core.sampling, core.devices, core.execution.progress); ``nodes`` is our
real built-in package. ComfyUI names we do not provide fail where they are used (missing.py). The
supported surface is listed in docs/custom_nodes.md. Core never imports these modules back.
"""
from __future__ import annotations

import sys
from pathlib import Path

COMPAT_DIR = Path(__file__).resolve().parent


def ensure_on_path() -> None:
    """Make ``folder_paths``, ``comfy``, ``server``, ``node_helpers`` ... importable as top-level modules,
    and every other ComfyUI module name importable as placeholders that fail when used (missing.py)."""
    from core.compat import missing

    path = str(COMPAT_DIR)
    if path not in sys.path:
        sys.path.insert(0, path)
    missing.install()


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
