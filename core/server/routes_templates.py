"""Workflow templates for the official frontend's templates browser.

- ``GET /templates/{path}`` (bare, a static file route as in ComfyUI): the core templates' index
  (``index.json``, its translations, ``index_logo.json``), workflow files, thumbnails and logos,
  read from the installed template packages (PyPI ``comfyui-workflow-templates`` and the bundles it
  pulls in: ``comfyui_workflow_templates_json``, ``comfyui_workflow_templates_media_*``). They are an
  optional dependency: without them every path is 404 and the frontend shows no core templates.
- ``GET /workflow_templates``: ``{pack: [workflow names]}`` for the custom node packs that ship
  example workflows (``example_workflows/`` or the older folder names), and
  ``GET /workflow_templates/{pack}/{file}`` serves those files and their thumbnails.
- ``GET /docs/{path}``: core nodes' help pages from PyPI ``comfyui-embedded-docs``, when installed
  (optional too; without it every /docs path is 404).
"""
from __future__ import annotations

import asyncio
import importlib.util
import logging
import pkgutil
from functools import lru_cache
from pathlib import Path

from aiohttp import web

from core.server.jsonio import json_response
from core.server.security import resolve_under
from core.server.state import state
from core.server.static import typed_file

log = logging.getLogger(__name__)

PACKAGE_PREFIX = "comfyui_workflow_templates"
DOCS_PACKAGE = "comfyui_embedded_docs"
# ComfyUI looks for a pack's templates in these folders, the first being the documented one.
EXAMPLE_FOLDERS = ("example_workflows", "example", "examples", "workflow", "workflows")


@lru_cache(maxsize=1)
def template_roots() -> tuple:
    """The ``templates/`` folders of every installed template package, the JSON bundle first."""
    roots = []
    names = sorted(m.name for m in pkgutil.iter_modules() if m.name.startswith(PACKAGE_PREFIX))
    names.sort(key=lambda n: not n.endswith("_json"))  # index.json lives in the JSON bundle
    for name in names:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        for location in (spec.submodule_search_locations or []) if spec else []:
            folder = Path(location) / "templates"
            if folder.is_dir():
                roots.append(folder)
    if not roots:
        log.info("no workflow template packages installed (pip install comfyui-workflow-templates)")
    return tuple(roots)


def find_template_file(rel: str) -> Path | None:
    sub, _, name = rel.rpartition("/")
    for root in template_roots():
        path = resolve_under(root, sub, name)
        if path.is_file():
            return path
    return None


async def template_file(request):
    # the first call scans the installed packages (a few hundred ms): off the event loop
    path = await asyncio.get_running_loop().run_in_executor(None, find_template_file, request.match_info["path"])
    if path is None:
        return web.Response(status=404)
    return typed_file(path, {"Cache-Control": "max-age=3600"})


@lru_cache(maxsize=1)
def embedded_docs_root() -> Path | None:
    """The ``docs/`` folder of PyPI ``comfyui-embedded-docs`` (core nodes' help pages), when installed."""
    try:
        spec = importlib.util.find_spec(DOCS_PACKAGE)
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        if (Path(location) / "docs").is_dir():
            return Path(location) / "docs"
    return None


async def docs_file(request):
    """``/docs/{node}/{locale}.md`` and the pictures they show: the official frontend's node help."""
    root = embedded_docs_root()
    if root is None:
        return web.Response(status=404)
    sub, _, name = request.match_info["path"].rpartition("/")
    path = resolve_under(root, sub, name)
    return typed_file(path) if path.is_file() else web.Response(status=404)


def pack_example_dirs(registry) -> list:
    """(pack name, folder) of each loaded custom node pack's example-workflow folders."""
    out = []
    for name, path, _seconds in getattr(registry, "loaded_packs", ()):
        pack = Path(path)
        if pack.is_file():  # a single-file pack has no folders
            continue
        for folder in EXAMPLE_FOLDERS:
            if (pack / folder).is_dir():
                out.append((name, pack / folder))
    return out


async def workflow_templates(request):
    out: dict = {}
    for name, folder in pack_example_dirs(state(request).registry):
        out.setdefault(name, []).extend(sorted(p.stem for p in folder.glob("*.json")))
    return json_response(out)


async def pack_template_file(request):
    module, rel = request.match_info["module"], request.match_info["path"]
    sub, _, name = rel.rpartition("/")
    for pack, folder in pack_example_dirs(state(request).registry):
        if pack != module:
            continue
        path = resolve_under(folder, sub, name)
        if path.is_file():
            return typed_file(path, {"Cache-Control": "no-cache"})
    return web.Response(status=404)


# (method, path, handler): API routes, answered bare and under /api
ROUTES = [("GET", "/workflow_templates", workflow_templates),
          ("GET", "/workflow_templates/{module}/{path:.+}", pack_template_file)]
# static routes of the page, bare only
STATIC_ROUTES = [("GET", "/templates/{path:.+}", template_file), ("GET", "/docs/{path:.+}", docs_file)]
