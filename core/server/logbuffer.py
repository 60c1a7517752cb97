"""The server's recent log lines, for the official frontend's Logs panel (GET /internal/logs/raw)
and for websocket clients that subscribed to new lines (``logs`` messages, PATCH /internal/logs/subscribe).

A ``logging.Handler`` on the root logger keeps the last ``capacity`` formatted records in a ring
buffer; lines logged from any thread are handed to the websocket hub on its event loop, so a
subscriber sees them in order without the logging thread ever touching a socket.
"""
from __future__ import annotations

import logging
import shutil
import threading
from collections import deque
from datetime import datetime

CAPACITY = 300  # lines, as ComfyUI keeps
FORMAT = "%(levelname)s %(name)s: %(message)s"


def terminal_size() -> dict:
    """Columns and rows the frontend's terminal view should use (the server's own terminal, else 80x24)."""
    size = shutil.get_terminal_size((80, 24))
    return {"cols": size.columns, "rows": size.lines}


class LogBuffer(logging.Handler):
    def __init__(self, capacity: int = CAPACITY):
        super().__init__(level=logging.NOTSET)
        self.setFormatter(logging.Formatter(FORMAT))
        self.entries: deque = deque(maxlen=capacity)
        self.subscribers: set = set()
        self.hub = None  # core.server.ws.Hub once the server runs
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            entry = {"t": datetime.fromtimestamp(record.created).isoformat(), "m": self.format(record) + "\n"}
        except Exception:  # a record whose message cannot be formatted must not break logging
            self.handleError(record)
            return
        with self._lock:
            self.entries.append(entry)
            hub = self.hub if self.subscribers else None
        loop = getattr(hub, "loop", None)
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._send, [entry])
            except RuntimeError:
                pass  # the loop is shutting down

    def snapshot(self) -> list:
        with self._lock:
            return list(self.entries)

    def subscribe(self, client_id: str, enabled: bool) -> None:
        with self._lock:
            (self.subscribers.add if enabled else self.subscribers.discard)(client_id)

    def _send(self, entries: list) -> None:
        """On the hub's loop: one ``logs`` message per subscriber still connected."""
        hub = self.hub
        if hub is None:
            return
        for client_id in list(self.subscribers):
            if client_id not in hub.clients:
                self.subscribe(client_id, False)  # its socket closed: forget it
                continue
            hub.send("logs", {"entries": entries, "size": None}, client_id)


_startup: LogBuffer | None = None


def capture_startup() -> None:
    """Keep what is logged before the server runs (flags, custom node packs loading) for its Logs panel."""
    global _startup
    if _startup is None:
        _startup = LogBuffer()
        logging.getLogger().addHandler(_startup)


def take_startup_lines() -> list:
    """The lines :func:`capture_startup` kept, once; capturing stops (the app's own buffer goes on)."""
    global _startup
    buffer, _startup = _startup, None
    if buffer is None:
        return []
    logging.getLogger().removeHandler(buffer)
    return buffer.snapshot()
