"""Device/precision set-up that may run in the background while the server starts listening.

Importing torch takes a second or two; ``main.py serve`` starts that work on a thread so the server
answers at once. The job worker calls :func:`wait_ready` before its first job; routes that describe
the devices answer 503 with Retry-After while :func:`is_ready` is false, rather than read a
half-imported torch.
"""
from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)

_ready = threading.Event()
_ready.set()  # nothing pending unless main.py starts a background set-up
_error: list = []
RETRY_AFTER_S = 1  # what routes that need the devices tell clients while the set-up runs


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


def is_ready() -> bool:
    """True once no device set-up is pending (finished, failed, or never started)."""
    return _ready.is_set()


def wait_ready(timeout: float | None = None, raise_error: bool = True) -> None:
    """Block until the device set-up finished; re-raise its error, if any."""
    _ready.wait(timeout)
    if _error and raise_error:
        raise RuntimeError(f"device set-up failed: {_error[0]}") from _error[0]
