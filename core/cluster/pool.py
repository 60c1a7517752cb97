"""The server side of the cluster: starts or joins Ray, creates the worker actors, runs one lane each.

``ClusterWorker`` stands where the in-process ``core.server.worker.Worker`` stands (same methods:
start, wake, stop, interrupt, request_free, sensitive), so the routes do not know which one runs.
Ray is imported here, on the start-up thread, never at server import.
"""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from core.cluster.actor import WorkerActor
from core.cluster.lane import Lane

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]


class ClusterWorker:
    def __init__(self, store, hub, options, *, preview_size: int = 512, preview_method: str = "none",
                 folders=None):
        self.store = store
        self.hub = hub
        self.options = options
        self.preview_size = preview_size
        self.preview_method = preview_method
        self._folders = folders
        self.sensitive: dict = {}  # prompt_id -> keys kept out of the store, as the local worker keeps them
        self.notes: dict = {}  # prompt_id -> ["worker_lost", ...] messages of a retried job
        self.lanes: list[Lane] = []
        self.stopping = threading.Event()
        self.ready_event = threading.Event()  # set once any worker answered
        self.error: BaseException | None = None
        self.started_ray = False
        self.thread = threading.Thread(target=self._main, name="latentflow-cluster", daemon=True)

    def folders(self):
        if self._folders is not None:
            return self._folders
        from core import paths
        return paths.get()

    # --- the Worker interface ------------------------------------------------------------------
    def start(self):
        self.thread.start()

    def wake(self):
        for lane in self.lanes:
            lane.wake_event.set()

    def stop(self, timeout: float = 30.0):
        self.stopping.set()
        self.wake()
        self.interrupt(None)
        if self.thread.is_alive():
            self.thread.join(timeout)

    def interrupt(self, prompt_id: str | None = None) -> bool:
        """Interrupt the job on whichever worker runs it (all running jobs when no id is given)."""
        hit = False
        for lane in self.lanes:
            job = lane.current
            if job is not None and (prompt_id is None or job.prompt_id == prompt_id):
                lane.actor.interrupt.remote(job.prompt_id)
                hit = True
        return hit

    def request_free(self, unload_models: bool, free_memory: bool):
        for lane in self.lanes:
            lane.actor.free.remote(bool(unload_models), bool(free_memory))
            if free_memory:  # the cached loader outputs are gone (unload alone only moves models off the GPU)
                lane.held = frozenset()

    # --- what /system_stats and affinity read ----------------------------------------------------
    def held_by_live(self) -> dict:
        return {lane.worker_id: lane.held for lane in self.lanes if lane.alive}

    def workers_stats(self, timeout: float = 5.0) -> list:
        """One entry per worker: its id, process, running job, held models and devices."""
        import ray

        lanes = list(self.lanes)
        refs = [lane.actor.stats.remote() for lane in lanes]
        out = []
        for lane, ref in zip(lanes, refs):
            entry = {"worker_id": lane.worker_id, "alive": lane.alive, "models": sorted(lane.held),
                     "running": lane.current.prompt_id if lane.current else None}
            try:
                entry.update(ray.get(ref, timeout=timeout))
            except Exception as e:  # a dead or busy worker still gets its row
                entry.update({"alive": False, "devices": [], "error": f"{type(e).__name__}: {e}"})
            out.append(entry)
        return out

    # --- start-up and shutdown (the cluster thread) ----------------------------------------------
    def _main(self):
        try:
            self._boot()
        except BaseException as e:
            self.error = e
            log.exception("the Ray cluster could not be started or joined (--ray %s)", self.options.address)
            return
        self.stopping.wait()
        for lane in self.lanes:
            lane.thread.join(10.0)
        if self.started_ray:
            import ray
            ray.shutdown()

    def _boot(self):
        import ray

        opts = self.options
        env = {"PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)}
        init = {"namespace": opts.namespace, "runtime_env": {"env_vars": env}, "log_to_driver": True,
                "configure_logging": False, **opts.ray_init}
        local = opts.address == "local"
        if local:
            count = opts.workers or 1
            ray.init(num_cpus=max(count, os.cpu_count() or 1), include_dashboard=False, **init)
            self.started_ray = True
        elif not ray.is_initialized():
            ray.init(address=opts.address, **init)
        gpus = int(ray.cluster_resources().get("GPU", 0))
        count = opts.workers or max(gpus, 1)
        resources = {"num_gpus": 1} if gpus else {"num_cpus": 1}
        remote = ray.remote(WorkerActor)
        for i in range(count):
            worker_id = f"w{i}"
            # a joined cluster keeps its actors when the server restarts (detached, by name), so a new
            # server re-attaches to warm workers; a local cluster lives and dies with this process
            actor = remote.options(name=f"latentflow-worker-{i}", get_if_exists=True,
                                   lifetime=None if local else "detached", max_restarts=-1,
                                   max_task_retries=0, max_concurrency=4, **resources).remote(
                worker_id, opts.args, opts.setup, opts.shared_folders, self.preview_size)
            if not local:
                actor.interrupt.remote(None)  # a job a previous server left running is not ours any more
            self.lanes.append(Lane(self, worker_id, actor))
        log.info("Ray cluster %s: %d worker(s), %s each", "started" if local else f"joined at {opts.address}",
                 count, "1 GPU" if gpus else "1 CPU")
        for lane in self.lanes:
            lane.thread.start()
