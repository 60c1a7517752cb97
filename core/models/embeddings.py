"""Textual-inversion embeddings (``embedding:NAME`` in prompts) from the ``embeddings`` folders.

Accepted files: ``.safetensors`` (read with safetensors) and ``.pt``/``.bin``/``.ckpt`` (only through
``torch.load(weights_only=True)``; pickles that need code are refused). Accepted layouts, in order:
A1111's ``{"string_to_param": {"*": tensor}}``, dicts keyed by encoder (``clip_l``, ``clip_g``), and
otherwise the first tensor in the file. A file whose vectors do not match the encoder's width is
skipped with a warning, so an SD1 embedding in an SDXL prompt only feeds the encoder it fits.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

EXTENSIONS = ("", ".safetensors", ".pt", ".bin")


def find_embedding_file(name: str, dirs) -> Path | None:
    """The file for ``name`` under one of ``dirs`` (never outside them); subfolders searched by name."""
    name = name.strip().replace("\\", "/")
    if not name or name.startswith("/") or ".." in name.split("/"):
        return None
    roots = [Path(d).resolve() for d in dirs if d and Path(d).is_dir()]
    for root in roots:
        for ext in EXTENSIONS:
            candidate = (root / (name + ext)).resolve()
            if candidate.is_file() and candidate.is_relative_to(root):
                return candidate
    # Not at the top: look for the same file name in subfolders (people sort embeddings into folders).
    wanted = {name + ext for ext in EXTENSIONS if ext} | {name}
    for root in roots:
        for folder, subdirs, files in os.walk(root, followlinks=True):
            subdirs.sort()
            for f in sorted(files):
                if f in wanted:
                    return (Path(folder) / f).resolve()
    return None


def read_embedding_file(path) -> dict:
    """All tensors (and nested dicts) of an embedding file."""
    path = Path(path)
    if path.suffix.lower() in (".safetensors", ".sft"):
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    import torch

    try:
        data = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # weights_only refuses pickles with code; say which file
        raise ValueError(f"embedding {path.name}: cannot be read safely ({e})") from e
    if not isinstance(data, dict):
        if hasattr(data, "ndim"):
            return {"emb": data}
        raise ValueError(f"embedding {path.name}: unexpected content {type(data).__name__}")
    return data


def embedding_vectors(data: dict, *, width: int, key: str | None = None, name: str = "?"):
    """The ``[n, width]`` vectors in ``data`` for an encoder of ``width`` (``key`` e.g. "clip_g")."""
    import torch

    tensor = None
    if isinstance(data.get("string_to_param"), dict):
        params = data["string_to_param"]
        tensor = params.get("*", next(iter(params.values()), None))
    elif key is not None and key in data:
        tensor = data[key]
    elif any(k in data for k in ("clip_l", "clip_g")):
        tensor = None  # a per-encoder file without this encoder
    else:
        tensor = _first_tensor(data)
    if tensor is None:
        log.warning("embedding %s: nothing for this text encoder (%s)", name, key or f"width {width}")
        return None
    tensor = tensor.detach().to(torch.float32)
    if tensor.ndim == 1:
        tensor = tensor[None]
    if tensor.ndim != 2 or tensor.shape[-1] != width:
        log.warning("embedding %s: vectors of shape %s do not fit a text encoder of width %d; skipped",
                    name, tuple(tensor.shape), width)
        return None
    return tensor


def _first_tensor(data):
    import torch

    for value in data.values():
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            return value
        if isinstance(value, dict):
            found = _first_tensor(value)
            if found is not None:
                return found
    return None


class EmbeddingLookup:
    """``lookup(name) -> [n, width] | None`` for one text encoder; files read once per lookup object."""

    def __init__(self, dirs, *, width: int, key: str | None):
        self.dirs = [d for d in (dirs or ())]
        self.width = width
        self.key = key
        self._cache: dict = {}

    def __call__(self, name: str):
        path = find_embedding_file(name, self.dirs)
        if path is None:
            return None
        stamp = (path, path.stat().st_mtime_ns)
        if stamp not in self._cache:
            try:
                data = read_embedding_file(path)
            except ValueError as e:
                log.warning("%s", e)
                return None
            self._cache[stamp] = embedding_vectors(data, width=self.width, key=self.key, name=name)
        return self._cache[stamp]
