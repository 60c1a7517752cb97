"""The one JSON reader and writer of the server: every request body, websocket message and answer.

Reading is strict where Python's ``json`` is lenient or fragile: ``NaN``/``Infinity`` tokens, numbers
that overflow a double (``1e400``), integers beyond 64 bits and nesting deeper than :data:`MAX_DEPTH`
are refused with :class:`BadJSON`, whose message a route answers with (400). Python's own parser
would accept the first three and store values no browser's ``JSON.parse`` can read back, and deep
nesting makes it (or any later recursive walk) raise RecursionError.

Writing never emits NaN/Infinity: a value that holds one (a job stored before this reader existed, a
plugin's ui dict) is written with those floats as ``null`` instead of breaking every client.
"""
from __future__ import annotations

import json
import logging
import math

from aiohttp import web

log = logging.getLogger(__name__)

# Deepest workflows seen in practice (subgraphs in UI workflows) nest ~20 levels; 100 leaves room and
# keeps every later recursive walk (validation, json.dumps, SQLite round trips) far from the C stack.
MAX_DEPTH = 100
# Seeds go up to 2**64 - 1 (ComfyUI's seed widgets); anything wider is not a number a client means.
MAX_INT = 2**64 - 1
_MAX_INT_DIGITS = len(str(MAX_INT)) + 1  # sign


class BadJSON(ValueError):
    """Input that is not strict, bounded JSON; the message says why (for a 400 answer)."""


def _refuse_constant(name):
    raise BadJSON(f"{name} is not valid JSON (only finite numbers are accepted)")


def _parse_float(text):
    value = float(text)
    if not math.isfinite(value):
        raise BadJSON(f"the number {text[:40]} is too large")
    return value


def _parse_int(text):
    if len(text) > _MAX_INT_DIGITS or abs(value := int(text)) > MAX_INT:
        raise BadJSON(f"the integer {text[:40]}{'...' if len(text) > 40 else ''} is too large "
                      f"(at most {len(str(MAX_INT))} digits, |n| <= 2**64-1)")
    return value


_DECODER = json.JSONDecoder(parse_float=_parse_float, parse_int=_parse_int, parse_constant=_refuse_constant)


def depth(value) -> int:
    """Nesting depth of containers (a scalar is 0, ``[]`` is 1), walked without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def loads(raw, what: str = "request body"):
    """Strict JSON from bytes or text; :class:`BadJSON` naming ``what`` and the reason otherwise."""
    if isinstance(raw, (bytes, bytearray)):
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as e:
            raise BadJSON(f"{what} is not UTF-8 text (byte {e.start})") from None
    if not isinstance(raw, str):
        raise BadJSON(f"{what} is not text")
    # Fewer brackets than the limit cannot nest deeper than it: most bodies skip the walk below.
    brackets = raw.count("[") + raw.count("{")
    try:
        value = _DECODER.decode(raw)
    except BadJSON as e:
        raise BadJSON(f"{what}: {e}") from None
    except RecursionError:
        raise BadJSON(f"{what} is nested too deeply (at most {MAX_DEPTH} levels)") from None
    except ValueError as e:  # JSONDecodeError, or int() past Python's digit limit
        raise BadJSON(f"{what} is not valid JSON ({e})") from None
    if brackets > MAX_DEPTH and depth(value) > MAX_DEPTH:
        raise BadJSON(f"{what} is nested too deeply (at most {MAX_DEPTH} levels)")
    return value


def sanitize(value, max_depth: int = MAX_DEPTH * 4):
    """A copy that strict JSON can hold: non-finite floats become None, containers past ``max_depth``
    become None, tuples become lists, keys become strings; built without recursion."""
    def clean_scalar(item):
        if isinstance(item, float) and not math.isfinite(item):
            return None
        if item is None or isinstance(item, (str, int, float)):
            return item
        return str(item)  # as json.dumps(default=str) would have written it

    def container(item):
        if isinstance(item, dict):
            return {}
        if isinstance(item, (list, tuple)):
            return []
        return None

    root = container(value)
    if root is None:
        return clean_scalar(value)
    stack = [(value, root, 1)]
    while stack:
        src, dst, level = stack.pop()
        items = src.items() if isinstance(src, dict) else enumerate(src)
        for key, item in items:
            out = container(item)
            if out is None:
                out = clean_scalar(item)
            elif level >= max_depth:
                out = None
            else:
                stack.append((item, out, level + 1))
            if isinstance(dst, dict):
                dst[key if isinstance(key, str) else str(key)] = out
            else:
                dst.append(out)
    return root


def dumps(value, **kwargs) -> str:
    """Strict JSON text (no NaN/Infinity ever); values that need it are sanitized first."""
    try:
        return json.dumps(value, allow_nan=False, **kwargs)
    except (ValueError, TypeError, RecursionError):
        return json.dumps(sanitize(value), allow_nan=False, **kwargs)


def json_response(data, status: int = 200, **kwargs) -> web.Response:
    return web.json_response(data, status=status, dumps=dumps, **kwargs)


def error_response(message: str, status: int = 400, headers=None, **fields) -> web.Response:
    """``{"error": message, ...}`` with the given status: every refusal reads the same."""
    return json_response({"error": message, **fields}, status=status, headers=headers)


async def read_json(request, default=None, what: str = "request body"):
    """The request's JSON body (``default`` when empty); :class:`BadJSON` when it is not strict JSON."""
    raw = await request.read()
    if not raw.strip():
        return default
    return loads(raw, what)
