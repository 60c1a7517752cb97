"""Which browser frontend the server serves: our canvas (``web/``, the default), the official ComfyUI
frontend from the installed ``comfyui-frontend-package`` (``--front-end official``), or any build
folder (``--front-end-root DIR``). docs/canvas-extensions.md says which extensions run under which.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from core.server.state import REPO_ROOT

CHOICES = ("latentflow", "official")
OFFICIAL_PACKAGE = "comfyui_frontend_package"


class FrontendNotFound(RuntimeError):
    pass


def official_root() -> Path:
    """The ``static/`` folder of the installed official frontend package."""
    spec = importlib.util.find_spec(OFFICIAL_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        static = Path(location) / "static"
        if (static / "index.html").is_file():
            return static
    raise FrontendNotFound("--front-end official needs the official ComfyUI frontend: "
                           "pip install comfyui-frontend-package (or pass --front-end-root DIR)")


def web_root(front_end: str | None = None, front_end_root: str | None = None) -> Path:
    """The folder to serve: an explicit root wins, then the named frontend, then our canvas."""
    if front_end_root:
        return Path(front_end_root).resolve()
    if front_end in (None, "", "latentflow"):
        return REPO_ROOT / "web"
    if front_end == "official":
        return official_root()
    raise FrontendNotFound(f"--front-end must be one of {', '.join(CHOICES)}, not {front_end!r}")
