"""The worker thread: claims jobs from the store one at a time and runs them through the executor.

The executor is built lazily in this thread on the first job (so server start never imports it or
torch). Terminal events (``execution_success``/``_error``/``_interrupted`` and ``executing`` with
``node: null``) are held back until the history entry is committed, so a client that reacts to them
by fetching ``/history/{id}`` always finds the entry.
"""
from __future__ import annotations

import gc
import io
import logging
import sys
import threading
import time
import traceback

from core.server import jsonio
from core.server.scrub import relative_paths

log = logging.getLogger(__name__)

TERMINAL_EVENTS = frozenset({"execution_success", "execution_error", "execution_interrupted"})


def encode_preview(image, max_size: int | None = 512):
    """A preview as ("JPEG"|"PNG", bytes) for a binary websocket frame (docs/comfy-api.md §2).

    ``image`` is a PIL image (a latent preview: JPEG, scaled to fit ``max_size``), or a tuple as
    ComfyUI's previewers give it: ``(format, PIL image, max_size)``, where the format is kept and a
    ``None`` max size sends the image at full size (``SaveImageWebsocket`` sends ``("PNG", image,
    None)``), or ``(format, encoded bytes)`` sent as is.
    """
    fmt = "JPEG"
    if isinstance(image, (tuple, list)):
        fmt = "PNG" if str(image[0]).upper() == "PNG" else "JPEG"
        data = image[1]
        if isinstance(data, (bytes, bytearray)):
            return fmt, bytes(data)
        if len(image) >= 3:
            max_size = image[2]
        image = data
    if max_size is not None and max(image.size) > int(max_size):
        image = image.copy()
        image.thumbnail((int(max_size), int(max_size)))  # keeps the aspect; a small image is not enlarged
    buf = io.BytesIO()
    if fmt == "PNG":
        image.save(buf, format="PNG", compress_level=1)  # previews favour speed over size
    else:
        image.convert("RGB").save(buf, format="JPEG", quality=95)
    return fmt, buf.getvalue()


class Worker:
    def __init__(self, store, registry, hub, *, executor_factory, preview_size: int = 512,
                 preview_method: str = "none"):
        self.store = store
        self.registry = registry
        self.hub = hub
        self.executor_factory = executor_factory
        self.preview_size = preview_size
        self.preview_method = preview_method
        self.executor = None
        self.current = None  # the running Job
        self.sensitive: dict = {}  # prompt_id -> keys kept out of the store (docs/comfy-api.md §1.1 step 6)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._free = {"unload_models": False, "free_memory": False}
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._loop, name="latentflow-worker", daemon=True)

    # --- control (any thread) ------------------------------------------------------------------
    def start(self):
        self.thread.start()

    def wake(self):
        self._wake.set()

    def stop(self, timeout: float = 10.0):
        self._stop.set()
        self._wake.set()
        if self.executor is not None:
            self.executor.interrupt()
        if self.thread.is_alive():
            self.thread.join(timeout)

    def interrupt(self, prompt_id: str | None = None) -> bool:
        with self._lock:
            job, executor = self.current, self.executor
        if job is None or executor is None:
            return False
        if prompt_id is not None and prompt_id != job.prompt_id:
            return False
        executor.interrupt()
        return True

    def request_free(self, unload_models: bool, free_memory: bool):
        with self._lock:
            self._free["unload_models"] |= bool(unload_models)
            self._free["free_memory"] |= bool(free_memory)
        if self.current is None:
            self.wake()

    # --- the loop ------------------------------------------------------------------------------
    def _loop(self):
        from core.server import runtime

        # torch/devices may still be loading (main.py serve); a stop meanwhile (Ctrl+C) must not wait for it
        while not runtime.wait_ready(timeout=0.1, raise_error=False):
            if self._stop.is_set():
                return
        while not self._stop.is_set():
            self._apply_free()
            try:
                job = self.store.claim_next()
            except Exception:
                log.exception("worker: could not read the queue")
                job = None
            if job is None:
                self._wake.wait(timeout=1.0)
                self._wake.clear()
                continue
            self._run(job)

    def _run(self, job):
        with self._lock:
            self.current = job
        client_id = job.extra_data.get("client_id")
        self.hub.current = {"prompt_id": job.prompt_id, "client_id": client_id, "node": None}
        self.hub.threadsafe("send_status")
        held = []  # terminal events, sent after the history entry is committed

        def emit(event, data):
            if event in TERMINAL_EVENTS or (event == "executing" and data.get("node") is None):
                held.append((event, data))
                return
            if event == "executing":
                self.hub.current = {**self.hub.current, "node": data.get("node")}
            self.hub.threadsafe("route", event, data, client_id)

        def emit_preview(node_id, image):
            try:
                fmt, data = encode_preview(image, self.preview_size)
            except Exception:
                log.exception("worker: could not encode a preview of node %s", node_id)
                return
            meta = {"node_id": node_id, "prompt_id": job.prompt_id, "display_node_id": node_id,
                    "parent_node_id": None, "real_node_id": node_id}
            self.hub.threadsafe("send_preview", fmt, data, meta, client_id)

        extra = dict(job.extra_data)
        extra.update(self.sensitive.pop(job.prompt_id, {}))
        status, outputs, messages, error = "error", {}, [], None
        started = time.time()
        try:
            if self.executor is None:
                self.executor = self.executor_factory(self.registry)
            result = self.executor.execute(job.prompt, job.prompt_id, extra, job.outputs_to_execute,
                                           emit=emit, emit_preview=emit_preview,
                                           preview_method=self.preview_method)  # --preview-method
            outputs = result.outputs or {}
            messages = [list(m) for m in (result.messages or [])]
            status = "success" if result.success else ("interrupted" if result.interrupted else "error")
            error = result.error if not result.success else None
        except Exception as e:  # an executor bug must not kill the worker or lose the job's record
            log.exception("worker: job %s failed outside any node", job.prompt_id)
            now = int(time.time() * 1000)
            data = {"prompt_id": job.prompt_id, "node_id": None, "node_type": None, "executed": [],
                    "exception_message": str(e), "exception_type": type(e).__qualname__,
                    "traceback": traceback.format_exception(e), "current_inputs": {}, "current_outputs": [],
                    "timestamp": now}
            held.append(("execution_error", data))
            messages = [["execution_start", {"prompt_id": job.prompt_id, "timestamp": int(started * 1000)}],
                        ["execution_error", data]]
            error = {"type": type(e).__qualname__, "message": str(e)}
        with self._lock:
            self.current = None
        publish_result(self.store, self.hub, job, status, outputs, messages, error, held)
        log.info("job %s finished: %s in %.2fs", job.prompt_id, status, time.time() - started)

    def _apply_free(self):
        """POST /free, between jobs: ``unload_models`` moves every idle model off the compute device;
        ``free_memory`` also drops every cached node output (the models among them), so their memory
        returns to the system (ComfyUI: unload_models defaults to free_memory, see routes_info.free)."""
        with self._lock:
            flags, self._free = self._free, {"unload_models": False, "free_memory": False}
        # Only a job can have loaded a model, and jobs import core.devices: if it was never imported,
        # nothing is loaded, and importing it here would pull torch into a server that never ran a job.
        devices = sys.modules.get("core.devices")
        if flags["unload_models"] and devices is not None:
            devices.manager.unload_all()
            log.info("/free: every idle model moved off %s", devices.get_torch_device())
        if flags["free_memory"]:
            self.executor = None  # a fresh executor starts with empty caches: cached models are released
            gc.collect()
            if devices is not None:
                devices.empty_cache()
            log.info("/free: cached node outputs dropped")


def publish_result(store, hub, job, status, outputs, messages, error, held):
    """Record a finished job, then send its held-back terminal events and the queue status.

    Shared by the in-process worker and the cluster's lanes (core/cluster/lane.py), so a client sees
    the same message sequence whichever ran the job.
    """
    client_id = job.extra_data.get("client_id")
    # error reports name files relative to the install, in the history and in the events alike
    messages = relative_paths(messages)
    error = relative_paths(error) if error is not None else None
    held = [(event, relative_paths(data) if event == "execution_error" else data) for event, data in held]
    try:
        store.finish(job.prompt_id, status, _jsonable(outputs), messages,
                     _jsonable(error) if error is not None else None)
    except Exception:
        log.exception("worker: could not record the result of job %s", job.prompt_id)
    if hub.current.get("prompt_id") == job.prompt_id:
        hub.current = {}
    for event, data in held:
        if event != "executing":
            hub.threadsafe("route", event, data, client_id)
    hub.threadsafe("route", "executing", {"node": None, "prompt_id": job.prompt_id}, client_id)
    hub.threadsafe("send_status")


def _jsonable(value):
    """History must be strict JSON; anything a plugin put in a ui dict that is not becomes its str(),
    NaN and Infinity become null."""
    return jsonio.sanitize(value)
