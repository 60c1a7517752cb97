"""Files that travel between the server and its workers when they do not share folders.

Inputs: the server's input files a prompt names (``LoadImage``'s ``image``, a mask, ...) go with the
job and are written into the worker's own input folder. Outputs: every file a node's ``ui`` output
names (``{"filename", "subfolder", "type": "output"|"temp"}``, as SaveImage/PreviewImage give them)
comes back before the ``executed`` event that shows it, and lands in the server's folder of that type.
A name already taken there by different bytes gets the worker's id appended, and the event, outputs
and history say the new name.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path

from core.server.security import Refused, resolve_under

log = logging.getLogger(__name__)

MAX_INPUT_BYTES = 512 * 1024 * 1024  # an input file larger than this is an error, not a silent omission
FILE_TYPES = ("output", "temp")
_receiving = threading.Lock()  # lanes are threads: two files of one name must not race for it


def _folder(folders, kind: str) -> Path:
    return Path({"output": folders.output_dir, "temp": folders.temp_dir, "input": folders.input_dir}[kind])


def input_files(prompt: dict, folders) -> dict:
    """{relative path: bytes} of the files under the input folder that the prompt's string inputs name."""
    root = _folder(folders, "input")
    found = {}
    for node in prompt.values():
        for value in (node.get("inputs") or {}).values() if isinstance(node, dict) else ():
            if not isinstance(value, str) or not value or len(value) > 512:
                continue
            name = value.removesuffix(" [input]").strip()
            sub, _, base = name.rpartition("/")
            try:
                path = resolve_under(root, sub, base)
            except Refused:
                continue
            if path.is_file():
                if path.stat().st_size > MAX_INPUT_BYTES:
                    raise ValueError(f"input file {name!r} is larger than {MAX_INPUT_BYTES >> 20} MB and "
                                     "cannot be sent to a worker; share the input folder instead")
                found[name] = path.read_bytes()
    return found


def write_inputs(files: dict, folders) -> None:
    """On the worker: put the shipped input files in its input folder (unchanged ones are left alone)."""
    root = _folder(folders, "input")
    for name, data in files.items():
        sub, _, base = name.rpartition("/")
        path = resolve_under(root, sub, base)
        if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def file_refs(ui) -> list:
    """The ``{"filename", "subfolder", "type"}`` dicts anywhere in a node's ui output."""
    refs = []
    stack = [ui]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("filename"), str) and item.get("type") in FILE_TYPES:
                refs.append(item)
            else:
                stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return refs


def read_outputs(ui, folders) -> list:
    """On the worker: (type, subfolder, filename, bytes) for each file a ui output names."""
    out = []
    for ref in file_refs(ui):
        try:
            path = resolve_under(_folder(folders, ref["type"]), ref.get("subfolder") or "", ref["filename"])
            out.append((ref["type"], ref.get("subfolder") or "", ref["filename"], path.read_bytes()))
        except (Refused, OSError) as e:
            log.warning("output file %s/%s not sent: %s", ref.get("subfolder"), ref["filename"], e)
    return out


def receive(kind: str, subfolder: str, filename: str, data: bytes, folders, worker_id: str) -> str:
    """On the server: write a worker's file; return the name it got (another if the name was taken)."""
    if kind not in FILE_TYPES:
        raise Refused(400, f"file type {kind!r}")
    with _receiving:
        return _receive(_folder(folders, kind), subfolder, filename, data, worker_id)


def _receive(root: Path, subfolder: str, filename: str, data: bytes, worker_id: str) -> str:
    path = resolve_under(root, subfolder, filename)
    stem, suffix = Path(filename).stem, Path(filename).suffix
    n = 0
    while path.exists():
        if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
            return path.name  # sent again (a cached output shown again): already here
        n += 1
        path = resolve_under(root, subfolder, f"{stem}_{worker_id}{'' if n == 1 else f'_{n}'}{suffix}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(path)  # a reader never sees half a file
    return path.name


def rename(ui, renames: dict):
    """``ui`` with the file names the server gave (renames: (type, subfolder, old) -> new)."""
    if not renames:
        return ui
    if isinstance(ui, dict):
        if isinstance(ui.get("filename"), str) and ui.get("type") in FILE_TYPES:
            key = (ui["type"], ui.get("subfolder") or "", ui["filename"])
            return {**ui, "filename": renames.get(key, ui["filename"])}
        return {k: rename(v, renames) for k, v in ui.items()}
    if isinstance(ui, (list, tuple)):
        return [rename(v, renames) for v in ui]
    return ui
