"""What the route handlers share: configuration, registry, store, hub and worker, under one app key."""
from __future__ import annotations

import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from core.server.imaging import DEFAULT_MAX_PIXELS, DEFAULT_MEMORY_BUDGET
from core.server.security import SecurityConfig

REPO_ROOT = Path(__file__).resolve().parents[2]
VERSION = "0.1.0"
# The ComfyUI release whose HTTP/websocket API we implement (system_stats.comfyui_version): the one
# paired with the official frontend 1.58 (its templates need up to 0.43.0), so neither that frontend
# nor version-checking clients take us for an outdated backend. Raise it with the API, not before.
COMFYUI_COMPAT_VERSION = "0.43.0"


@dataclass
class ServerConfig:
    web_root: Path = REPO_ROOT / "web"
    max_upload_size: int = 100 * 1024 * 1024  # bytes (--max-upload-size is in MB)
    security: SecurityConfig = field(default_factory=SecurityConfig)
    preview_method: str = "none"
    preview_size: int = 512
    cache: str = "classic"
    cache_lru: int = 0
    db_path: Path | str = ":memory:"
    durable: bool = True  # fsync each accepted job (survives power loss, ~one fsync per POST /prompt)
    argv: list = field(default_factory=lambda: list(sys.argv))
    folders: object = None  # core.paths.Folders; None = core.paths.get() at request time
    cpu: bool = False
    # images decoded by requests (/view?channel=, previews, /upload/mask): bytes in flight, pixels each
    decode_budget: int = DEFAULT_MEMORY_BUDGET
    max_decode_pixels: int = DEFAULT_MAX_PIXELS
    hosts: tuple = ("127.0.0.1",)  # --listen, split once
    port: int = 8188
    cluster: object = None  # core.cluster.options.ClusterOptions with --ray; None = the in-process worker


@dataclass
class ServerState:
    config: ServerConfig
    registry: object
    store: object
    hub: object
    worker: object
    validate: object  # validate_prompt(registry, prompt, partial_targets) -> ValidationResult
    instance_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started: float = field(default_factory=time.time)
    decodes: object = None  # core.server.imaging.DecodeBudget shared by the image routes

    @property
    def folders(self):
        if self.config.folders is not None:
            return self.config.folders
        import core.paths
        return core.paths.get()


STATE = web.AppKey("latentflow_state", ServerState)


def state(request) -> ServerState:
    return request.app[STATE]
