"""Device/precision set-up that may run in the background while the server starts listening.

Importing torch takes a second or two; ``main.py serve`` starts that work on a thread so the server
answers at once, and the job worker calls :func:`wait_ready` before its first job.
"""
from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)

_ready = threading.Event()
_ready.set()  # nothing pending unless main.py starts a background set-up
_error: list = []


def configure_in_background(fn, *args) -> threading.Thread:
    _ready.clear()

    def work():
        try:
            fn(*args)
        except Exception as e:  # reported to the first job instead of killing the server
            log.exception("device set-up failed")
            _error.append(e)
        finally:
            _ready.set()

    thread = threading.Thread(target=work, name="latentflow-runtime-setup", daemon=True)
    thread.start()
    return thread


def wait_ready(timeout: float | None = None, raise_error: bool = True) -> bool:
    """Block until the device set-up finished (True) or ``timeout`` passed (False); re-raise its error, if any."""
    ready = _ready.wait(timeout)
    if _error and raise_error:
        raise RuntimeError(f"device set-up failed: {_error[0]}") from _error[0]
    return ready
