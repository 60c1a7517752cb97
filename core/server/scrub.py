"""Server paths out of error reports: tracebacks and messages in /history, /jobs and websocket events
name files relative to the install (``core/execution/node_call.py``), not where the server lives on disk.

A traceback tells a plugin author which line failed; the absolute path adds only the server's user
name and directory layout, which any client of the queue could read.
"""
from __future__ import annotations

import os
import sysconfig
from pathlib import Path

INSTALL = Path(__file__).resolve().parents[2]


def _prefixes() -> list:
    """(absolute prefix with its separator, replacement), longest first so the most specific wins."""
    found = {}
    paths = sysconfig.get_paths()
    for key, label in (("purelib", "<site-packages>"), ("platlib", "<site-packages>"),
                       ("stdlib", "<python>"), ("platstdlib", "<python>")):
        if paths.get(key):
            found[os.path.realpath(paths[key])] = label
            found[paths[key]] = label
    try:
        from core import paths as folders
        base = str(folders.get().base)
        found[base] = "<base>"
    except Exception:  # no folders configured (tests of the server alone): nothing to add
        pass
    found[str(INSTALL)] = ""
    home = os.path.expanduser("~")
    if home not in ("", "/", "~"):
        found[home] = "~"
    pairs = []
    for prefix, label in found.items():
        prefix = prefix.rstrip(os.sep)
        if prefix:
            pairs.append((prefix + os.sep, label + "/" if label else ""))
    return sorted(pairs, key=lambda pair: -len(pair[0]))


def relative_paths(value, _depth: int = 0, _pairs=None):
    """A copy of a JSON-like value with absolute server paths in its strings made relative."""
    pairs = _pairs if _pairs is not None else _prefixes()
    if isinstance(value, str):
        for prefix, label in pairs:
            if prefix in value:
                value = value.replace(prefix, label)
        return value
    if _depth > 50:  # error reports are shallow; anything deeper is left as it is
        return value
    if isinstance(value, dict):
        return {k: relative_paths(v, _depth + 1, pairs) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [relative_paths(v, _depth + 1, pairs) for v in value]
    return value
