"""Building the aiohttp application: API routes (bare and under /api), the websocket, static files."""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from aiohttp import web

from core.compat import prompt_server
from core.server.security import Refused, make_middleware, resolve_under
from core.server import (logbuffer, routes_files, routes_frontend, routes_info, routes_logs, routes_queue,
                         routes_templates)
from core.server.imaging import DecodeBudget
from core.server.state import STATE, ServerConfig, ServerState
from core.server.static import typed_file
from core.server.worker import Worker
from core.server.ws import Hub

log = logging.getLogger(__name__)

NO_FRONTEND = """<!doctype html><meta charset="utf-8"><title>Latentflow</title>
<p>The Latentflow server is running, but no frontend was found at <code>{root}</code>.
The HTTP API and websocket are available (see docs/api.md).</p>"""


def _default_validate(registry, prompt, partial_targets=None):
    from core.execution.validate import validate_prompt
    return validate_prompt(registry, prompt, partial_targets)


def default_executor_factory(config: ServerConfig):
    def build(registry):
        from core.execution.executor import Executor
        return Executor(registry, cache=config.cache, lru_size=config.cache_lru)
    return build


def create_app(registry, config: ServerConfig | None = None, *, store=None, validate=None,
               executor_factory=None, start_worker: bool = True) -> web.Application:
    """The server as an aiohttp Application; the worker thread starts and stops with it."""
    config = config or ServerConfig()
    if store is None:
        from core.server.store import Store
        store = Store(config.db_path, durable=config.durable)
    hub = Hub(queue_remaining=store.count_remaining)
    if config.cluster is not None:  # --ray: worker actors pull from the same store (core/cluster/)
        from core.cluster.pool import ClusterWorker
        worker = ClusterWorker(store, hub, config.cluster, preview_size=config.preview_size,
                               preview_method=config.preview_method, folders=config.folders)
    else:
        worker = Worker(store, registry, hub, executor_factory=executor_factory or default_executor_factory(config),
                        preview_size=config.preview_size, preview_method=config.preview_method)
    st = ServerState(config=config, registry=registry, store=store, hub=hub, worker=worker,
                     validate=validate or _default_validate)
    hub.server_features = routes_info.features_dict(st)

    app = web.Application(middlewares=[make_middleware(config.security)], client_max_size=config.max_upload_size)
    app[STATE] = st
    st.decodes = DecodeBudget(config.decode_budget, config.max_decode_pixels)
    api_routes = [*routes_queue.ROUTES, *routes_info.ROUTES, *routes_files.ROUTES, *routes_frontend.ROUTES,
                  *routes_templates.ROUTES]
    for method, path, handler in api_routes:
        _add_route(app, method, path, handler)
        _add_route(app, method, "/api" + path, handler)
    for method, path, handler in [*routes_logs.ROUTES, *routes_templates.STATIC_ROUTES]:
        _add_route(app, method, path, handler)  # bare only, as in ComfyUI
    app[routes_logs.LOGS] = logbuffer.LogBuffer()
    app.router.add_get("/ws", hub.handle)
    app.router.add_get("/api/ws", hub.handle)
    _add_pack_routes(app, hub)
    app.router.add_get("/", index)
    app.router.add_get("/extensions/{module}/{path:.+}", extension_file)
    app.router.add_get("/{path:.+}", static_file)

    async def on_startup(app):
        hub.loop = asyncio.get_running_loop()
        app[routes_logs.LOGS].hub = hub
        app[routes_logs.LOGS].entries.extend(logbuffer.take_startup_lines())  # main.py's, if it captured
        logging.getLogger().addHandler(app[routes_logs.LOGS])
        prompt_server().loop = hub.loop
        if start_worker:
            worker.start()

    async def on_shutdown(app):
        await hub.close_all()

    async def on_cleanup(app):
        logging.getLogger().removeHandler(app[routes_logs.LOGS])
        if worker.thread.is_alive():
            await asyncio.to_thread(worker.stop)
        pack_server = prompt_server()
        if hasattr(pack_server, "disconnect"):
            pack_server.disconnect(app)

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)
    return app


def _add_route(app, method, path, handler):
    if method == "GET":  # GET routes answer HEAD too, as aiohttp's route tables (ComfyUI's) do
        app.router.add_get(path, handler)
    else:
        app.router.add_route(method, path, handler)


# --- custom node packs' routes (PromptServer.instance.routes) ------------------------------------
def _add_pack_routes(app, hub):
    """Routes packs declared at import, bare and under /api; the pack server talks through our hub."""
    pack_server = prompt_server()
    pending = getattr(pack_server, "pending_app", None)
    if pending is not None and pending is not app:
        _copy_pack_app(pending, app)
    if hasattr(pack_server, "connect"):
        pack_server.connect(app, hub)
    for route in getattr(pack_server, "routes", None) or ():
        copies = [route]
        if isinstance(route, web.RouteDef):
            kwargs = {k: v for k, v in route.kwargs.items() if k != "name"}
            copies.append(web.RouteDef(route.method, "/api" + route.path, route.handler, kwargs))
        for copy in copies:
            try:
                copy.register(app.router)
            except (ValueError, RuntimeError) as e:
                log.warning("custom node route %r not added: %s", copy, e)


def _copy_pack_app(pending: web.Application, app: web.Application) -> None:
    """What packs added to ``PromptServer.instance.app`` before the server existed: routes, static
    folders, middlewares and startup/shutdown hooks move onto the real application."""
    for resource in pending.router.resources():
        info = resource.get_info()
        try:
            if "directory" in info:  # app.router.add_static(prefix, directory)
                app.router.add_static(info["prefix"], info["directory"], follow_symlinks=False)
                continue
            path = info.get("path") or info.get("formatter")
            for route in resource:
                if route.method == "HEAD":
                    continue  # add_get adds HEAD itself
                app.router.add_route(route.method, path, route.handler)
        except (ValueError, RuntimeError, KeyError) as e:
            log.warning("custom node route %r not added: %s", info, e)
    app.middlewares.extend(pending.middlewares)
    for hooks in ("on_startup", "on_shutdown", "on_cleanup"):
        getattr(app, hooks).extend(getattr(pending, hooks))


# --- static files ------------------------------------------------------------------------------
def _static(root: Path, rel: str):
    sub, _, name = rel.rpartition("/")
    try:
        path = resolve_under(root, sub, name)
    except Refused as e:
        return web.Response(status=e.status)
    if not path.is_file():
        return web.Response(status=404)
    return typed_file(path)


async def index(request):
    root = Path(request.app[STATE].config.web_root)
    page = root / "index.html"
    if not page.is_file():
        return web.Response(text=NO_FRONTEND.format(root=root), content_type="text/html")
    return web.FileResponse(page, headers={"Cache-Control": "no-cache", "Content-Type": "text/html"})


async def extension_file(request):
    st = request.app[STATE]
    module, rel = request.match_info["module"], request.match_info["path"]
    directory = st.registry.web_directories.get(module)
    if directory is not None:
        return _static(Path(directory), rel)
    return _static(Path(st.config.web_root) / "extensions", f"{module}/{rel}")


async def static_file(request):
    return _static(Path(request.app[STATE].config.web_root), request.match_info["path"])
