"""ComfyUI's ``server`` module for custom node packs: ``PromptServer.instance``.

``instance`` is one object for the whole process. Packs decorate ``instance.routes`` at import
time, before any HTTP server exists, or add routes, static folders and middlewares to
``instance.app`` (an aiohttp Application from the start); when the server starts it adds those
routes to its application (``routes`` bare and under ``/api``, as ComfyUI does) and connects itself
with :meth:`connect`,
after which ``send_sync`` reaches websocket clients and ``client_id`` / ``last_node_id`` describe
the running job. Without a server (``main.py run``) messages go to :meth:`subscribe` listeners, so
packs import and run the same way headless.
"""
from __future__ import annotations

import logging

from aiohttp import web

from core.compat.missing import module_getattr

log = logging.getLogger("latentflow.compat.server")


class BinaryEventTypes:
    """Binary websocket frame types, as ComfyUI's ``server.BinaryEventTypes`` numbers them."""
    PREVIEW_IMAGE = 1
    UNENCODED_PREVIEW_IMAGE = 2  # data: ("PNG"|"JPEG", PIL image, max_size or None), encoded here
    TEXT = 3
    PREVIEW_IMAGE_WITH_METADATA = 4  # data: (that tuple, metadata dict)


def _encode_frame(event, data) -> tuple[int, bytes]:
    """(frame type, payload) for the two preview events whose data is an image still to encode."""
    import json
    import struct

    from core.server.worker import encode_preview

    formats = {"JPEG": 1, "PNG": 2}
    if event == BinaryEventTypes.UNENCODED_PREVIEW_IMAGE:
        fmt, image = encode_preview(tuple(data), None)
        return BinaryEventTypes.PREVIEW_IMAGE, struct.pack(">I", formats[fmt]) + image
    image_data, metadata = data
    fmt, image = encode_preview(tuple(image_data), None)
    meta = json.dumps({**(metadata or {}), "image_type": "image/png" if fmt == "PNG" else "image/jpeg"}).encode()
    return BinaryEventTypes.PREVIEW_IMAGE_WITH_METADATA, struct.pack(">I", len(meta)) + meta + image


class PromptServer:
    instance = None  # the one process-wide object, set below
    _standalone = None

    def __init__(self):
        self.routes = web.RouteTableDef()
        self.app = web.Application()  # packs' add_routes/router/middlewares at import; copied at start
        self.pending_app = self.app
        self.loop = None
        self.number = 0
        self.client_session = None
        self.prompt_queue = None
        self.sockets = {}
        self.supports = ["custom_nodes_from_web"]
        self._listeners = []
        self._prompt_handlers = []
        self._hub = None  # the websocket hub of the running server (core.server.ws.Hub)
        self._client_id = self._last_node_id = None

    def connect(self, app, hub) -> None:
        """The HTTP server's app and websocket hub take over messages (called by core.server)."""
        self.app, self._hub = app, hub
        self.sockets = hub.clients

    def disconnect(self, app) -> None:
        """The server stopped: packs imported from now on get a fresh pending application again."""
        if self.app is app:
            self.app = self.pending_app = web.Application()
            self._hub = None
            self.sockets = {}

    def send_progress_text_sync(self, text, node_id, sid=None) -> None:
        self.send_progress_text(text, node_id, sid)

    def queue_updated(self) -> None:
        """Packs call it after changing the queue; our hub sends status itself."""

    # --- the running job, as packs read it ---------------------------------------------------------
    @property
    def client_id(self):
        return self._hub.current.get("client_id") if self._hub is not None else self._client_id

    @client_id.setter
    def client_id(self, value):
        self._client_id = value

    @property
    def last_node_id(self):
        return self._hub.current.get("node") if self._hub is not None else self._last_node_id

    @last_node_id.setter
    def last_node_id(self, value):
        self._last_node_id = value

    # --- messages -------------------------------------------------------------------------------
    def subscribe(self, listener) -> None:
        """``listener(event, data, sid)`` receives every message sent while no server is installed."""
        self._listeners.append(listener)

    def send_sync(self, event, data, sid=None) -> None:
        """JSON message ``{"type": event, "data": data}`` (binary frame when event is an int)."""
        for listener in list(self._listeners):
            listener(event, data, sid)
        hub = self._hub
        if hub is None:
            log.debug("custom node message %s (no server running)", event)
        elif isinstance(event, int):
            if event in (BinaryEventTypes.UNENCODED_PREVIEW_IMAGE, BinaryEventTypes.PREVIEW_IMAGE_WITH_METADATA) \
                    and isinstance(data, (tuple, list)):
                event, data = _encode_frame(event, data)
            hub.threadsafe("send_binary", event, bytes(data), sid)
        else:
            hub.threadsafe("send", event, data, sid)

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


PromptServer.instance = PromptServer.standalone()

__getattr__ = module_getattr(__name__)
