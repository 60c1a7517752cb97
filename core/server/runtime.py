"""Device/precision set-up that may run in the background while the server starts listening.

Importing torch takes a second or two; ``main.py serve`` starts that work on a thread so the server
answers at once. The job worker calls :func:`wait_ready` before its first job; routes that describe
the devices wait a few seconds for it (:func:`ready_soon`) and then answer 503 with Retry-After,
rather than read a half-imported torch.
"""
from __future__ import annotations

import asyncio
import logging
import threading

log = logging.getLogger(__name__)

_ready = threading.Event()
_ready.set()  # nothing pending unless main.py starts a background set-up
_error: list = []
RETRY_AFTER_S = 1  # what routes that need the devices tell clients while the set-up runs
# How long such a route holds a request for the set-up before answering 503: long enough that a page
# opened during start-up (the official frontend asks /system_stats first) normally just waits.
READY_WAIT_S = 10.0


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


async def ready_soon(timeout: float | None = None) -> bool:
    """On the event loop: True once the set-up is done, False if it is still running after ``timeout``
    seconds (READY_WAIT_S by default). Polls, so waiting requests hold no thread."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + (READY_WAIT_S if timeout is None else timeout)
    while not _ready.is_set():
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def wait_ready(timeout: float | None = None, raise_error: bool = True) -> bool:
    """Block until the device set-up finished (True) or ``timeout`` passed (False); re-raise its error, if any."""
    ready = _ready.wait(timeout)
    if _error and raise_error:
        raise RuntimeError(f"device set-up failed: {_error[0]}") from _error[0]
    return ready
