"""One lane per worker actor: a server thread that pulls the next job for its actor and relays what it sends.

The lane relays exactly as the in-process worker does (core/server/worker.py): the same events to
the same clients, terminal events held until the history entry is committed (``publish_result``).
When the actor dies mid-job, Ray raises on the stream; the job is then failed with a ``WorkerLost``
error or put back once in the queue (``--ray-on-worker-loss``), never re-run silently: Ray's own task
retry is off. Ray restarts the actor; the lane waits for it and pulls again.
"""
from __future__ import annotations

import logging
import threading
import time

from core.cluster import affinity, files
from core.server.worker import TERMINAL_EVENTS, publish_result

log = logging.getLogger(__name__)


class Lane:
    def __init__(self, pool, worker_id: str, actor):
        self.pool = pool
        self.worker_id = worker_id
        self.actor = actor
        self.info: dict = {}  # ready(): pid, host, node_ip
        self.alive = False
        self.held: frozenset = frozenset()
        self.current = None  # the running Job
        self.wake_event = threading.Event()
        self.thread = threading.Thread(target=self._loop, name=f"latentflow-lane-{worker_id}", daemon=True)

    # --- the loop ------------------------------------------------------------------------------
    def _loop(self):
        pool = self.pool
        while not pool.stopping.is_set():
            if not self.alive and not self._wait_ready():
                continue
            try:
                job = pool.store.claim_next(self._choose, worker=self.worker_id, window=pool.options.window)
            except Exception:
                log.exception("lane %s: could not read the queue", self.worker_id)
                job = None
            if job is None:
                self.wake_event.wait(timeout=1.0)
                self.wake_event.clear()
                continue
            self._run(job)

    def _choose(self, jobs):
        return affinity.choose(jobs, self.worker_id, self.pool.held_by_live())

    def _wait_ready(self) -> bool:
        import ray

        try:
            self.info = ray.get(self.actor.ready.remote(), timeout=5.0)
        except (ray.exceptions.GetTimeoutError, ray.exceptions.RayActorError) as e:
            log.debug("worker %s not ready yet (%s)", self.worker_id, type(e).__name__)
            self.pool.stopping.wait(0.5)
            return False
        self.alive = True
        self.pool.ready_event.set()
        log.info("worker %s ready: pid %s on %s", self.worker_id, self.info.get("pid"), self.info.get("host"))
        self.pool.wake()
        return True

    # --- one job -------------------------------------------------------------------------------
    def _run(self, job):
        import ray

        pool, hub = self.pool, self.pool.hub
        self.current = job
        client_id = job.extra_data.get("client_id")
        hub.current = {"prompt_id": job.prompt_id, "client_id": client_id, "node": None}
        hub.threadsafe("send_status")
        extra = dict(job.extra_data)
        extra.update(pool.sensitive.pop(job.prompt_id, {}))
        held, seen, renames = [], [], {}
        result = None
        started = time.time()
        try:
            payload = {"prompt_id": job.prompt_id, "prompt": job.prompt, "extra_data": extra,
                       "outputs": job.outputs_to_execute, "preview_method": pool.preview_method,
                       "input_files": {} if pool.options.shared_folders else files.input_files(job.prompt,
                                                                                              pool.folders())}
            for ref in self.actor.run_job.remote(payload):
                item = ray.get(ref)
                kind = item[0]
                if kind == "event":
                    self._relay(item[1], item[2], job, client_id, held, seen, renames)
                elif kind == "file":
                    self._receive(item, renames)
                elif kind == "preview":
                    meta = {"node_id": item[3], "prompt_id": job.prompt_id, "display_node_id": item[3],
                            "parent_node_id": None, "real_node_id": item[3]}
                    hub.threadsafe("send_preview", item[1], item[2], meta, client_id)
                elif kind == "custom":
                    _relay_custom(hub, *item[1:])
                elif kind == "result":
                    result = item[1]
        except ray.exceptions.RayActorError as e:
            self._lost(job, e, seen)
            return
        except Exception as e:  # a server-side failure (an input file too large, ...): the job fails
            log.exception("lane %s: job %s failed", self.worker_id, job.prompt_id)
            result = {"status": "error", "outputs": {}, "messages": None,
                      "error": {"type": type(e).__qualname__, "message": str(e)}}
        self.held = affinity.models_of(job.prompt)
        self._finish(job, result, held, seen, renames, started)

    def _relay(self, event, data, job, client_id, held, seen, renames):
        hub = self.pool.hub
        if event == "executed" and renames:
            data = {**data, "output": files.rename(data.get("output"), renames)}
        seen.append([event, data])
        if event in TERMINAL_EVENTS or (event == "executing" and data.get("node") is None):
            held.append((event, data))
            return
        if event == "executing" and hub.current.get("prompt_id") == job.prompt_id:
            hub.current = {**hub.current, "node": data.get("node")}
        hub.threadsafe("route", event, data, client_id)

    def _receive(self, item, renames):
        _, kind, subfolder, name, data = item
        try:
            got = files.receive(kind, subfolder, name, data, self.pool.folders(), self.worker_id)
        except Exception:
            log.exception("lane %s: could not store output %s/%s", self.worker_id, subfolder, name)
            return
        if got != name:
            renames[(kind, subfolder, name)] = got

    def _finish(self, job, result, held, seen, renames, started):
        pool = self.pool
        result = result or {"status": "error", "outputs": {}, "messages": None,
                            "error": {"type": "WorkerProtocol", "message": "the worker sent no result"}}
        messages = result["messages"] if result["messages"] is not None else seen
        if result["messages"] is None:  # failed outside the executor: say so as the local worker does
            data = _error_event(job.prompt_id, result["error"]["type"], result["error"]["message"],
                                result["error"].get("traceback", []))
            messages = [*seen, ["execution_error", data]]
            held = [*held, ("execution_error", data)]
        messages = [*pool.notes.pop(job.prompt_id, []), *files.rename(messages, renames)]
        self.current = None
        publish_result(pool.store, pool.hub, job, result["status"], files.rename(result["outputs"], renames),
                       messages, result["error"], held)
        log.info("job %s finished on %s: %s in %.2fs", job.prompt_id, self.worker_id, result["status"],
                 time.time() - started)

    def _lost(self, job, exc, seen):
        """The actor died under this job: retry it once elsewhere, or fail it, as the flag says."""
        pool = self.pool
        self.alive, self.held, self.current = False, frozenset(), None
        where = f"worker {self.worker_id} (pid {self.info.get('pid')} on {self.info.get('host')})"
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        log.warning("%s died while running job %s: %s", where, job.prompt_id, first_line)
        note = ["worker_lost", {"prompt_id": job.prompt_id, "worker_id": self.worker_id,
                                "reason": first_line, "timestamp": int(time.time() * 1000)}]
        if pool.options.on_worker_loss == "retry" and job.attempts == 0 and pool.store.requeue(job.prompt_id):
            log.warning("job %s put back in the queue; it runs once more on another worker", job.prompt_id)
            pool.notes.setdefault(job.prompt_id, []).append(note)
            if pool.hub.current.get("prompt_id") == job.prompt_id:
                pool.hub.current = {}
            pool.hub.threadsafe("send_status")
            pool.wake()
            return
        why = ("it had already been retried once" if job.attempts else
               "it was not run again (--ray-on-worker-loss fail)")
        message = f"{where} died while running this job ({first_line}); {why}"
        data = _error_event(job.prompt_id, "WorkerLost", message, [])
        messages = [*pool.notes.pop(job.prompt_id, []), note, *seen, ["execution_error", data]]
        publish_result(pool.store, pool.hub, job, "error", {}, messages,
                       {"type": "WorkerLost", "message": message}, [("execution_error", data)])


def _error_event(prompt_id, exc_type, message, tb) -> dict:
    return {"prompt_id": prompt_id, "node_id": None, "node_type": None, "executed": [],
            "exception_message": message, "exception_type": exc_type, "traceback": list(tb),
            "current_inputs": {}, "current_outputs": [], "timestamp": int(time.time() * 1000)}


def _relay_custom(hub, event, data, sid):
    """A custom node's PromptServer message, sent on as the pack server sends it in-process."""
    if isinstance(event, int):
        hub.threadsafe("send_binary", event, bytes(data), sid)
    else:
        hub.threadsafe("send", event, data, sid)
