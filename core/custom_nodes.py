"""Load custom node packs from the ``custom_nodes`` folders into a node registry (docs/comfy-api.md §4.2).

Each entry of every custom node folder, in ``os.listdir`` order, is one pack: a package (its
``__init__.py``) or a single ``.py`` module; ``__pycache__``, other files and names ending in
``.disabled`` are skipped. Every pack's ``prestartup_script.py`` runs before any pack is imported.
A pack exports ``NODE_CLASS_MAPPINGS`` (and optionally ``NODE_DISPLAY_NAME_MAPPINGS`` and
``WEB_DIRECTORY``). Built-in names cannot be overridden; between packs the later one wins. A pack
that fails is recorded in ``registry.failures`` with its traceback and the rest still load.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import sys
import time
import traceback
from pathlib import Path

from core.compat import ensure_on_path
from core.execution.registry import PluginFailure, RegistryError, v3_extension_nodes

log = logging.getLogger(__name__)

MODULE_PREFIX = "custom_nodes"


def add_cli_arguments(parser) -> None:
    """The two ComfyUI flags that control loading (for main.py's argument parser)."""
    parser.add_argument("--disable-all-custom-nodes", action="store_true",
                        help="Do not load any custom node pack (except whitelisted ones).")
    parser.add_argument("--whitelist-custom-nodes", nargs="+", default=[], metavar="NAME",
                        help="Packs to load even with --disable-all-custom-nodes (folder or file names).")


def pack_entries(dirs, *, disable_all: bool = False, whitelist=()) -> list[tuple[str, Path]]:
    """(name, path) of every pack to load, in load order."""
    allowed = set(whitelist or ())
    found = []
    for folder in dirs:
        folder = Path(folder)
        if not folder.is_dir():
            continue
        for entry in os.listdir(os.path.realpath(folder)):
            path = folder / entry
            if entry == "__pycache__" or entry.endswith(".disabled"):
                continue
            if path.is_file() and path.suffix != ".py":
                continue
            name = entry[:-3] if path.is_file() else entry
            if disable_all and entry not in allowed and name not in allowed:
                log.info("custom node pack %s skipped (--disable-all-custom-nodes)", entry)
                continue
            found.append((name, path))
    return found


def module_name(name: str) -> str:
    # Dots would make Python look for a parent package; ComfyUI replaces them the same way.
    return f"{MODULE_PREFIX}.{name.replace('.', '_x_')}"


def _import_file(sys_name: str, file: Path, package_dir: Path | None):
    if package_dir is not None:
        spec = importlib.util.spec_from_file_location(sys_name, file, submodule_search_locations=[str(package_dir)])
    else:
        spec = importlib.util.spec_from_file_location(sys_name, file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot create an import spec for {file}")
    module = importlib.util.module_from_spec(spec)
    # Drop stale submodules from an earlier load of the same pack so reloads see fresh code.
    for key in [k for k in sys.modules if k == sys_name or k.startswith(sys_name + ".")]:
        del sys.modules[key]
    sys.modules[sys_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(sys_name, None)
        raise
    return module


def _failure(registry, name: str, path: Path, error: str, tb: str = "") -> None:
    registry.failures.append(PluginFailure(pack=name, path=str(path), error=error, traceback=tb))
    log.warning("custom node pack %s (%s) failed: %s\n%s", name, path, error, tb)


def run_prestartup_scripts(registry, entries) -> None:
    for name, path in entries:
        script = path / "prestartup_script.py"
        if not (path.is_dir() and script.is_file()):
            continue
        try:
            _import_file(f"{module_name(name)}_prestartup", script, None)
        except Exception as e:
            _failure(registry, name, script, f"prestartup_script.py failed: {type(e).__name__}: {e}",
                     traceback.format_exc())


def load_pack(registry, name: str, path: Path, builtin: frozenset) -> bool:
    """Import one pack and register its nodes; on failure record it and return False."""
    sys_name = module_name(name)
    started = time.perf_counter()
    try:
        if path.is_dir():
            init = path / "__init__.py"
            if not init.is_file():
                raise ImportError(f"{path} has no __init__.py")
            module = _import_file(sys_name, init, path)
        else:
            module = _import_file(sys_name, path, None)
    except Exception as e:
        error = f"{type(e).__name__}: {e}"
        if isinstance(e, ImportError) and (path / "requirements.txt").is_file():
            error += f" (the pack lists its dependencies in {path / 'requirements.txt'})"
        _failure(registry, name, path, error, traceback.format_exc())
        return False

    mappings = getattr(module, "NODE_CLASS_MAPPINGS", None)
    display = getattr(module, "NODE_DISPLAY_NAME_MAPPINGS", None) or {}
    if not isinstance(mappings, dict) and hasattr(module, "comfy_entrypoint"):  # a V3 pack (comfy_api.latest)
        try:
            def node_failed(node, e):
                _failure(registry, name, path, f"node {node}: {type(e).__name__}: {e}")

            mappings, display = v3_extension_nodes(module, name, on_error=node_failed)
        except Exception as e:
            _failure(registry, name, path, f"comfy_entrypoint failed: {type(e).__name__}: {e}", traceback.format_exc())
            return False
    if not isinstance(mappings, dict):
        _failure(registry, name, path, "no NODE_CLASS_MAPPINGS dict and no comfy_entrypoint")
        return False
    _register_web_directory(registry, name, path, module)

    for node_name, cls in mappings.items():
        if node_name in builtin:
            log.warning("custom node pack %s: %r is a built-in node and cannot be overridden; skipped",
                        name, node_name)
            continue
        try:
            cls.RELATIVE_PYTHON_MODULE = sys_name
            registry.register(cls, node_name, display_name=display.get(node_name), module=sys_name, override=True)
        except (RegistryError, AttributeError, TypeError) as e:
            _failure(registry, name, path, f"node {node_name!r}: {e}")
    registry.loaded_packs.append((name, str(path), time.perf_counter() - started))
    return True


def _register_web_directory(registry, name: str, path: Path, module) -> None:
    web = getattr(module, "WEB_DIRECTORY", None)
    base = path if path.is_dir() else path.parent
    if web is None and path.is_dir() and (path / "pyproject.toml").is_file():
        web = _pyproject_web(path / "pyproject.toml")
    if not web:
        return
    directory = (base / web).resolve()
    if directory.is_dir():
        registry.web_directories[name] = str(directory)
    else:
        log.warning("custom node pack %s: WEB_DIRECTORY %s is not a folder; ignored", name, directory)


def _pyproject_web(file: Path):
    try:
        import tomllib

        return ((tomllib.loads(file.read_text(encoding="utf-8")).get("tool") or {}).get("comfy") or {}).get("web")
    except (OSError, ValueError):
        return None


def load_custom_nodes(registry, dirs=None, *, disable_all: bool = False, whitelist=()) -> list[str]:
    """Load every pack of ``dirs`` (default: core.paths custom node folders); returns loaded names.

    Call after the built-in nodes are registered: the names registered at that point are the
    built-ins no pack may replace.
    """
    if dirs is None:
        from core import paths

        dirs = paths.get().folder_paths("custom_nodes")
    ensure_on_path()
    builtin = frozenset(registry.names())
    entries = pack_entries(dirs, disable_all=disable_all, whitelist=whitelist)
    run_prestartup_scripts(registry, entries)
    loaded = [name for name, path in entries if load_pack(registry, name, path, builtin)]
    for name, path, seconds in registry.loaded_packs:
        log.info("%6.2f s  %s", seconds, path)
    for failure in registry.failures:
        log.info("IMPORT FAILED  %s", failure.path)
    return loaded
