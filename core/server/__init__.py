"""The HTTP/websocket server (ComfyUI-compatible API, docs/comfy-api.md §1-2): ``create_app`` and ``run``.

Modules: ``app`` (assembly, static files), ``routes_queue`` (/prompt, /queue, /history, jobs, with
``job_summary`` for the jobs' thumbnails), ``routes_info`` (/object_info, /system_stats, ...),
``routes_files`` (/view, uploads, user data), ``routes_frontend`` (Model Library, /i18n, blueprints,
node replacements), ``routes_templates`` (workflow templates, node help), ``routes_logs`` (/internal
routes, with ``logbuffer`` for the Logs panel), ``frontends`` (which frontend is served), ``static``
(typed static files), ``ws`` (websocket hub), ``worker`` (the job thread), ``state`` (shared config and state).
Nothing here imports torch: the server answers within a second or two of start.
"""
from __future__ import annotations

import logging
import os
import ssl
from pathlib import Path

from core.server.app import create_app
from core.server.state import ServerConfig

log = logging.getLogger("latentflow.server")

__all__ = ["create_app", "run", "config_from_args", "ServerConfig"]


def config_from_args(args) -> ServerConfig:
    """ServerConfig from main.py's flags (core/cli/flags.py); missing flags take their defaults."""
    from core import paths
    from core.server.security import config_from_args as security_from_args

    hosts = [h.strip() for h in str(getattr(args, "listen", "127.0.0.1") or "127.0.0.1").split(",") if h.strip()]
    security = security_from_args(args, hosts)
    token = getattr(args, "auth_token", None)
    if token:
        security.token = token  # an explicit token is enforced even on loopback
    cache, lru = "classic", 0
    if getattr(args, "cache_none", False):
        cache = "none"
    elif getattr(args, "cache_lru", 0):
        cache, lru = "lru", int(args.cache_lru)
    front = getattr(args, "front_end_root", None)
    db = getattr(args, "database", None) or Path(paths.get().user_dir) / "latentflow.db"
    config = ServerConfig(max_upload_size=int(float(getattr(args, "max_upload_size", 100) or 100) * 1024 * 1024),
                          security=security, preview_method=getattr(args, "preview_method", "none") or "none",
                          preview_size=int(getattr(args, "preview_size", 512) or 512), cache=cache, cache_lru=lru,
                          db_path=db, cpu=bool(getattr(args, "cpu", False)))
    from core.cluster.options import options_from_args
    config.cluster = options_from_args(args)
    from core.server.frontends import web_root
    config.web_root = web_root(getattr(args, "front_end", None), front)
    return config


def run(args, registry) -> int:
    """Serve until interrupted (``main.py serve``)."""
    from aiohttp import web

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from core.cluster.options import ClusterUnavailable
    from core.server.frontends import FrontendNotFound

    try:
        config = config_from_args(args)
    except (FrontendNotFound, ClusterUnavailable) as e:
        log.error("%s", e)
        return 2
    hosts = [h.strip() for h in str(getattr(args, "listen", "127.0.0.1") or "127.0.0.1").split(",") if h.strip()]
    port = int(getattr(args, "port", 8188))
    ssl_context = None
    if getattr(args, "tls_certfile", None) and getattr(args, "tls_keyfile", None):
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(args.tls_certfile, args.tls_keyfile)
    app = create_app(registry, config)
    scheme = "https" if ssl_context else "http"
    shown = "127.0.0.1" if hosts[0] in ("0.0.0.0", "::") else hosts[0]
    shown = f"[{shown}]" if ":" in shown else shown
    url = f"{scheme}://{shown}:{port}/"
    if config.security.token:
        url += f"?token={config.security.token}"
    if not getattr(args, "dont_print_server", False):
        log.info("queue and history: %s", config.db_path)
        log.info("Latentflow is listening on %s", ", ".join(f"{h}:{port}" for h in hosts))
        log.info("open %s", url)
    if not config.web_root.is_dir():
        log.warning("no frontend at %s; serving the API only", config.web_root)
    elif not getattr(args, "dont_print_server", False):
        log.info("frontend: %s", config.web_root)
    web.run_app(app, host=hosts, port=port, ssl_context=ssl_context, print=None,
                access_log=None, reuse_address=True if os.name == "posix" else None)
    return 0
