"""Static files with the right Content-Type: the frontends' code, fonts and pictures, template files.

aiohttp guesses types from its own table, built from the system's at import, which on many systems
lacks webp, woff2 or wasm; with ``nosniff`` set on every response a wrong type breaks the page.
"""
from __future__ import annotations

import mimetypes
from pathlib import Path

from aiohttp import web

for _type, _ext in (("application/javascript", ".js"), ("application/javascript", ".mjs"), ("text/css", ".css"),
                    ("image/webp", ".webp"), ("font/woff2", ".woff2"), ("font/woff", ".woff"),
                    ("application/wasm", ".wasm"), ("image/svg+xml", ".svg"), ("application/json", ".json")):
    mimetypes.add_type(_type, _ext)


def typed_file(path: Path, headers: dict | None = None) -> web.FileResponse:
    ctype, _encoding = mimetypes.guess_type(path.name)
    return web.FileResponse(path, headers={**(headers or {}), "Content-Type": ctype or "application/octet-stream"})
