"""ComfyUI's ``folder_paths`` for custom node packs, delegating to :mod:`core.paths`.

Module attributes such as ``models_dir`` or ``folder_names_and_paths`` are computed on access
(PEP 562 ``__getattr__``), so they follow ``core.paths.configure`` calls made after import.
"""
from __future__ import annotations

import os
from pathlib import Path
from collections.abc import MutableMapping

from core.compat.missing import module_getattr

import core.paths as _paths

supported_pt_extensions = set(_paths.MODEL_EXTENSIONS)


def _folders():
    return _paths.get()


def get_folder_paths(folder_name: str) -> list:
    return [str(p) for p in _folders().folder_paths(folder_name)]


def get_filename_list(folder_name: str) -> list:
    return _folders().get_filename_list(folder_name)


def get_full_path(folder_name: str, filename: str):
    path = _folders().get_full_path(folder_name, filename)
    return str(path) if path is not None else None


def get_full_path_or_raise(folder_name: str, filename: str) -> str:
    return str(_folders().get_full_path_or_raise(folder_name, filename))


def add_model_folder_path(folder_name: str, full_folder_path: str, is_default: bool = False) -> None:
    _folders().add_path(folder_name, full_folder_path, first=is_default)


def get_output_directory() -> str:
    return str(_folders().output_dir)


def get_input_directory() -> str:
    return str(_folders().input_dir)


def get_temp_directory() -> str:
    return str(_folders().temp_dir)


def get_user_directory() -> str:
    return str(_folders().user_dir)


def get_directory_by_type(type_name: str):
    try:
        return str(_folders().directory_for(type_name))
    except KeyError:
        return None


def annotated_filepath(name: str):
    """('name without annotation', directory or None) for 'file.png [output]' style names."""
    for kind in ("output", "input", "temp"):
        if name.endswith(f" [{kind}]"):
            return name[: -len(kind) - 3], get_directory_by_type(kind)
    return name, None


def get_annotated_filepath(name: str, default_dir: str | None = None) -> str:
    kind = "input"
    if default_dir is not None:
        for k in ("output", "input", "temp"):
            if os.path.realpath(default_dir) == os.path.realpath(str(_folders().directory_for(k))):
                kind = k
    return str(_folders().annotated_path(name, default_kind=kind))


def exists_annotated_filepath(name: str) -> bool:
    try:
        return os.path.exists(get_annotated_filepath(name))
    except ValueError:
        return False


def filter_files_extensions(files, extensions) -> list:
    exts = {e.lower() for e in extensions}
    return sorted(f for f in files if not exts or os.path.splitext(f)[1].lower() in exts)


def get_save_image_path(filename_prefix: str, output_dir: str, image_width: int = 0, image_height: int = 0):
    """(full_output_folder, filename, counter, subfolder, filename_prefix) as docs/comfy-api.md §8 describes."""
    import time

    def substitute(text: str) -> str:
        if "%" not in text:
            return text
        now = time.localtime()
        for key, value in (("%width%", str(image_width)), ("%height%", str(image_height)),
                           ("%year%", str(now.tm_year)), ("%month%", f"{now.tm_mon:02d}"),
                           ("%day%", f"{now.tm_mday:02d}"), ("%hour%", f"{now.tm_hour:02d}"),
                           ("%minute%", f"{now.tm_min:02d}"), ("%second%", f"{now.tm_sec:02d}")):
            text = text.replace(key, value)
        return text

    filename_prefix = substitute(filename_prefix).replace("\\", "/")  # Windows separators, as ComfyUI there
    subfolder = os.path.dirname(os.path.normpath(filename_prefix))
    filename = os.path.basename(os.path.normpath(filename_prefix))
    full_output_folder = os.path.join(output_dir, subfolder)
    if os.path.commonpath((os.path.abspath(output_dir), os.path.abspath(full_output_folder))) != os.path.abspath(output_dir):
        raise ValueError("Saving image outside the output folder is not allowed. "
                         f"full_output_folder: {os.path.abspath(full_output_folder)}, output_dir: {output_dir}")
    counter = 1
    try:
        prefix = os.path.normcase(filename)
        for existing in os.listdir(full_output_folder):
            head = os.path.normcase(existing)[: len(prefix) + 1]
            if head != prefix + "_":
                continue
            digits = existing[len(prefix) + 1:].split("_", 1)[0]
            if digits.isdigit():
                counter = max(counter, int(digits) + 1)
    except FileNotFoundError:
        os.makedirs(full_output_folder, exist_ok=True)
    return full_output_folder, filename, counter, subfolder, filename_prefix


class _FolderTable(MutableMapping):
    """Live ``folder_names_and_paths``: key -> ([paths], {extensions}) backed by core.paths."""

    def __getitem__(self, key):
        folders = _folders()
        paths = folders.folder_paths(key)  # KeyError for unknown keys, like a dict
        exts = _paths.EXTENSIONS_FOR.get(_paths.canonical(key), _paths.MODEL_EXTENSIONS)
        return [str(p) for p in paths], set(exts)

    def __setitem__(self, key, value):
        paths, exts = value
        key = _paths.canonical(key)
        folders = _folders()
        folders.paths[key] = []
        for p in paths:
            folders.add_path(key, p)
        if exts:
            _paths.EXTENSIONS_FOR[key] = frozenset(e.lower() for e in exts)

    def __delitem__(self, key):
        del _folders().paths[_paths.canonical(key)]

    def __iter__(self):
        return iter([*_folders().known_folders(), "custom_nodes"])

    def __len__(self):
        return len(_folders().known_folders()) + 1


folder_names_and_paths = _FolderTable()


def __getattr__(name):
    folders = _folders()
    dynamic = {"base_path": lambda: str(folders.base), "models_dir": lambda: str(folders.models_dir),
               "output_directory": lambda: str(folders.output_dir), "input_directory": lambda: str(folders.input_dir),
               "temp_directory": lambda: str(folders.temp_dir), "user_directory": lambda: str(folders.user_dir)}
    if name in dynamic:
        return dynamic[name]()
    if name == "supported_pt_extensions":
        return set(_paths.MODEL_EXTENSIONS)
    return _missing(name)


_missing = module_getattr("folder_paths")


def set_output_directory(output_dir) -> None:
    _folders().output_dir = Path(output_dir).resolve()


def set_input_directory(input_dir) -> None:
    _folders().input_dir = Path(input_dir).resolve()


def set_temp_directory(temp_dir) -> None:
    _folders().temp_dir = Path(temp_dir).resolve()


def get_input_subfolders() -> list:
    root = Path(get_input_directory())
    if not root.is_dir():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_dir())


def recursive_search(directory, excluded_dir_names=None):
    """``([relative file paths], {dir: mtime})`` under ``directory`` (ComfyUI's signature)."""
    root = Path(directory)
    if not root.is_dir():
        return [], {}
    excluded = set(excluded_dir_names or ())
    files, dirs = [], {str(root): root.stat().st_mtime}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = [d for d in dirnames if d not in excluded]
        for d in dirnames:
            full = os.path.join(dirpath, d)
            dirs[full] = os.path.getmtime(full)
        files.extend(os.path.relpath(os.path.join(dirpath, f), root) for f in filenames)
    return sorted(files), dirs
