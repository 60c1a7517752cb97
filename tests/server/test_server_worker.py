"""The job worker thread (core/server/worker.py) on its own."""
from __future__ import annotations

import threading
import time


class NoJobs:
    def claim_next(self):
        return None


def test_stopping_the_server_while_devices_are_still_loading_does_not_wait_for_them():
    from core.server import runtime
    from core.server.worker import Worker

    release = threading.Event()
    runtime.configure_in_background(release.wait)  # stands in for importing torch, which can take seconds
    worker = Worker(NoJobs(), registry=None, hub=None, executor_factory=None)
    try:
        worker.start()
        time.sleep(0.2)
        started = time.monotonic()
        worker.stop(timeout=5)
        assert not worker.thread.is_alive() and time.monotonic() - started < 1.0
    finally:
        release.set()
        runtime.wait_ready(timeout=5)
