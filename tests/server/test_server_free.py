"""POST /free through the server: ``unload_models`` takes the models off the compute device,
``free_memory`` releases them (and their memory) altogether; later jobs still run."""
from __future__ import annotations

import asyncio
import gc
import time
import weakref

import pytest

import tinyjobs
from serverkit import async_test, served, wait_history


@pytest.fixture()
def devices(folders):
    """Default device settings (the GPU when there is one), a tiny checkpoint in the models folder."""
    from core import devices

    devices.configure(None)
    tinyjobs.write_checkpoint(folders.models_dir)
    yield devices
    devices.configure(None)


async def run_job(client, prompt) -> dict:
    resp = await client.post("/prompt", json={"prompt": prompt})
    assert resp.status == 200, await resp.text()
    entry = await wait_history(client, (await resp.json())["prompt_id"], timeout=120)
    assert entry["status"]["status_str"] == "success", entry["status"]
    return entry


async def until(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return False


def parameter_devices(handles) -> set:
    return {str(p.device) for h in handles for m in h.modules() for p in m.parameters()}


def allocated() -> int:
    import torch

    return torch.cuda.memory_allocated() if torch.cuda.is_available() else 0


@async_test
async def test_unload_models_moves_every_loaded_model_to_the_offload_device(folders, devices):
    async with served(folders, registry=tinyjobs.builtin_registry()) as client:
        await run_job(client, tinyjobs.txt2img_prompt())
        loaded = devices.manager.loaded
        assert len(loaded) >= 3, loaded  # U-Net, text encoder, VAE were used on the compute device
        before = allocated()

        resp = await client.post("/free", json={"unload_models": True})
        assert resp.status == 200
        assert await until(lambda: not devices.manager.loaded), devices.manager.loaded
        assert parameter_devices(loaded) == {str(devices.offload_device())}
        if devices.get_torch_device().type == "cuda":  # the weights really left the GPU
            moved = sum(devices.module_bytes(m) for h in loaded for m in h.modules())
            assert before - allocated() >= moved, (before, allocated(), moved)


@async_test
async def test_unload_models_keeps_cached_outputs_so_the_same_prompt_needs_no_reload(folders, devices):
    prompt = tinyjobs.txt2img_prompt()
    async with served(folders, registry=tinyjobs.builtin_registry()) as client:
        await run_job(client, prompt)
        await client.post("/free", json={"unload_models": True})
        assert await until(lambda: not devices.manager.loaded)

        again = await run_job(client, prompt)
        cached = [data["nodes"] for event, data in again["status"]["messages"] if event == "execution_cached"]
        assert cached and "4" in cached[0], again["status"]["messages"]  # the checkpoint loader


@async_test
async def test_free_memory_releases_the_models_themselves(folders, devices):
    async with served(folders, registry=tinyjobs.builtin_registry()) as client:
        await run_job(client, tinyjobs.txt2img_prompt())
        refs = [weakref.ref(h) for h in devices.manager.loaded]
        assert len(refs) >= 3
        before = allocated()

        resp = await client.post("/free", json={"free_memory": True})
        assert resp.status == 200

        def released():
            gc.collect()
            return all(r() is None for r in refs)

        assert await until(released), [r() for r in refs]
        assert devices.manager.loaded == []
        if devices.get_torch_device().type == "cuda":
            assert allocated() < before

        await run_job(client, tinyjobs.txt2img_prompt(seed=2))  # the checkpoint loads again
