"""The HTTP/websocket server (ComfyUI-compatible API, docs/comfy-api.md §1-2): ``create_app`` and ``run``.

Modules: ``app`` (assembly, static files), ``routes_queue`` (/prompt, /queue, /history, jobs, with
``job_summary`` for the jobs' thumbnails), ``routes_info`` (/object_info, /system_stats, ...),
``routes_files`` (/view, uploads, user data), ``routes_frontend`` (Model Library, /i18n, blueprints,
node replacements), ``routes_templates`` (workflow templates, node help), ``routes_logs`` (/internal
routes, with ``logbuffer`` for the Logs panel), ``frontends`` (which frontend is served), ``static``
(typed static files), ``ws`` (websocket hub), ``worker`` (the job thread), ``state`` (shared config and state),
``jsonio`` (the one strict JSON reader/writer), ``imaging`` (image decodes under a memory budget),
``scrub`` (server paths out of error reports), ``security`` (request policy, headers on every answer),
``store`` (queue and history), ``runtime`` (the background device set-up).
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

__all__ = ["create_app", "run", "config_from_args", "listen_hosts", "ServerConfig"]


def listen_hosts(listen: str) -> list[str]:
    """``--listen`` value -> the addresses to bind (comma-separated; the bare flag gives all interfaces)."""
    return [h.strip() for h in listen.split(",") if h.strip()] or ["127.0.0.1"]


def config_from_args(args) -> ServerConfig:
    """ServerConfig from ``main.py serve``'s flags (core/cli/flags.py); a flag the parser lacks is an error."""
    from core import paths
    from core.cli.flags import cache_policy
    from core.server.security import config_from_args as security_from_args

    hosts = listen_hosts(args.listen)
    security = security_from_args(args, hosts)
    if args.auth_token:
        security.token = args.auth_token  # an explicit token is enforced even on loopback
    cache, lru = cache_policy(args)
    db = args.database or Path(paths.get().user_dir) / "latentflow.db"
    config = ServerConfig(max_upload_size=int(args.max_upload_size * 1024 * 1024), security=security,
                          preview_method=args.preview_method, preview_size=args.preview_size, cache=cache,
                          cache_lru=lru, db_path=db, cpu=args.cpu, hosts=tuple(hosts), port=args.port)
    from core.cluster.options import options_from_args
    config.cluster = options_from_args(args)
    from core.server.frontends import web_root
    config.web_root = web_root(args.front_end, args.front_end_root)
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
    hosts, port = list(config.hosts), config.port
    ssl_context = None
    if args.tls_certfile and args.tls_keyfile:
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(args.tls_certfile, args.tls_keyfile)
    app = create_app(registry, config)
    scheme = "https" if ssl_context else "http"
    shown = "127.0.0.1" if hosts[0] in ("0.0.0.0", "::") else hosts[0]
    shown = f"[{shown}]" if ":" in shown else shown
    url = f"{scheme}://{shown}:{port}/"
    if config.security.token:
        url += f"?token={config.security.token}"
    if not args.dont_print_server:
        log.info("queue and history: %s", config.db_path)
        log.info("Latentflow is listening on %s", ", ".join(f"{h}:{port}" for h in hosts))
        log.info("open %s", url)
    if not config.web_root.is_dir():
        log.warning("no frontend at %s; serving the API only", config.web_root)
    elif not args.dont_print_server:
        log.info("frontend: %s", config.web_root)
    web.run_app(app, host=hosts, port=port, ssl_context=ssl_context, print=None,
                access_log=None, reuse_address=True if os.name == "posix" else None)
    return 0
