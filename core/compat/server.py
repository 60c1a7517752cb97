"""ComfyUI's ``server`` module for custom node packs: ``PromptServer.instance``.

Until the HTTP server installs itself (``core.compat.set_prompt_server``), ``instance`` is a
stand-in that collects the routes packs add and hands ``send_sync`` messages to subscribers, so
packs import the same way under ``main.py run`` as under ``serve``.
"""
from __future__ import annotations

import logging

from aiohttp import web

log = logging.getLogger("latentflow.compat.server")


class PromptServer:
    instance = None  # the real server after install(); the stand-in before
    _standalone = None

    def __init__(self):
        self.routes = web.RouteTableDef()
        self.app = None
        self.client_id = None
        self.last_node_id = None
        self.sockets = {}
        self.supports = []
        self._listeners = []
        self._prompt_handlers = []

    # --- messages -------------------------------------------------------------------------------
    def subscribe(self, listener) -> None:
        """``listener(event, data, sid)`` receives every message sent while no server is installed."""
        self._listeners.append(listener)

    def send_sync(self, event, data, sid=None) -> None:
        log.debug("custom node message %s (no server running)", event)
        for listener in list(self._listeners):
            listener(event, data, sid)

    async def send(self, event, data, sid=None) -> None:
        self.send_sync(event, data, sid)

    async def send_json(self, event, data, sid=None) -> None:
        self.send_sync(event, data, sid)

    def send_progress_text(self, text, node_id, sid=None) -> None:
        self.send_sync("progress_text", {"text": text, "node": node_id}, sid)

    # --- prompt hooks ---------------------------------------------------------------------------
    def add_on_prompt_handler(self, handler) -> None:
        self._prompt_handlers.append(handler)

    def trigger_on_prompt(self, json_data):
        for handler in self._prompt_handlers:
            try:
                json_data = handler(json_data)
            except Exception:
                log.exception("on_prompt handler %r failed", handler)
        return json_data

    # --- installation ---------------------------------------------------------------------------
    @classmethod
    def standalone(cls) -> "PromptServer":
        if cls._standalone is None:
            cls._standalone = cls()
        return cls._standalone

    @classmethod
    def install(cls, real_server) -> None:
        cls.instance = real_server


PromptServer.instance = PromptServer.standalone()
