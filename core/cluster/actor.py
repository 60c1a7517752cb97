"""The worker actor: one process per GPU (or CPU slot) with its own registry, executor, caches and models.

It is a plain class; core/cluster/pool.py wraps it with ``ray.remote`` (threaded, so ``interrupt``,
``free`` and ``stats`` are answered while ``run_job`` runs). ``run_job`` is a generator: Ray streams
each item it yields back to the server as soon as it is produced, in order:

    ("event", type, data)                  executor events (execution_start, executing, progress, ...)
    ("preview", format, bytes, node_id)    an encoded preview image
    ("custom", type, data, sid)            a custom node's PromptServer.send_sync message
    ("file", kind, subfolder, name, bytes) an output file, sent just before the ``executed`` naming it
    ("result", {...})                      last: status, outputs, messages, error
"""
from __future__ import annotations

import copy
import gc
import importlib
import logging
import os
import queue
import socket
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

log = logging.getLogger(__name__)

_DONE = object()


def resolve_setup(spec: str):
    """``"module:function"`` → the function (the worker set-up named by ClusterOptions.setup)."""
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


class WorkerActor:
    def __init__(self, worker_id: str, args, setup: str = "main:worker_setup", shared_folders: bool = False,
                 preview_size: int = 512):
        logging.basicConfig(level=logging.INFO, format=f"%(levelname)s [{worker_id}] %(name)s: %(message)s")
        self.worker_id = worker_id
        self.preview_size = preview_size
        self.shared_folders = shared_folders
        args = copy.copy(args)
        if not shared_folders:  # a private input/output/temp per worker; files travel with the job
            root = Path(tempfile.mkdtemp(prefix=f"latentflow-{worker_id}-"))
            args.input_directory, args.output_directory, args.temp_directory = (
                str(root / "input"), str(root / "output"), str(root / "temp"))
        self.registry = resolve_setup(setup)(args)  # folders, devices, built-in nodes, custom_nodes
        from core import paths
        from core.cli.flags import cache_policy
        self.folders = paths.get()
        for d in (self.folders.input_dir, self.folders.output_dir, self.folders.temp_dir):
            Path(d).mkdir(parents=True, exist_ok=True)
        self.cache = cache_policy(args)
        self.executor = None
        self.started = time.time()
        self.jobs_done = 0
        self._lock = threading.Lock()
        self._running = None  # prompt_id
        self._sink = None  # the running job's event queue
        self._free = {"unload_models": False, "free_memory": False}
        from core.compat import prompt_server
        prompt_server().subscribe(self._custom_event)

    # --- answered any time ---------------------------------------------------------------------
    def ready(self) -> dict:
        return {"worker_id": self.worker_id, "pid": os.getpid(), "host": socket.gethostname(),
                "node_ip": _node_ip(), "started": self.started}

    def interrupt(self, prompt_id: str | None = None) -> bool:
        with self._lock:
            running, executor = self._running, self.executor
        if running is None or executor is None or (prompt_id is not None and prompt_id != running):
            return False
        executor.interrupt()
        return True

    def free(self, unload_models: bool, free_memory: bool) -> None:
        with self._lock:
            self._free["unload_models"] |= bool(unload_models)
            self._free["free_memory"] |= bool(free_memory)
            idle = self._running is None
        if idle:
            self._apply_free()

    def stats(self) -> dict:
        with self._lock:
            running = self._running
        return {**self.ready(), "running": running, "jobs_done": self.jobs_done, "devices": _devices()}

    # --- one job -------------------------------------------------------------------------------
    def run_job(self, job: dict):
        from core.cluster import files

        self._apply_free()
        sink: queue.Queue = queue.Queue()
        with self._lock:
            self._running, self._sink = job["prompt_id"], sink
        with self._lock:
            if self.executor is None:
                from core.execution.executor import Executor
                self.executor = Executor(self.registry, cache=self.cache[0], lru_size=self.cache[1])
            executor = self.executor  # this job's: a /free arriving meanwhile drops only the attribute
        thread = threading.Thread(target=self._execute, args=(job, sink, executor), name="latentflow-job",
                                  daemon=True)
        try:
            if job.get("input_files"):
                files.write_inputs(job["input_files"], self.folders)
            thread.start()
            while True:
                item = sink.get()
                if item is _DONE:
                    break
                yield item
        finally:
            if thread.is_alive():  # not started when writing the input files failed
                thread.join()
            with self._lock:
                self._running, self._sink = None, None
            self.jobs_done += 1

    def _execute(self, job, sink, executor):
        from core.cluster import files
        from core.server.worker import encode_preview

        prompt_id = job["prompt_id"]

        def emit(event, data):
            if event == "executed" and not self.shared_folders:
                for item in files.read_outputs(data.get("output"), self.folders):
                    sink.put(("file", *item))
            sink.put(("event", event, data))

        def emit_preview(node_id, image):
            try:
                fmt, data = encode_preview(image, self.preview_size)
            except Exception:
                log.exception("could not encode a preview of node %s", node_id)
                return
            sink.put(("preview", fmt, data, node_id))

        try:
            result = executor.execute(job["prompt"], prompt_id, job["extra_data"], job["outputs"],
                                           emit=emit, emit_preview=emit_preview,
                                           preview_method=job.get("preview_method") or "none")  # server's flag
            status = "success" if result.success else ("interrupted" if result.interrupted else "error")
            sink.put(("result", {"status": status, "outputs": result.outputs or {},
                                 "messages": [list(m) for m in result.messages or []],
                                 "error": result.error if not result.success else None}))
        except Exception as e:  # an executor bug: the job fails with its traceback, the actor lives on
            log.exception("job %s failed outside any node", prompt_id)
            sink.put(("result", {"status": "error", "outputs": {}, "messages": None,
                                 "error": {"type": type(e).__qualname__, "message": str(e),
                                           "traceback": traceback.format_exception(e)}}))
        finally:
            sink.put(_DONE)

    def _custom_event(self, event, data, sid):
        sink = self._sink
        if sink is not None:
            sink.put(("custom", event, data, sid))

    def _apply_free(self):
        """/free as the in-process worker applies it (core/server/worker.py), between jobs."""
        with self._lock:
            flags, self._free = self._free, {"unload_models": False, "free_memory": False}
        devices = sys.modules.get("core.devices")  # not imported: no job ran, nothing is loaded
        if flags["unload_models"] and devices is not None:
            devices.manager.unload_all()
        if flags["free_memory"]:
            self.executor = None  # a fresh executor starts with empty caches: cached models are released
            gc.collect()
            if devices is not None:
                devices.empty_cache()


def _node_ip() -> str | None:
    try:
        import ray
        return ray.util.get_node_ip_address()
    except Exception:  # outside Ray (unit tests)
        return None


def _devices() -> list:
    """This worker's devices as /system_stats lists them (Ray shows the actor only its own GPU)."""
    import psutil
    import torch

    from core.server.routes_info import devices_info

    mem = psutil.virtual_memory()
    return devices_info(torch, mem.total, mem.available)
