"""ComfyUI's ``/internal`` routes, which only its frontend calls: the Logs panel (``/internal/logs``,
``/internal/logs/raw``, ``PATCH /internal/logs/subscribe``), ``/internal/folder_paths`` and
``/internal/files/{type}``. They answer bare only, never under ``/api``, as ComfyUI's do.
"""
from __future__ import annotations

import os

from aiohttp import web

from core.server.jsonio import json_response, read_json
from core.server.logbuffer import LogBuffer, terminal_size
from core.server.state import state

LOGS = web.AppKey("latentflow_logs", LogBuffer)
FILE_KINDS = ("output", "input", "temp")


async def logs_text(request):
    """All buffered lines as one string (the frontend shows it as is)."""
    return json_response("".join(f"{e['t']} - {e['m']}" for e in request.app[LOGS].snapshot()))


async def logs_raw(request):
    return json_response({"entries": request.app[LOGS].snapshot(), "size": terminal_size()})


async def logs_subscribe(request):
    body = await read_json(request)  # strict: BadJSON is a 400 from the middleware
    client_id = body.get("clientId") if isinstance(body, dict) else None
    if not isinstance(client_id, str) or not client_id:
        return json_response({"error": "expected {\"clientId\": string, \"enabled\": bool}"}, status=400)
    request.app[LOGS].subscribe(client_id, bool(body.get("enabled")))
    return web.Response(status=200)


async def folder_paths(request):
    """Every model folder type with its directories (as ComfyUI's folder_names_and_paths lists them)."""
    folders = state(request).folders
    out = {key: [str(p) for p in folders.folder_paths(key)] for key in folders.known_folders()}
    out["custom_nodes"] = [str(p) for p in folders.folder_paths("custom_nodes")]
    return json_response(out)


async def files(request):
    """Names of the files directly in the output, input or temp folder, newest first."""
    kind = request.match_info["directory_type"]
    if kind not in FILE_KINDS:
        return json_response({"error": f"directory type must be one of {', '.join(FILE_KINDS)}"}, status=400)
    directory = state(request).folders.directory_for(kind)
    try:
        entries = [e for e in os.scandir(directory) if e.is_file() and not e.name.startswith(".")]
    except FileNotFoundError:
        entries = []
    entries.sort(key=lambda e: -e.stat().st_mtime)
    return json_response([e.name for e in entries])


ROUTES = [
    ("GET", "/internal/logs", logs_text), ("GET", "/internal/logs/raw", logs_raw),
    ("PATCH", "/internal/logs/subscribe", logs_subscribe),
    ("GET", "/internal/folder_paths", folder_paths), ("GET", "/internal/files/{directory_type}", files),
]
