"""The websocket hub: one socket per clientId, messages routed as ComfyUI routes them (docs/comfy-api.md §2).

Each client has its own bounded outbox and sender task, so one slow browser cannot stall the others
or the worker; a message is JSON-encoded once however many clients receive it. The worker thread
hands events over with :meth:`Hub.threadsafe`, which preserves their order.
"""
from __future__ import annotations

import asyncio
import logging
import struct
import uuid

from aiohttp import WSMsgType, web

from core.server import jsonio

log = logging.getLogger(__name__)

PREVIEW_IMAGE = 1
PREVIEW_IMAGE_WITH_METADATA = 4
IMAGE_FORMATS = {"JPEG": 1, "PNG": 2}
# Events that only the submitting client sees (and nobody when it had no client_id).
PRIVATE_EVENTS = frozenset({"execution_start", "execution_cached", "executing", "executed",
                            "execution_success", "execution_error"})
OUTBOX_SIZE = 4096

SERVER_FEATURES = {"supports_preview_metadata": True}


class Client:
    def __init__(self, sid: str, ws: web.WebSocketResponse):
        self.sid = sid
        self.ws = ws
        self.outbox: asyncio.Queue = asyncio.Queue(OUTBOX_SIZE)
        self.feature_flags: dict = {}
        self.task: asyncio.Task | None = None

    async def pump(self):
        ws, outbox = self.ws, self.outbox
        try:
            while True:
                msg = await outbox.get()
                if msg is None:
                    break
                if isinstance(msg, str):
                    await ws.send_str(msg)
                else:
                    await ws.send_bytes(msg)
        except (ConnectionError, RuntimeError, asyncio.CancelledError):
            pass  # the socket went away; the handler's cleanup removes the client

    def push(self, msg) -> bool:
        try:
            self.outbox.put_nowait(msg)
            return True
        except asyncio.QueueFull:
            return False


class Hub:
    def __init__(self, queue_remaining=lambda: 0, server_features=None):
        self.clients: dict[str, Client] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.queue_remaining = queue_remaining  # () -> int, for the status message
        self.server_features = dict(server_features or SERVER_FEATURES)
        self.current = {}  # prompt_id/client_id/node of the running job, for reconnecting clients

    # --- sending (event-loop thread) -----------------------------------------------------------
    def send(self, event: str, data, sid: str | None = None):
        self._deliver(jsonio.dumps({"type": event, "data": data}), sid)

    def _deliver(self, msg, sid):
        if sid is None:
            targets = list(self.clients.values())
        else:
            client = self.clients.get(sid)
            targets = [client] if client else []
        for client in targets:
            if not client.push(msg):
                log.warning("websocket client %s is not reading; disconnecting it", client.sid)
                self._drop(client)

    def route(self, event: str, data: dict, client_id: str | None):
        """Deliver an executor event to whom ComfyUI would deliver it."""
        if event in PRIVATE_EVENTS:
            if client_id is None:
                return
            self.send(event, data, client_id)
        else:  # progress, progress_state, execution_interrupted, custom events
            self.send(event, data, client_id)

    def send_status(self, sid: str | None = None):
        data = {"status": {"exec_info": {"queue_remaining": self.queue_remaining()}}}
        if sid is not None:
            data["sid"] = sid
        self.send("status", data, sid)

    def send_preview(self, fmt: str, image: bytes, meta: dict, client_id: str | None):
        """Binary preview frame: event 4 (with metadata) to clients that asked for it, else event 1."""
        plain = struct.pack(">II", PREVIEW_IMAGE, IMAGE_FORMATS.get(fmt, 1)) + image
        with_meta = None
        targets = [self.clients.get(client_id)] if client_id is not None else list(self.clients.values())
        for client in targets:
            if client is None:
                continue
            if client.feature_flags.get("supports_preview_metadata"):
                if with_meta is None:
                    m = jsonio.dumps({**meta, "image_type": "image/png" if fmt == "PNG" else "image/jpeg"}).encode()
                    with_meta = struct.pack(">II", PREVIEW_IMAGE_WITH_METADATA, len(m)) + m + image
                ok = client.push(with_meta)
            else:
                ok = client.push(plain)
            if not ok:
                self._drop(client)

    def send_binary(self, event: int, payload: bytes, sid: str | None = None):
        """A binary frame of a custom node's own type (``send_sync`` with an integer event)."""
        self._deliver(struct.pack(">I", event) + payload, sid)

    # --- from other threads --------------------------------------------------------------------
    def threadsafe(self, method: str, *args):
        """Call one of the send methods from the worker thread, in order, on the event loop."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(getattr(self, method), *args)
        except RuntimeError:
            pass  # loop shutting down

    # --- connections ---------------------------------------------------------------------------
    def _drop(self, client: Client):
        if self.clients.get(client.sid) is client:
            del self.clients[client.sid]
        if client.task:
            client.task.cancel()
        asyncio.ensure_future(client.ws.close())

    async def handle(self, request):
        """GET /ws?clientId=..."""
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=1 << 20)
        await ws.prepare(request)
        self.loop = asyncio.get_running_loop()
        sid = request.query.get("clientId") or uuid.uuid4().hex
        old = self.clients.get(sid)
        if old is not None:
            self._drop(old)
        client = Client(sid, ws)
        self.clients[sid] = client
        client.task = asyncio.ensure_future(client.pump())
        try:
            self.send_status(sid)
            if self.current.get("client_id") == sid and self.current.get("node") is not None:
                self.send("executing", {"node": self.current["node"], "display_node": self.current["node"],
                                        "prompt_id": self.current.get("prompt_id")}, sid)
            first = True
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                if first:
                    self._handshake(client, msg.data)
                first = False
        finally:
            if self.clients.get(sid) is client:
                del self.clients[sid]
                client.push(None)
            if client.task and not client.task.done():
                client.task.cancel()
        return ws

    def _handshake(self, client: Client, text: str):
        try:
            msg = jsonio.loads(text, "websocket message")
        except jsonio.BadJSON as e:  # a broken first message is ignored; the socket stays open
            log.info("websocket client %s: %s", client.sid, e)
            return
        if isinstance(msg, dict) and msg.get("type") == "feature_flags" and isinstance(msg.get("data"), dict):
            client.feature_flags = msg["data"]
            client.push(jsonio.dumps({"type": "feature_flags", "data": self.server_features}))

    async def close_all(self):
        for client in list(self.clients.values()):
            self._drop(client)
