"""Routes the official ComfyUI frontend calls besides the job and file API (docs/api.md,
"Official frontend"): the Model Library (``/experiment/models``), custom node translations
(``/i18n``), subgraph blueprints (``/global_subgraphs``) and node replacements (``/node_replacements``).
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
from pathlib import Path

from aiohttp import web

from core.server import imaging
from core.server.jsonio import json_response
from core.server.security import Refused, resolve_under
from core.server.state import state

log = logging.getLogger(__name__)

HIDDEN_MODEL_FOLDERS = ("configs", "custom_nodes")
MODEL_SUFFIXES = (".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft")
PREVIEW_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp")
LOCALE_EXTRA_FILES = ("nodeDefs", "commands", "settings")  # merged into each language under their name


# --- Model Library ------------------------------------------------------------------------------
async def model_folders(request):
    folders = state(request).folders
    return json_response([{"name": key, "folders": [str(p) for p in folders.folder_paths(key)]}
                              for key in folders.known_folders() if key not in HIDDEN_MODEL_FOLDERS])


def _model_files(directory: Path, index: int) -> list:
    out = []
    for root, dirs, names in os.walk(directory, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.startswith(".") or not name.lower().endswith(MODEL_SUFFIXES):
                continue
            path = os.path.join(root, name)
            try:
                st = os.stat(path)
            except OSError as e:
                log.warning("model library: cannot read %s: %s", path, e)
                continue
            out.append({"name": os.path.relpath(path, directory).replace(os.sep, "/"), "pathIndex": index,
                        "modified": st.st_mtime, "created": st.st_ctime, "size": st.st_size})
    return out


async def models_in_folder(request):
    """Every model file of one folder type: relative name, which of the type's folders, times, size."""
    folders = state(request).folders
    try:
        dirs = folders.folder_paths(request.match_info["folder"])
    except KeyError:
        return web.Response(status=404)
    loop = asyncio.get_running_loop()
    out = []
    for index, directory in enumerate(dirs):
        if Path(directory).is_dir():
            out.extend(await loop.run_in_executor(None, _model_files, Path(directory), index))
    return json_response(out)


def _preview_picture(model: Path):
    """(path, (width, height, mode)) of the readable picture stored beside the model (``name.png`` or
    ``name.preview.png``, any image type), or None; only headers are read here."""
    stem = model.with_suffix("")
    for base in (stem, stem.with_name(stem.name + ".preview")):
        for suffix in PREVIEW_SUFFIXES:
            candidate = base.with_name(base.name + suffix)
            if candidate.is_file():
                try:
                    return candidate, imaging.probe(candidate)
                except Refused:
                    continue
    return None


async def model_preview(request):
    folders = state(request).folders
    try:
        dirs = folders.folder_paths(request.match_info["folder"])
        index = int(request.match_info["path_index"])
        if index < 0:
            raise IndexError(index)
        directory = dirs[index]
    except (KeyError, ValueError, IndexError):
        return web.Response(status=404)
    rel = request.match_info["filename"]
    sub, _, name = rel.rpartition("/")
    path = resolve_under(directory, sub, name)
    loop = asyncio.get_running_loop()
    found = await loop.run_in_executor(None, _preview_picture, path)
    if found is None:
        return web.Response(status=404)
    picture, (width, height, mode) = found
    # decoded under the server's image budget, as /view's previews are (core/server/imaging.py)
    cost = imaging.view_cost(width, height, mode, "rgba", "webp")
    st = state(request)
    st.decodes.check(width, height, cost, f"preview {picture.name!r}")
    async with st.decodes.reserve(cost):
        try:
            data = await loop.run_in_executor(None, imaging.to_webp, picture)
        except (OSError, ValueError, SyntaxError):
            return web.Response(status=404)
    return web.Response(body=data, content_type="image/webp")


# --- custom node packs' locales, blueprints -----------------------------------------------------
def _pack_dirs(registry) -> list:
    return [(name, Path(path)) for name, path, _s in getattr(registry, "loaded_packs", ()) if Path(path).is_dir()]


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as e:
        log.warning("i18n: %s is not readable JSON (%s); skipped", path, e)
        return {}
    return data if isinstance(data, dict) else {}


def _merge(into: dict, new: dict) -> dict:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value
    return into


def translations(registry) -> dict:
    """``{lang: {...main.json keys, "nodeDefs": ..., "commands": ..., "settings": ...}}`` of every pack."""
    out: dict = {}
    for _name, pack in sorted(_pack_dirs(registry)):
        locales = pack / "locales"
        if not locales.is_dir():
            continue
        for lang_dir in sorted(p for p in locales.iterdir() if p.is_dir()):
            found = _read_json(lang_dir / "main.json") if (lang_dir / "main.json").is_file() else {}
            for extra in LOCALE_EXTRA_FILES:
                if (lang_dir / f"{extra}.json").is_file():
                    found[extra] = _read_json(lang_dir / f"{extra}.json")
            if found:
                _merge(out.setdefault(lang_dir.name, {}), found)
    return out


async def i18n(request):
    return json_response(translations(state(request).registry))


def blueprints(registry) -> dict:
    """id -> (entry, file) for the ``subgraphs/*.json`` of every loaded pack; ids are stable across restarts."""
    out = {}
    for name, pack in _pack_dirs(registry):
        for path in sorted((pack / "subgraphs").glob("*.json")):
            blueprint_id = hashlib.sha256(f"custom_node:{name}/{path.name}".encode()).hexdigest()
            out[blueprint_id] = ({"source": "custom_node", "name": path.stem,
                                  "info": {"node_pack": f"custom_nodes.{name}"}}, path)
    return out


async def global_subgraphs(request):
    return json_response({bid: entry for bid, (entry, _p) in blueprints(state(request).registry).items()})


async def global_subgraph(request):
    found = blueprints(state(request).registry).get(request.match_info["id"])
    if found is None:
        return json_response({"error": "no such subgraph blueprint"}, status=404)
    entry, path = found
    try:
        data = path.read_text(encoding="utf-8")
    except OSError as e:
        return json_response({"error": f"blueprint {entry['name']} cannot be read: {e}"}, status=404)
    return json_response({**entry, "data": data})


async def node_replacements(request):
    """Old node type -> replacements a pack registered; the registry has none unless a pack adds them."""
    replacements = getattr(state(request).registry, "node_replacements", None) or {}
    return json_response(replacements)


ROUTES = [
    ("GET", "/experiment/models", model_folders), ("GET", "/experiment/models/{folder}", models_in_folder),
    ("GET", "/experiment/models/preview/{folder}/{path_index}/{filename:.+}", model_preview),
    ("GET", "/i18n", i18n),
    ("GET", "/global_subgraphs", global_subgraphs), ("GET", "/global_subgraphs/{id}", global_subgraph),
    ("GET", "/node_replacements", node_replacements),
]
