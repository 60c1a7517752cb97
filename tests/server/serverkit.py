"""Helpers and fixtures for the server tests: a registry of the serverpack nodes and an in-process server.

pytest-aiohttp is not installed, so async tests are plain coroutines run by :func:`async_test`
against aiohttp's own TestServer/TestClient.
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


def make_registry():
    import serverpack
    return serverpack.build_registry()


def async_test(fn):
    """Run an ``async def test_...`` in a fresh event loop (no pytest plugin needed)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(asyncio.wait_for(fn(*args, **kwargs), 60))
    return wrapper


@pytest.fixture()
def folders(tmp_path):
    """Process-wide model/input/output folders under tmp_path (nodes write through core.paths.get())."""
    from core import paths

    old = paths.get()
    f = paths.configure(base=tmp_path)
    for d in (f.input_dir, f.output_dir, f.temp_dir):
        d.mkdir(parents=True, exist_ok=True)
    yield f
    paths.folders = old


@contextlib.asynccontextmanager
async def served(folders, *, registry=None, store=None, start_worker=True, **config):
    """An in-process server on a free port and a client for it."""
    from aiohttp.test_utils import TestClient, TestServer

    from core.server import ServerConfig, create_app

    config.setdefault("db_path", folders.base / "queue.db")
    config.setdefault("web_root", folders.base / "web")
    cfg = ServerConfig(folders=folders, **config)
    app = create_app(registry or make_registry(), cfg, store=store, start_worker=start_worker)
    async with TestClient(TestServer(app)) as client:
        yield client


def sum_prompt(a=2, b=3) -> dict:
    return {"1": {"class_type": "SrvNumber", "inputs": {"value": a}},
            "2": {"class_type": "SrvNumber", "inputs": {"value": b}},
            "3": {"class_type": "SrvSum", "inputs": {"a": ["1", 0], "b": ["2", 0]}},
            "4": {"class_type": "SrvShow", "inputs": {"value": ["3", 0]}}}


def slow_prompt(value=5, steps=3, delay=0.01, preview=True) -> dict:
    return {"1": {"class_type": "SrvSlow", "inputs": {"value": value, "steps": steps, "delay": delay,
                                                      "preview": preview}},
            "2": {"class_type": "SrvShow", "inputs": {"value": ["1", 0]}}}


async def wait_history(client, prompt_id, timeout=15.0) -> dict:
    """The history entry of a job once it has finished."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        resp = await client.get(f"/history/{prompt_id}")
        data = await resp.json()
        if prompt_id in data:
            return data[prompt_id]
        await asyncio.sleep(0.02)
    raise AssertionError(f"job {prompt_id} did not finish within {timeout}s")
