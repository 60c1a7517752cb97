"""Load custom node packs from the ``custom_nodes`` folders into a node registry (docs/comfy-api.md §4.2).

Each entry of every custom node folder, in ``os.listdir`` order, is one pack: a package (its
``__init__.py``) or a single ``.py`` module; ``__pycache__``, other files and names ending in
``.disabled`` are skipped. Every pack's ``prestartup_script.py`` runs before any pack is imported.
A pack exports ``NODE_CLASS_MAPPINGS`` (and optionally ``NODE_DISPLAY_NAME_MAPPINGS`` and
``WEB_DIRECTORY``). Built-in names cannot be overridden; between packs the later one wins. A pack
that fails is recorded in ``registry.failures`` with its traceback and the rest still load.

Before any pack: torch is imported (a pack that snapshots and restores ``sys.modules`` around its own
import must not be the one that first imports torch: a second import of torch crashes the process),
the output/input/temp and models folders exist (packs list or check them at import), ComfyUI's module
names resolve (core/compat). A pack that runs ``pip``/subprocesses while importing is named in the log
with the command (through a Python audit hook, the documented observation point); a pack that calls
``sys.exit`` is recorded as failed and the server keeps running.
"""
from __future__ import annotations

import contextvars
import importlib.util
import logging
import os
import sys
import time
import traceback
from pathlib import Path

from core.compat import ensure_on_path
from core.compat.missing import missing_comfy_module
from core.execution.registry import PluginFailure, RegistryError, v3_extension_nodes

log = logging.getLogger(__name__)

MODULE_PREFIX = "custom_nodes"


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
    token = _importing.set(name)
    try:
        if path.is_dir():
            init = path / "__init__.py"
            if not init.is_file():
                raise ImportError(f"{path} has no __init__.py")
            module = _import_file(sys_name, init, path)
        else:
            module = _import_file(sys_name, path, None)
    except (Exception, SystemExit) as e:
        _failure(registry, name, path, _explain(e, path), traceback.format_exc())
        return False
    finally:
        _importing.reset(token)

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

    for node_name, cls in list(mappings.items()):
        if node_name in builtin:
            log.warning("custom node pack %s: %r is a built-in node and cannot be overridden; skipped",
                        name, node_name)
            continue
        try:
            cls.RELATIVE_PYTHON_MODULE = sys_name
            registry.register(cls, node_name, display_name=display.get(node_name), module=sys_name, override=True)
        except Exception as e:  # one broken node (e.g. a schema using a missing ComfyUI API) skips only itself
            _failure(registry, name, path, f"node {node_name!r}: {type(e).__name__}: {e}")
    registry.loaded_packs.append((name, str(path), time.perf_counter() - started))
    return True


def _explain(error: BaseException, path: Path) -> str:
    """The failure message: the missing ComfyUI API, the missing pip package, or the exception."""
    text = f"{type(error).__name__}: {error}"
    if isinstance(error, SystemExit):
        return f"the pack called sys.exit({error.code!r}) while importing"
    comfy_module = missing_comfy_module(error) if isinstance(error, ImportError) else None
    if comfy_module is not None and isinstance(error, ModuleNotFoundError):
        return f"{text} (ComfyUI module {comfy_module} is not provided by Latentflow; see docs/custom_nodes.md)"
    if comfy_module is not None:
        return f"{text} (a name of ComfyUI's {comfy_module} that Latentflow does not provide; see docs/custom_nodes.md)"
    if isinstance(error, ModuleNotFoundError) and (path / "requirements.txt").is_file():
        text += f" (a Python package is missing; the pack lists its dependencies in {path / 'requirements.txt'})"
    return text


# --- what packs do while importing ---------------------------------------------------------------
_importing: contextvars.ContextVar = contextvars.ContextVar("importing_pack", default=None)
_AUDITED = {"subprocess.Popen", "os.system", "os.posix_spawn", "os.exec"}


def _audit(event: str, args) -> None:
    """Audit hook: a pack starting a process while it imports (pip installs, git clones) is logged."""
    if event not in _AUDITED:
        return
    pack = _importing.get()
    if pack is None:
        return
    command = args[1] if event == "subprocess.Popen" and len(args) > 1 else args[0] if args else "?"
    if isinstance(command, (list, tuple)):
        command = " ".join(str(c) for c in command)
    kind = "ran pip" if "pip" in str(command) else "started a process"
    log.warning("custom node pack %s %s while importing: %s", pack, kind, command)


_audit_installed = False


def _install_audit_hook() -> None:
    global _audit_installed
    if not _audit_installed:
        sys.addaudithook(_audit)  # cannot be removed; it only logs while a pack is importing
        _audit_installed = True


def prepare_environment(import_torch: bool = True) -> None:
    """What ComfyUI has in place before packs import (see module doc)."""
    ensure_on_path()
    _install_audit_hook()
    if import_torch:  # only when there are packs: without them the server starts without torch
        try:
            import torch  # noqa: F401
        except ImportError:  # torch-free installs still list and validate nodes
            log.debug("torch is not installed; packs that need it will fail to import")
    from core import paths

    folders = paths.get()
    for directory in (folders.output_dir, folders.input_dir, folders.temp_dir, folders.models_dir):
        try:
            Path(directory).mkdir(parents=True, exist_ok=True)
        except OSError as e:
            log.warning("cannot create %s: %s", directory, e)


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
    entries = pack_entries(dirs, disable_all=disable_all, whitelist=whitelist)
    prepare_environment(import_torch=bool(entries))
    builtin = frozenset(registry.names())
    run_prestartup_scripts(registry, entries)
    loaded = [name for name, path in entries if load_pack(registry, name, path, builtin)]
    for name, path, seconds in registry.loaded_packs:
        log.info("%6.2f s  %s", seconds, path)
    for failure in registry.failures:
        log.info("IMPORT FAILED  %s", failure.path)
    return loaded
