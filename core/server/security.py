"""Safe-by-default request policy for the server: who may talk to it and which files it may touch.

ComfyUI's published advisories are the cases this module is written against:
- CSRF from any web page (a form or fetch POSTing /prompt to localhost): state-changing requests and
  websocket upgrades must come from our own origin; ``Origin: null`` (sandboxed iframes, file://)
  and ``Sec-Fetch-Site: cross-site``/``same-site`` are refused unless --enable-cors-header names it.
- DNS rebinding (evil.example resolving to 127.0.0.1, so the browser thinks it is same-origin):
  while bound to loopback, the Host header must be a loopback name.
- Exposure with --listen: a random bearer token is required (header, cookie, or ``?token=`` once).
- Stored XSS through /view: only passive media is served inline; everything else downloads, nosniff.
- Path and symlink traversal: a path is resolved with symlinks followed *before* it is checked
  against its root.
"""
from __future__ import annotations

import hmac
import ipaddress
import logging
import mimetypes
import os
import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

from aiohttp import web

from core.server.jsonio import BadJSON, error_response

log = logging.getLogger(__name__)

TOKEN_COOKIE = "latentflow_token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
# Only passive media and plain data render inline; html/svg/js/xml/css and unknown types download.
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp", "image/tiff",
                          "video/mp4", "video/webm", "audio/mpeg", "audio/wav", "audio/x-wav", "audio/ogg",
                          "audio/flac", "application/json", "text/plain"})
_ENCODED_SEPARATOR = re.compile(r"%(2f|5c|2e|00)", re.IGNORECASE)
_FORBIDDEN_CHARS = re.compile(r'[\x00-\x1f\x7f<>:"|?*\\/]')


class Refused(Exception):
    """A request refused by policy; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, reason: str, headers: dict | None = None):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers or {}


@dataclass
class SecurityConfig:
    loopback_only: bool = True  # bound only to loopback: enforce the Host check
    allowed_hosts: set = field(default_factory=set)  # extra Host names accepted (lower case, no port)
    cors_origins: tuple = ()  # from --enable-cors-header; "*" allows any origin
    token: str | None = None  # bearer token; None = no authentication

    def cors_allows(self, origin: str | None) -> bool:
        if not origin or not self.cors_origins:
            return False
        return "*" in self.cors_origins or origin.rstrip("/") in self.cors_origins


def is_loopback_bind(addresses) -> bool:
    """True when every address the server binds to is a loopback address."""
    for addr in addresses:
        addr = addr.strip().strip("[]")
        if addr == "localhost":
            continue
        try:
            if not ipaddress.ip_address(addr).is_loopback:
                return False
        except ValueError:
            return False  # a host name we cannot classify: treat as exposed
    return True


def new_token() -> str:
    return secrets.token_urlsafe(32)


def config_from_args(args, bind_addresses) -> SecurityConfig:
    loopback = is_loopback_bind(bind_addresses)
    cors = args.enable_cors_header
    origins = tuple(o.strip().rstrip("/") for o in str(cors).split(",") if o.strip()) if cors else ()
    token = None
    if not loopback and not args.disable_auth:
        token = os.environ.get("LATENTFLOW_TOKEN") or new_token()
    elif not loopback:
        log.warning("authentication disabled while listening on %s: anyone who can reach this port "
                    "can run jobs and read outputs", ",".join(bind_addresses))
    return SecurityConfig(loopback_only=loopback, cors_origins=origins, token=token)


# --- request checks ----------------------------------------------------------------------------
def split_host(value: str):
    """'Host' header or netloc -> (lower-case host name, port or None)."""
    value = (value or "").strip().lower()
    if value.startswith("["):
        end = value.find("]")
        host, rest = value[: end + 1], value[end + 1:]
        port = rest[1:] if rest.startswith(":") else None
    elif value.count(":") == 1:
        host, port = value.split(":")
    else:
        host, port = value, None
    return host, (int(port) if port and port.isdigit() else None)


def _origin_matches_host(origin: str, host_header: str) -> bool:
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    o_host, o_port = split_host(parts.netloc)
    h_host, h_port = split_host(host_header)
    default = 443 if parts.scheme == "https" else 80
    return o_host == h_host and (o_port or default) == (h_port or default)


def check_host(config: SecurityConfig, request) -> None:
    if not config.loopback_only:
        return
    host, _port = split_host(request.headers.get("Host", ""))
    if host in LOOPBACK_NAMES or host.endswith(".localhost") or host in config.allowed_hosts:
        return
    raise Refused(403, f"Host {host!r} is not this server's address (DNS rebinding protection)")


def check_origin(config: SecurityConfig, request) -> None:
    """Refuse cross-origin state changes and websocket upgrades (CSRF, cross-site websocket hijack)."""
    is_ws = request.headers.get("Upgrade", "").lower() == "websocket"
    if request.method not in UNSAFE_METHODS and not is_ws:
        return
    origin = request.headers.get("Origin")
    if config.cors_allows(origin):
        return
    if origin is not None:
        if origin.strip().lower() == "null":
            raise Refused(403, "requests from an opaque origin (Origin: null) are refused")
        if not _origin_matches_host(origin, request.headers.get("Host", "")):
            raise Refused(403, f"cross-origin request from {origin!r} refused; "
                               "start with --enable-cors-header ORIGIN to allow it")
    site = request.headers.get("Sec-Fetch-Site", "").lower()
    if site in ("cross-site", "same-site") and not (origin and _origin_matches_host(origin, request.headers.get("Host", ""))):
        raise Refused(403, f"cross-site request refused (Sec-Fetch-Site: {site})")


def request_token(request) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return request.query.get("token") or request.cookies.get(TOKEN_COOKIE)


def token_ok(config: SecurityConfig, supplied: str | None) -> bool:
    return config.token is None or (supplied is not None and hmac.compare_digest(supplied.encode(), config.token.encode()))


def make_middleware(config: SecurityConfig):
    @web.middleware
    async def security(request, handler):
        try:
            check_host(config, request)
            if request.method == "OPTIONS":  # CORS preflight: answered here, never reaches a handler
                response = web.Response(status=200)
            else:
                check_origin(config, request)
                if not token_ok(config, request_token(request)):
                    raise Refused(401, "authentication required: pass the token printed at start as "
                                       "'Authorization: Bearer <token>' or open the page once with ?token=<token>")
                response = await _answer(handler, request)
                if config.token and request.query.get("token") and request.method == "GET" \
                        and request.cookies.get(TOKEN_COOKIE) != config.token:
                    response.set_cookie(TOKEN_COOKIE, config.token, httponly=True, samesite="Strict", path="/")
        except Refused as e:
            log.info("refused %s %s: %s", request.method, request.path, e.reason)
            response = error_response(e.reason, e.status, headers=e.headers)
            if e.status == 401:
                response.headers["WWW-Authenticate"] = "Bearer"
        if not response.prepared:
            add_headers(config, request, response)
        return response

    return security


async def _answer(handler, request):
    """The handler's response; exceptions become answers here so that every one gets our headers."""
    try:
        return await handler(request)
    except web.HTTPException as e:  # router 404/405, aiohttp's 413, handler-raised statuses
        if e.status < 400:  # redirects and the like keep their own shape
            return web.Response(status=e.status, text=e.text, headers=e.headers)
        if e.status >= 500:
            log.error("%s %s answered %d: %s", request.method, request.path, e.status, e.text)
        headers = {k: v for k, v in e.headers.items() if k.lower() not in ("content-type", "content-length")}
        return error_response(e.text or e.reason, e.status, headers=headers)
    except BadJSON as e:
        log.info("bad JSON in %s %s: %s", request.method, request.path, e)
        return error_response(str(e), 400)
    except Refused:
        raise
    except Exception:  # a server bug: logged with its traceback, answered without it
        log.exception("%s %s failed", request.method, request.path)
        return error_response("internal server error (the server log has the details)", 500)


def add_headers(config: SecurityConfig, request, response) -> None:
    h = response.headers
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("Referrer-Policy", "no-referrer")  # keeps ?token= out of Referer headers
    h.setdefault("X-Frame-Options", "SAMEORIGIN")  # no clickjacking of the canvas
    origin = request.headers.get("Origin")
    if config.cors_allows(origin):
        h["Access-Control-Allow-Origin"] = "*" if "*" in config.cors_origins else origin
        h["Access-Control-Allow-Methods"] = "POST, GET, DELETE, PUT, OPTIONS, PATCH"
        h["Access-Control-Allow-Headers"] = "Content-Type, Authorization"
        h["Access-Control-Allow-Credentials"] = "true"


# --- files ------------------------------------------------------------------------------------
NAME_MAX, PATH_MAX = 255, 4095  # bytes; past these the OS answers ENAMETOOLONG (an OSError, not a 400)


def _check_text(value: str, what: str) -> None:
    if "\x00" in value:
        raise Refused(400, f"{what} contains a NUL byte")
    if _ENCODED_SEPARATOR.search(value):
        raise Refused(400, f"{what} contains an encoded separator or dot")
    raw = value.encode("utf-8", "surrogatepass")
    if len(raw) > PATH_MAX or any(len(part) > NAME_MAX for part in raw.replace(b"\\", b"/").split(b"/")):
        raise Refused(400, f"{what} is too long (at most {NAME_MAX} bytes per name)")


def resolve_under(root, subfolder: str, filename: str) -> Path:
    """The real path of root/subfolder/filename, refused unless it lies under root's real path.

    Malformed names answer 400; names that resolve outside the root (``..``, absolute subfolders,
    symlinks pointing out) answer 403. Only the basename of ``filename`` is used, as ComfyUI does.
    """
    if not isinstance(filename, str) or not filename:
        raise Refused(400, "filename is required")
    subfolder = subfolder or ""
    _check_text(filename, "filename")
    _check_text(subfolder, "subfolder")
    if filename.startswith("/") or ".." in filename or "\\" in filename or (len(filename) > 1 and filename[1] == ":"):
        raise Refused(400, f"invalid filename {filename!r}")
    name = os.path.basename(filename)
    if not name or name in (".", ".."):
        raise Refused(400, f"invalid filename {filename!r}")
    if "\\" in subfolder or os.path.isabs(subfolder) or (len(subfolder) > 1 and subfolder[1] == ":"):
        raise Refused(403, f"subfolder {subfolder!r} is outside the folder")
    root_real = os.path.realpath(root)
    target = os.path.realpath(os.path.join(root_real, subfolder, name))
    if not _within(target, root_real):
        raise Refused(403, f"{os.path.join(subfolder, name)!r} resolves outside the folder")
    return Path(target)


def resolve_dir_under(root, subfolder: str) -> Path:
    """The real path of a (possibly new) subfolder of root; 400 if malformed, 403 if it escapes."""
    subfolder = subfolder or ""
    _check_text(subfolder, "subfolder")
    if "\\" in subfolder or os.path.isabs(subfolder) or (len(subfolder) > 1 and subfolder[1] == ":"):
        raise Refused(400, f"subfolder {subfolder!r} is outside the folder")
    root_real = os.path.realpath(root)
    target = os.path.realpath(os.path.join(root_real, subfolder))
    if not _within(target, root_real):
        raise Refused(400, f"subfolder {subfolder!r} resolves outside the folder")
    return Path(target)


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def sanitize_filename(name: str, *, allowed_extensions=IMAGE_EXTENSIONS) -> str:
    """An uploaded file's name made safe to store: basename only, no control or reserved characters."""
    if not isinstance(name, str):
        raise Refused(400, "file name missing")
    _check_text(name, "file name")
    name = unicodedata.normalize("NFC", name.replace("\\", "/").rsplit("/", 1)[-1])
    name = _FORBIDDEN_CHARS.sub("_", name).strip(" .")
    stem, ext = os.path.splitext(name)
    if not stem or not ext:
        raise Refused(400, "file name is empty or has no extension")
    if allowed_extensions is not None and ext.lower() not in allowed_extensions:
        raise Refused(400, f"file type {ext!r} is not accepted (allowed: {', '.join(sorted(allowed_extensions))})")
    return stem[:200] + ext.lower()


def content_disposition(kind: str, filename: str) -> str:
    """``inline``/``attachment`` with the name quoted safely (RFC 6266): an ASCII fallback without
    quotes, backslashes or control characters, and the exact name percent-encoded as ``filename*``."""
    fallback = "".join(c if 0x20 <= ord(c) < 0x7f and c not in '"\\' else "_" for c in filename) or "file"
    value = f'{kind}; filename="{fallback}"'
    if fallback != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value


def file_response_headers(path: Path) -> dict:
    """Content-Type and Content-Disposition: passive media inline, active content as a download."""
    ctype, _enc = mimetypes.guess_type(path.name)
    if ctype in INLINE_TYPES:
        return {"Content-Type": ctype, "Content-Disposition": content_disposition("inline", path.name),
                "X-Content-Type-Options": "nosniff"}
    return {"Content-Type": "application/octet-stream",
            "Content-Disposition": content_disposition("attachment", path.name), "X-Content-Type-Options": "nosniff"}
