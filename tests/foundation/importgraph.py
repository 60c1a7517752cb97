"""The import graph of the product code (main.py, core/, nodes/), read from the sources with ``ast``.

Every ``import`` statement counts, including those inside functions (the lazy imports that keep torch
out of server start-up): a lazy import is still a dependency. ``from pkg import name`` counts as an
import of ``pkg.name`` when that is a module, else of ``pkg``.
"""
from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@lru_cache(maxsize=1)
def sources() -> dict:
    """Module name -> path, for every product module."""
    files = [REPO / "main.py", *(REPO / "core").rglob("*.py"), *(REPO / "nodes").rglob("*.py")]
    return {module_name(p): p for p in files}


def _own(name: str) -> str | None:
    """The product module ``name`` refers to (itself or its nearest parent package), or None."""
    mods = sources()
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


def _package_of(module: str) -> str:
    path = sources()[module]
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


@lru_cache(maxsize=None)
def imports(module: str) -> frozenset:
    """Product modules ``module`` imports (lazily or not); third-party top-level names prefixed ``ext:``."""
    tree = ast.parse(sources()[module].read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's package upwards
                package = _package_of(module).split(".")
                package = package[:len(package) - node.level + 1]
                base = ".".join(package + ([base] if base else []))
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in sources() else base for a in node.names]
        else:
            continue
        for name in names:
            own = _own(name)
            found.add(own if own is not None else "ext:" + name.split(".")[0])
    found.discard(module)
    return frozenset(found)


def under(prefix: str) -> list:
    """The modules of a package (``core.server``) or the one module of that name."""
    return sorted(m for m in sources() if m == prefix or m.startswith(prefix + "."))
