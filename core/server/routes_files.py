"""File routes: /view, /upload/image, /upload/mask (docs/comfy-api.md §1.6-1.7) and the minimal per-user storage
the canvas needs to save workflows and settings (/userdata, /v2/userdata, /settings, /users).

Every path goes through :func:`core.server.security.resolve_under` (symlinks resolved, then checked against
the root); uploads must be real images (Pillow parses them) and are stored under sanitised names.
"""
from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import os
import tempfile
from pathlib import Path

from aiohttp import web

from core.server import imaging, jsonio
from core.server.jsonio import error_response, json_response
from core.server.security import (Refused, content_disposition, file_response_headers, resolve_dir_under,
                                  resolve_under, sanitize_filename)
from core.server.state import state

log = logging.getLogger(__name__)

KINDS = ("output", "input", "temp")
PIL_FORMATS = {"PNG", "JPEG", "MPO", "WEBP", "BMP", "GIF", "TIFF"}
SETTINGS_FILE = "comfy.settings.json"


def _root(st, kind: str) -> Path:
    if kind not in KINDS:
        raise Refused(400, f"type must be one of {', '.join(KINDS)}")
    return Path(st.folders.directory_for(kind))


# --- /view --------------------------------------------------------------------------------------
async def view(request):
    st = state(request)
    filename = request.query.get("filename")
    if not filename:
        return error_response("filename is required", 404)
    kind = request.query.get("type", "output") or "output"
    for k in KINDS:
        if filename.endswith(f" [{k}]"):
            filename, kind = filename[: -len(k) - 3], k
            break
    path = resolve_under(_root(st, kind), request.query.get("subfolder", ""), filename)
    if not path.is_file():
        return error_response(f"{filename!r} not found", 404)
    preview = request.query.get("preview")
    channel = request.query.get("channel", "rgba")
    if preview or channel in ("rgb", "a"):
        body, ctype = await _decode_budgeted(st, path, preview, channel)
        name = path.stem + "." + ctype.split("/")[1]
        return web.Response(body=body, headers={"Content-Type": ctype, "Cache-Control": "no-cache",
                                                "Content-Disposition": content_disposition("inline", name)})
    return web.FileResponse(path, headers=file_response_headers(path))


async def _decode_budgeted(st, path: Path, preview, channel):
    loop = asyncio.get_running_loop()
    width, height, mode = await loop.run_in_executor(None, imaging.probe, path)
    cost = imaging.view_cost(width, height, mode, channel, preview)
    st.decodes.check(width, height, cost, f"image {path.name!r}")
    async with st.decodes.reserve(cost):
        try:
            return await loop.run_in_executor(None, imaging.reencode, path, preview, channel)
        except (OSError, ValueError, SyntaxError) as e:
            raise Refused(400, f"image {path.name!r} could not be decoded or re-encoded "
                                f"({str(e).replace(str(path), path.name)})") from None


# --- uploads ------------------------------------------------------------------------------------
def _check_image(data: bytes):
    """Pillow must recognise the bytes as one of the accepted raster formats (no SVG, no HTML)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format
            img.verify()
    except Exception as e:
        raise Refused(400, f"the uploaded file is not a readable image ({type(e).__name__})") from None
    if fmt not in PIL_FORMATS:
        raise Refused(400, f"image format {fmt} is not accepted")


def _write_atomic(path: Path, data: bytes):
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _store_upload(root: Path, subfolder: str, name: str, data: bytes, overwrite: bool) -> str:
    directory = resolve_dir_under(root, subfolder)
    directory.mkdir(parents=True, exist_ok=True)
    target = resolve_under(root, subfolder, name)
    if target.exists() and not overwrite:
        digest = hashlib.sha256(data).digest()
        stem, ext = os.path.splitext(name)
        i = 1
        while target.exists():
            if target.is_file() and hashlib.sha256(target.read_bytes()).digest() == digest:
                return target.name  # byte-identical file already there: reuse it
            name = f"{stem} ({i}){ext}"
            target = resolve_under(root, subfolder, name)
            i += 1
    _write_atomic(target, data)
    return target.name


async def _read_upload(request):
    post = await request.post()
    image = post.get("image")
    if image is None or not hasattr(image, "file") or not image.filename:
        raise Refused(400, "no file in the 'image' field")
    kind = post.get("type", "input") or "input"
    subfolder = post.get("subfolder", "") or ""
    if not isinstance(kind, str) or not isinstance(subfolder, str):
        raise Refused(400, "type and subfolder must be text fields")
    overwrite = str(post.get("overwrite", "")).lower() in ("true", "1")
    return post, image, kind, subfolder, overwrite


async def upload_image(request):
    st = state(request)
    _post, image, kind, subfolder, overwrite = await _read_upload(request)
    root = _root(st, kind)
    name = sanitize_filename(image.filename)
    data = image.file.read()
    _check_image(data)
    loop = asyncio.get_running_loop()
    final = await loop.run_in_executor(None, _store_upload, root, subfolder, name, data, overwrite)
    return json_response({"name": final, "subfolder": subfolder, "type": kind})


async def upload_mask(request):
    st = state(request)
    post, image, kind, subfolder, overwrite = await _read_upload(request)
    ref = _original_ref(post.get("original_ref"))
    original = resolve_under(_root(st, ref.get("type") or "output"), ref.get("subfolder") or "", ref["filename"])
    if not original.is_file():
        return error_response(f"original image {ref['filename']!r} not found", 404)
    root = _root(st, kind)
    name = sanitize_filename(image.filename)
    data = image.file.read()
    _check_image(data)
    loop = asyncio.get_running_loop()
    first = await loop.run_in_executor(None, imaging.probe, original)
    mask = await loop.run_in_executor(None, imaging.probe, data)
    cost = imaging.mask_cost(first, mask)
    st.decodes.check(first[0], first[1], cost, f"image {original.name!r} with its mask")
    st.decodes.check(mask[0], mask[1], cost, "the mask")
    async with st.decodes.reserve(cost):
        try:
            merged = await loop.run_in_executor(None, imaging.merge_mask, original, data)
        except (OSError, ValueError, SyntaxError) as e:
            raise Refused(400, f"the mask could not be applied to {original.name!r} ({type(e).__name__})") from None
    final = await loop.run_in_executor(None, _store_upload, root, subfolder, name, merged, overwrite)
    return json_response({"name": final, "subfolder": subfolder, "type": kind})


def _original_ref(text) -> dict:
    """``original_ref``: JSON naming the image the mask belongs to; every field a string."""
    if not isinstance(text, str):
        raise Refused(400, "original_ref must be a JSON text field naming the original image")
    try:
        ref = jsonio.loads(text, "original_ref")
    except jsonio.BadJSON as e:
        raise Refused(400, str(e)) from None
    if not isinstance(ref, dict) or not isinstance(ref.get("filename"), str):
        raise Refused(400, "original_ref must be a JSON object with a 'filename' string")
    for key in ("type", "subfolder"):
        if ref.get(key) is not None and not isinstance(ref[key], str):
            raise Refused(400, f"original_ref.{key} must be a string, not {type(ref[key]).__name__}")
    return ref


# --- user storage -------------------------------------------------------------------------------
def _user_root(st) -> Path:
    root = Path(st.folders.user_dir) / "default"
    root.mkdir(parents=True, exist_ok=True)
    return root


def _user_path(st, rel: str) -> Path:
    rel = (rel or "").strip("/")
    if not rel:
        raise Refused(400, "file path required")
    sub, _, name = rel.rpartition("/")
    path = resolve_under(_user_root(st), sub, name)
    if ".." in rel.split("/"):
        raise Refused(403, "path outside the user folder")
    return path


def _info(root: Path, path: Path) -> dict:
    stat = path.stat()
    return {"path": path.relative_to(root).as_posix(), "size": stat.st_size, "modified": stat.st_mtime}


async def list_userdata(request):
    st = state(request)
    root = _user_root(st)
    directory = resolve_dir_under(root, request.query.get("dir", ""))
    if not directory.is_dir():
        return error_response("no such folder", 404)
    recurse = request.query.get("recurse", "").lower() == "true"
    full = request.query.get("full_info", "").lower() == "true"
    split = request.query.get("split", "").lower() == "true"
    files = sorted(p for p in (directory.rglob("*") if recurse else directory.iterdir()) if p.is_file())
    out = []
    for p in files:
        rel = p.relative_to(directory).as_posix()
        if full:
            out.append({**_info(directory, p), "path": rel})
        elif split:
            out.append([rel, *rel.split("/")])
        else:
            out.append(rel)
    return json_response(out)


async def list_userdata_v2(request):
    st = state(request)
    root = _user_root(st)
    directory = resolve_dir_under(root, request.query.get("path", ""))
    if not directory.is_dir():
        return error_response("no such folder", 404)
    out = []
    for p in sorted(directory.iterdir()):
        entry = {"name": p.name, "path": p.relative_to(root).as_posix(),
                 "type": "directory" if p.is_dir() else "file"}
        if p.is_file():
            stat = p.stat()
            entry.update(size=stat.st_size, modified=stat.st_mtime)
        out.append(entry)
    return json_response(out)


async def get_userdata(request):
    path = _user_path(state(request), request.match_info["file"])
    if not path.is_file():
        return error_response("no such file", 404)
    return web.FileResponse(path, headers=file_response_headers(path))


async def post_userdata(request):
    st = state(request)
    path = _user_path(st, request.match_info["file"])
    overwrite = request.query.get("overwrite", "true").lower() != "false"
    if path.exists() and not overwrite:
        return error_response("file exists (pass overwrite=true to replace it)", 409)
    body = await request.read()
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, body)
    if request.query.get("full_info", "").lower() == "true":
        return json_response(_info(_user_root(st), path))
    return json_response(path.relative_to(_user_root(st)).as_posix())


async def delete_userdata(request):
    path = _user_path(state(request), request.match_info["file"])
    if not path.is_file():
        return error_response("no such file", 404)
    path.unlink()
    return web.Response(status=204)


async def move_userdata(request):
    st = state(request)
    src = _user_path(st, request.match_info["file"])
    dest = _user_path(st, request.match_info["dest"])
    if not src.is_file():
        return error_response("no such file", 404)
    if dest.exists() and request.query.get("overwrite", "true").lower() == "false":
        return error_response("destination exists (pass overwrite=true to replace it)", 409)
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dest)
    if request.query.get("full_info", "").lower() == "true":
        return json_response(_info(_user_root(st), dest))
    return json_response(dest.relative_to(_user_root(st)).as_posix())


def _settings_path(st) -> Path:
    return _user_root(st) / SETTINGS_FILE


def _load_settings(st) -> dict:
    try:
        text = _settings_path(st).read_text(encoding="utf-8")
    except OSError:
        return {}
    try:
        data = jsonio.loads(text, SETTINGS_FILE)
    except jsonio.BadJSON:
        # written by an older version or by hand: read it leniently, but never hand NaN to a client
        try:
            data = jsonio.sanitize(json.loads(text))
        except (ValueError, RecursionError):
            log.warning("%s is not JSON; starting from empty settings", _settings_path(st))
            return {}
    return data if isinstance(data, dict) else {}


def _save_settings(st, settings: dict):
    _write_atomic(_settings_path(st), jsonio.dumps(settings, indent=1).encode())


async def get_settings(request):
    return json_response(_load_settings(state(request)))


async def get_setting(request):
    return json_response(_load_settings(state(request)).get(request.match_info["id"]))


_EMPTY = object()


async def post_settings(request):
    st = state(request)
    body = await jsonio.read_json(request, what="settings")
    if not isinstance(body, dict):
        return error_response("settings must be a JSON object of setting ids to values")
    settings = _load_settings(st)
    settings.update(body)
    _save_settings(st, settings)
    return web.Response(status=200)


async def post_setting(request):
    st = state(request)
    setting = request.match_info["id"]
    value = await jsonio.read_json(request, default=_EMPTY, what=f"the value of setting {setting!r}")
    if value is _EMPTY:
        return error_response(f"no value for setting {setting!r}: the body must be its JSON value")
    settings = _load_settings(st)
    settings[setting] = value
    _save_settings(st, settings)
    return web.Response(status=200)


async def get_users(request):
    return json_response({"storage": "server", "migrated": True})


async def post_users(request):
    return json_response({"error": "multi-user mode is not supported; everyone is 'default'"}, status=400)


ROUTES = [
    ("GET", "/view", view), ("POST", "/upload/image", upload_image), ("POST", "/upload/mask", upload_mask),
    ("GET", "/userdata", list_userdata), ("GET", "/v2/userdata", list_userdata_v2),
    ("GET", "/userdata/{file}", get_userdata), ("POST", "/userdata/{file}", post_userdata),
    ("DELETE", "/userdata/{file}", delete_userdata), ("POST", "/userdata/{file}/move/{dest}", move_userdata),
    ("GET", "/settings", get_settings), ("POST", "/settings", post_settings),
    ("GET", "/settings/{id}", get_setting), ("POST", "/settings/{id}", post_setting),
    ("GET", "/users", get_users), ("POST", "/users", post_users),
]
