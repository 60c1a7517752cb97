"""Activating a model on the CPU (every encode/sample) must not pay for a garbage collection."""
import torch

from core import devices


class _Handle:
    name = "tiny"

    def __init__(self):
        self.module = torch.nn.Linear(2, 2)

    def modules(self):
        return [self.module]


def test_activate_without_offloading_runs_no_gc(monkeypatch):
    calls = []
    monkeypatch.setattr(devices.gc, "collect", lambda *a: calls.append(1) or 0)
    handle = _Handle()
    for _ in range(3):
        with devices.manager.activate(handle, torch.device("cpu")):
            pass
    assert calls == []


def test_unload_all_collects_after_offloading(monkeypatch):
    calls = []
    monkeypatch.setattr(devices.gc, "collect", lambda *a: calls.append(1) or 0)
    handle = _Handle()
    with devices.manager.activate(handle, torch.device("cpu")):
        pass
    devices.manager.unload_all()
    assert calls == [1]
