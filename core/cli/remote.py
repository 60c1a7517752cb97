"""``main.py run --server URL WORKFLOW``: submit a workflow to a running server, follow it, fetch outputs.

Speaks only the public API (POST /prompt, the websocket, /history, /view), so it works against any
ComfyUI-compatible server. Exit codes: 0 success, 1 the job failed, 2 the workflow was refused,
3 the server could not be reached or refused the token, 130 the job was interrupted.
"""
from __future__ import annotations

import asyncio
import json
import logging
import sys
import uuid
from pathlib import Path, PurePosixPath
from urllib.parse import urlencode, urlsplit, urlunsplit

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
FILE_KINDS = ("images", "gifs", "audio", "video", "latents", "files")


class RemoteError(Exception):
    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def load_workflow(path) -> tuple:
    """(API prompt or UI workflow, UI workflow or None) from a .json file or a PNG carrying one."""
    from core.workflow.formats import WorkflowError, read_workflow_file

    try:
        return read_workflow_file(path)
    except WorkflowError as e:
        raise RemoteError(str(e), EXIT_REFUSED) from None


def apply_sets(prompt: dict, sets) -> None:
    from core.cli.flags import apply_sets

    try:
        apply_sets(prompt, sets)
    except ValueError as e:
        raise RemoteError(str(e), EXIT_REFUSED) from None


def _ws_url(base: str, client_id: str, token: str | None) -> str:
    parts = urlsplit(base)
    scheme = "wss" if parts.scheme == "https" else "ws"
    query = {"clientId": client_id}
    if token:
        query["token"] = token
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + "/ws", urlencode(query), ""))


def _safe_parts(item: dict):
    """Subfolder and name of an output file as relative path parts, or None if they try to escape."""
    name = str(item.get("filename", ""))
    sub = str(item.get("subfolder", "") or "")
    parts = [p for p in PurePosixPath(sub.replace("\\", "/")).parts if p not in ("", ".")]
    if not name or "/" in name or "\\" in name or name in (".", "..") or ".." in parts or sub.startswith("/"):
        return None
    return parts, name


class _Progress:
    def __init__(self, stream):
        self.stream = stream
        self.tty = stream.isatty()

    def line(self, text):
        if self.tty:
            self.stream.write("\r\x1b[2K" + text)
            self.stream.flush()

    def done(self):
        if self.tty:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()


async def _run(url, workflow_path, sets, output_dir, token, stream) -> int:
    import aiohttp
    import websockets

    base = url.rstrip("/")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data, ui = load_workflow(workflow_path)
    client_id = uuid.uuid4().hex
    async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=None, sock_connect=10)) as http:
        try:
            if ui is not None and sets:
                # convert here, against the server's catalogue, so --set can name API node ids
                from core.workflow.formats import ui_to_api

                async with http.get(base + "/object_info") as resp:
                    _check_auth(resp)
                    prompt = ui_to_api(ui, await resp.json())
            else:
                prompt = data
            if sets:
                apply_sets(prompt, sets)
            async with websockets.connect(_ws_url(base, client_id, token), max_size=None,
                                          additional_headers=headers) as ws:
                body = {"prompt": prompt, "client_id": client_id}
                if ui is not None:
                    body["extra_data"] = {"extra_pnginfo": {"workflow": ui}}
                async with http.post(base + "/prompt", json=body) as resp:
                    _check_auth(resp)
                    answer = await resp.json(content_type=None)
                    if resp.status != 200:
                        _report_refusal(answer, prompt, stream)
                        return EXIT_REFUSED
                prompt_id = answer["prompt_id"]
                log.info("queued %s as %s", workflow_path, prompt_id)
                code = await _follow(ws, prompt_id, prompt, stream)
            if code != EXIT_OK:
                return code
            async with http.get(f"{base}/history/{prompt_id}") as resp:
                entry = (await resp.json()).get(prompt_id, {})
            return await _download(http, base, entry.get("outputs", {}), Path(output_dir), stream)
        except (aiohttp.ClientConnectionError, OSError, websockets.exceptions.InvalidHandshake) as e:
            status = getattr(getattr(e, "response", None), "status_code", None)
            if status in (401, 403):
                raise RemoteError(f"{base} refused the connection ({status}): pass the server's token with --token",
                                  EXIT_UNREACHABLE) from None
            raise RemoteError(f"cannot reach {base}: {e}", EXIT_UNREACHABLE) from None


def _check_auth(resp):
    if resp.status in (401, 403):
        raise RemoteError(f"the server refused the request ({resp.status}); pass its token with --token",
                          EXIT_UNREACHABLE)


def _report_refusal(answer, prompt, stream):
    error = answer.get("error") if isinstance(answer, dict) else None
    message = error.get("message") if isinstance(error, dict) else str(error)
    stream.write(f"the server refused the workflow: {message}\n")
    for node_id, info in (answer.get("node_errors") or {}).items():
        for e in info.get("errors", []):
            name = e.get("extra_info", {}).get("input_name")
            where = f"{info.get('class_type', '?')} #{node_id}" + (f", input '{name}'" if name else "")
            stream.write(f"  {where}: {e.get('message')} ({e.get('details')})\n")


async def _follow(ws, prompt_id, prompt, stream) -> int:
    bar = _Progress(stream)
    node = None
    async for raw in ws:
        if isinstance(raw, bytes):
            continue  # preview frames
        msg = json.loads(raw)
        kind, data = msg.get("type"), msg.get("data") or {}
        if data.get("prompt_id") not in (None, prompt_id):
            continue
        if kind == "executing" and data.get("prompt_id") == prompt_id:
            if data.get("node") is None:
                bar.done()
                return EXIT_OK
            node = data["node"]
            bar.line(f"#{node} {prompt.get(node, {}).get('class_type', '')}")
        elif kind == "progress":
            width, value, total = 30, data.get("value", 0), max(1, data.get("max", 1))
            filled = int(width * value / total)
            bar.line(f"#{data.get('node') or node} {'█' * filled}{'░' * (width - filled)} {value}/{total}")
        elif kind == "execution_error":
            bar.done()
            stream.write(f"{data.get('node_type')} #{data.get('node_id')} failed: "
                         f"{data.get('exception_type')}: {data.get('exception_message')}\n")
            return EXIT_FAILED
        elif kind == "execution_interrupted":
            bar.done()
            stream.write(f"interrupted at #{data.get('node_id')}\n")
            return EXIT_INTERRUPTED
    raise RemoteError("the server closed the websocket before the job finished", EXIT_UNREACHABLE)


async def _download(http, base, outputs, output_dir: Path, stream) -> int:
    count = 0
    for ui in outputs.values():
        if not isinstance(ui, dict):
            continue
        for kind in FILE_KINDS:
            for item in ui.get(kind) or []:
                if not isinstance(item, dict) or "filename" not in item:
                    continue
                safe = _safe_parts(item)
                if safe is None:
                    log.warning("skipping output with an unsafe name: %r", item)
                    continue
                parts, name = safe
                query = {"filename": item["filename"], "subfolder": item.get("subfolder", ""),
                         "type": item.get("type", "output")}
                async with http.get(f"{base}/view", params=query) as resp:
                    if resp.status != 200:
                        stream.write(f"could not download {name}: HTTP {resp.status}\n")
                        return EXIT_FAILED
                    target = output_dir.joinpath(*parts, name)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(await resp.read())
                stream.write(f"{target}\n")
                count += 1
    log.info("downloaded %d file(s) to %s", count, output_dir)
    return EXIT_OK


def run_remote(url, workflow_path, sets, output_dir, token=None, stream=None) -> int:
    """Submit ``workflow_path`` to the server at ``url``, follow it, download its outputs; exit code."""
    stream = stream or sys.stderr
    try:
        return asyncio.run(_run(url, workflow_path, sets, output_dir, token, stream))
    except RemoteError as e:
        stream.write(f"{e}\n")
        return e.code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
