"""Catalogue and status routes: /object_info, /system_stats, /features, /models, /embeddings,
/extensions, /free, /view_metadata and the JSON Schemas of both workflow formats (docs/comfy-api.md §1.5, §1.8)."""
from __future__ import annotations

import logging
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from urllib.parse import quote

from aiohttp import web

from core.models.safetensors_header import WeightsError, read_safetensors_header
from core.server import runtime
from core.server.jsonio import error_response, json_response, read_json
from core.server.state import COMFYUI_COMPAT_VERSION, VERSION, state

log = logging.getLogger(__name__)

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "workflow" / "schemas"
SCHEMAS = {"prompt": "prompt.schema.json", "workflow": "workflow.schema.json"}


async def object_info(request):
    return json_response(state(request).registry.object_info())


async def object_info_node(request):
    registry = state(request).registry
    name = request.match_info["node_class"]
    if name not in registry:
        return json_response({})
    try:
        return json_response({name: registry.node_info(name)})
    except Exception:
        log.exception("object_info: node %s raised", name)
        return json_response({})


def _torch_version() -> str:
    try:
        return metadata.version("torch")  # without importing torch: start-up stays fast
    except metadata.PackageNotFoundError:
        return "not installed"


def devices_info(torch, ram_total: int, ram_free: int) -> list:
    """/system_stats ``devices``: each CUDA device of ``torch`` (a module, or None when it is not
    imported or the server runs on the CPU), else the CPU with the machine's RAM."""
    if torch is not None and torch.cuda.is_available():
        out = []
        for i in range(torch.cuda.device_count()):
            free, total = torch.cuda.mem_get_info(i)
            out.append({"name": f"cuda:{i} {torch.cuda.get_device_name(i)}", "type": "cuda", "index": i,
                        "vram_total": total, "vram_free": free,
                        "torch_vram_total": torch.cuda.memory_reserved(i),
                        "torch_vram_free": torch.cuda.memory_reserved(i) - torch.cuda.memory_allocated(i)})
        return out
    return [{"name": "cpu", "type": "cpu", "index": None, "vram_total": ram_total, "vram_free": ram_free,
             "torch_vram_total": ram_total, "torch_vram_free": ram_free}]


SECRET_FLAGS = ("--auth-token",)


def public_argv(argv) -> list:
    """The command line with secret flag values masked (``--auth-token T`` and ``--auth-token=T``)."""
    out, hide_next = [], False
    for arg in argv:
        arg = str(arg)
        if hide_next:
            out.append("***")
            hide_next = False
        elif arg in SECRET_FLAGS:
            out.append(arg)
            hide_next = True
        elif arg.split("=", 1)[0] in SECRET_FLAGS and "=" in arg:
            out.append(arg.split("=", 1)[0] + "=***")
        else:
            out.append(arg)
    return out


async def system_stats(request):
    st = state(request)
    if not await runtime.ready_soon():
        # the device set-up (importing torch) is still running on its thread: describing devices now
        # would read a half-imported module
        return error_response("the server is still setting up its devices; retry in a moment", 503,
                              headers={"Retry-After": str(runtime.RETRY_AFTER_S)})
    import psutil

    mem = psutil.virtual_memory()
    torch = None if st.config.cpu else sys.modules.get("torch")  # GPUs only once something imported torch
    devices, extra = devices_info(torch, mem.total, mem.available), {}
    workers_stats = getattr(st.worker, "workers_stats", None)
    if workers_stats is not None:  # --ray: the devices are the workers' (core/cluster/pool.py)
        import asyncio
        workers = await asyncio.to_thread(workers_stats)
        devices = [{**d, "worker_id": w["worker_id"]} for w in workers for d in w.get("devices", [])] or devices
        extra["workers"] = workers
    return json_response({
        "system": {"os": os.name, "platform": sys.platform, "ram_total": mem.total, "ram_free": mem.available,
                   "comfyui_version": COMFYUI_COMPAT_VERSION, "latentflow_version": VERSION,
                   "required_frontend_version": None, "python_version": sys.version,
                   "pytorch_version": _torch_version(), "embedded_python": False, "argv": public_argv(st.config.argv),
                   "machine": platform.machine(), "instance_id": st.instance_id,
                   "started": st.started, "recovered_jobs": list(st.store.recovered)},
        "devices": devices, **extra,
    })


def features_dict(st) -> dict:
    return {"supports_preview_metadata": True, "max_upload_size": st.config.max_upload_size,
            "extension": {"manager": {"supports_v4": False}},
            "auth": {"token_required": st.config.security.token is not None},
            "job_status_api": True, "ui_workflow_prompts": True}


async def features(request):
    return json_response(features_dict(state(request)))


async def embeddings(request):
    try:
        names = state(request).folders.get_filename_list("embeddings")
    except KeyError:
        names = []
    return json_response([os.path.splitext(n)[0] for n in names])


async def models(request):
    return json_response(state(request).folders.known_folders())


async def models_in_folder(request):
    folder = request.match_info["folder"]
    try:
        return json_response(state(request).folders.get_filename_list(folder))
    except KeyError:
        return error_response(f"unknown model folder {folder!r}", 404)


async def view_metadata(request):
    """The ``__metadata__`` of a safetensors file: read from its JSON header, never unpickled."""
    folder = request.match_info["folder"]
    name = request.query.get("filename", "")
    if not name.endswith((".safetensors", ".sft")):
        return error_response("only .safetensors files have a readable header", 404)
    try:
        path = state(request).folders.get_full_path(folder, name)
    except KeyError:
        path = None
    if path is None:
        return error_response(f"{folder}/{name} not found", 404)
    try:
        _entries, meta, _start = read_safetensors_header(Path(path))
    except OSError:
        return error_response(f"{folder}/{name} could not be read", 404)
    except WeightsError as e:
        shown = str(e).replace(str(path), f"{folder}/{name}")  # the folder-relative name, not the server path
        return error_response(shown, 400)
    return json_response(meta) if meta else error_response(f"{folder}/{name} has no __metadata__", 404)


def extension_scripts(st) -> list:
    """URLs of every extension JS file: the frontend's own extensions/ and each custom node web dir."""
    urls = []
    own = Path(st.config.web_root) / "extensions"
    if own.is_dir():
        for path in sorted(own.rglob("*.js")):
            urls.append("/extensions/" + quote(path.relative_to(own).as_posix()))
    for module, directory in sorted(st.registry.web_directories.items()):
        directory = Path(directory)
        if not directory.is_dir():
            continue
        for path in sorted(directory.rglob("*.js")):
            urls.append(f"/extensions/{quote(module)}/" + quote(path.relative_to(directory).as_posix()))
    return urls


async def extensions(request):
    return json_response(extension_scripts(state(request)))


async def free(request):
    st = state(request)
    body = await read_json(request, {})
    if isinstance(body, dict):
        free_memory = bool(body.get("free_memory"))
        # as ComfyUI: freeing memory unloads the models too unless the body says otherwise
        st.worker.request_free(bool(body.get("unload_models", free_memory)), free_memory)
    return web.Response(status=200)


async def schema(request):
    name = request.match_info["name"].removesuffix(".json")
    if name not in SCHEMAS:
        return error_response(f"no schema {name!r} (known: {', '.join(SCHEMAS)})", 404)
    return web.Response(body=(SCHEMA_DIR / SCHEMAS[name]).read_bytes(), content_type="application/schema+json")


ROUTES = [
    ("GET", "/object_info", object_info), ("GET", "/object_info/{node_class}", object_info_node),
    ("GET", "/system_stats", system_stats), ("GET", "/features", features),
    ("GET", "/embeddings", embeddings), ("GET", "/models", models), ("GET", "/models/{folder}", models_in_folder),
    ("GET", "/view_metadata/{folder}", view_metadata),
    ("GET", "/extensions", extensions), ("POST", "/free", free),
    ("GET", "/schema/{name}", schema),
]
