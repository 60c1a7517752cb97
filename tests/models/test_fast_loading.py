"""How checkpoints are loaded fast: meta build without initialisers, tensors set in place, no gc pause."""
from __future__ import annotations

import gc

import pytest
import torch
from torch.overrides import TorchFunctionMode

from core.models.building import fill_module, on_meta, skip_init
from core.models.checkpoint import load_checkpoint
from core.models.weights import WeightsError, load_file


class _Seen(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.names = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.names.append(getattr(func, "__name__", str(func)))
        return func(*args, **(kwargs or {}))


def test_meta_build_runs_no_initialiser():
    with _Seen() as seen:
        module = on_meta(lambda: torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4), torch.nn.Conv2d(2, 2, 3)))
    assert all(p.is_meta for p in module.parameters())
    initialisers = {"kaiming_uniform_", "uniform_", "normal_", "fill_", "zero_", "ones_", "zeros_"}
    assert not initialisers & set(seen.names)


def test_skip_init_leaves_real_tensors_alone():
    with skip_init():
        t = torch.empty(3).fill_(2.0)
    assert torch.equal(t, torch.full((3,), 2.0))


def test_loaded_networks_hold_no_meta_tensor_and_are_frozen_in_eval_mode(tiny_checkpoint, cpu_fp32):
    model, clip, vae = load_checkpoint(tiny_checkpoint("sd15"))
    for module in [model.unet, vae.vae, *clip.modules()]:
        assert not any(t.is_meta for t in [*module.parameters(), *module.buffers()])
        assert not any(p.requires_grad for p in module.parameters())
        assert not any(m.training for m in module.modules())


def test_checkpoint_text_encoder_equals_the_standalone_loader(tiny_checkpoint, cpu_fp32):
    from core.models.clip import load_encoder

    path = tiny_checkpoint("sd15")
    _, clip, _ = load_checkpoint(path, output_vae=False)
    prefix = "cond_stage_model.transformer."
    sd, _ = load_file(path)
    part = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
    reference = load_encoder(part, dtype=torch.float32, device="cpu", activation="quick_gelu")
    ours = clip.encoders[0].model
    assert ours.state_dict().keys() == reference.state_dict().keys()
    for key, value in reference.state_dict().items():
        assert torch.equal(ours.state_dict()[key], value), key
    ids = torch.tensor([[49406, 320, 1929, 49407] + [49407] * 73])
    with torch.no_grad():
        a, _ = ours(ours.token_embeddings(ids))
        b, _ = reference(reference.token_embeddings(ids))
    assert torch.equal(a, b)


def test_fill_module_reports_wrong_shapes_by_key():
    module = on_meta(lambda: torch.nn.Linear(3, 2))
    with pytest.raises(WeightsError, match=r"test net: .*weight: file \[2, 4\] vs model \[2, 3\]"):
        fill_module(module, {"weight": torch.zeros(2, 4), "bias": torch.zeros(2)}, "", torch.float32, "cpu", "test net")


def test_fill_module_converts_floating_point_only():
    module = on_meta(lambda: torch.nn.Linear(3, 2))
    module.register_buffer("steps", torch.empty(2, dtype=torch.int64, device="meta"))
    sd = {"weight": torch.ones(2, 3), "bias": torch.zeros(2), "steps": torch.tensor([1, 2])}
    fill_module(module, sd, "", torch.float16, "cpu", "test net")
    assert module.weight.dtype == torch.float16 and module.steps.dtype == torch.int64


@pytest.mark.parametrize("enabled", [True, False])
def test_garbage_collection_is_as_it_was_after_a_load(tiny_checkpoint, cpu_fp32, enabled):
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        load_checkpoint(tiny_checkpoint("sd15"), output_clip=False)
        assert gc.isenabled() is enabled
        with pytest.raises(WeightsError):
            load_checkpoint(tiny_checkpoint("sd15").with_name("absent.safetensors"))
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()
